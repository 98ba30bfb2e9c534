"""Callback requests (转人工): a resident asks for a person, or the bot could not help.

The action server files one (``request_callback``); the dispatchers who cover
the place are told in the same transaction (an outbox message without any
personal data); a dispatcher reads the queue (``list_callbacks``, transcript
and phone number decrypted), calls back and marks it done
(``mark_callback_done``).

The transcript and the phone number are encrypted at rest (``privacy.Vault``,
contexts ``callback_requests.transcript_enc`` / ``callback_requests.contact_enc``);
the phone is found by its keyed hash, like an order's contact.

An ``order_number`` is linked only if that order was reported through the
same ``reporter_ref``; any other number (mistyped, misheard, someone else's)
is ignored rather than refused: a resident who asked for a person must not be
turned away over a number, and the answer says nothing about other people's
orders. The response's ``order_number`` shows whether it was linked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from integrations.shared.privacy import Vault, normalize_phone

from ..adapters import store
from ..adapters.orm import CallbackRequest
from ..domain.numbers import normalize
from . import outbox
from .callers import with_caller_contact
from .common import MAX_NOTE, clean_text, require_aware
from .errors import Conflict, InvalidInput, NotFound
from .queries import MAX_PAGE
from .uow import UnitOfWork
from .views import (
    CALLBACK_REASONS,
    REPORTER_CHANNELS,
    TRANSCRIPT_SPEAKERS,
    CallbackCreate,
    CallbackView,
    Page,
    TranscriptLine,
)

TRANSCRIPT_CONTEXT = "callback_requests.transcript_enc"
CONTACT_CONTEXT = "callback_requests.contact_enc"

#: The newest lines of a transcript that are kept, and the length each is cut to.
MAX_TRANSCRIPT_LINES = 50
MAX_LINE = 500

OPEN, DONE = "open", "done"
CALLBACK_STATUSES = (OPEN, DONE)


@dataclass(frozen=True)
class _Clean:
    reporter_ref: str
    channel: str
    reason: str
    transcript: list[TranscriptLine]
    phone: str | None
    order_number: str | None
    client_ref: str | None


def request_callback(
    uow: UnitOfWork, data: CallbackCreate, now: datetime
) -> tuple[CallbackView, bool]:
    """File a callback request and tell the dispatchers; ``(request, made by this call)``.

    With a ``client_ref`` seen before, returns that request (False) and writes
    nothing; ``Conflict`` if another resident used it. ``InvalidInput`` for a
    bad ``reporter_ref``, reason, speaker or phone number.
    """
    require_aware(now)
    clean = _validate(with_caller_contact(uow.config.vault, data, "contact"))
    with uow:
        session, cfg = uow.session, uow.config
        if clean.client_ref is not None:
            existing = _by_client_ref(session, clean.client_ref)
            if existing is not None:
                return _replay(cfg.vault, existing, clean), False
        order = None
        if clean.order_number is not None:
            order = store.order_by_number(session, clean.order_number)
            if order is not None and order.reporter_ref != clean.reporter_ref:
                order = None
        request = CallbackRequest(
            created_at=now,
            reporter_ref=clean.reporter_ref,
            reporter_channel=clean.channel,
            reason=clean.reason,
            transcript_enc=_encrypt_transcript(cfg.vault, clean.transcript),
            contact_enc=None if clean.phone is None else cfg.vault.encrypt(
                clean.phone, context=CONTACT_CONTEXT),
            contact_hash=None if clean.phone is None else cfg.vault.lookup_hash(clean.phone),
            order_number=None if order is None else order.number,
            area_code=None if order is None else order.area_code,
            status=OPEN,
            client_ref=clean.client_ref,
        )
        try:
            with session.begin_nested():
                session.add(request)
                session.flush()
        except IntegrityError:
            # a concurrent call with the same key committed first (PostgreSQL waits for it)
            existing = (None if clean.client_ref is None
                        else _by_client_ref(session, clean.client_ref))
            if existing is None:
                raise
            return _replay(cfg.vault, existing, clean), False
        outbox.callback_to_dispatchers(session, request, now=now)
        view = _view(cfg.vault, request)
        uow.commit()
    return view, True


def list_callbacks(
    uow: UnitOfWork,
    *,
    status: str | None = None,
    scope: Sequence[str] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[CallbackView]:
    """Callback requests, open ones oldest first (a queue), otherwise newest first.

    ``scope``: area codes (any tier) the caller covers: requests placed in an
    area under them, and every request without an area; None: all.
    """
    if status is not None and status not in CALLBACK_STATUSES:
        raise InvalidInput("status", f"must be one of {', '.join(CALLBACK_STATUSES)}",
                           "状态不正确。")
    limit = max(1, min(limit, MAX_PAGE))
    offset = max(0, offset)
    with uow.read_only():
        session = uow.session
        conditions = []
        if status is not None:
            conditions.append(CallbackRequest.status == status)
        if scope is not None:
            within = sorted(store.areas_within(session, scope))
            conditions.append(CallbackRequest.area_code.is_(None)
                              | CallbackRequest.area_code.in_(within))
        total = session.scalar(
            select(func.count()).select_from(CallbackRequest).where(*conditions)
        )
        order = ((CallbackRequest.created_at, CallbackRequest.id) if status == OPEN
                 else (CallbackRequest.created_at.desc(), CallbackRequest.id.desc()))
        rows = session.scalars(
            select(CallbackRequest).where(*conditions).order_by(*order)
            .limit(limit).offset(offset)
        )
        items = [_view(uow.config.vault, r) for r in rows]
    return Page(items=items, total=int(total or 0), limit=limit, offset=offset)


def get_callback(
    uow: UnitOfWork, request_id: int, *, scope: Sequence[str] | None = None
) -> CallbackView:
    """One request; ``NotFound`` if there is none or it lies outside ``scope``."""
    with uow.read_only():
        request = uow.session.get(CallbackRequest, request_id)
        if request is None or not _in_scope(uow.session, request, scope):
            raise NotFound("callback request", request_id)
        return _view(uow.config.vault, request)


def mark_callback_done(
    uow: UnitOfWork,
    request_id: int,
    actor: str,
    note: str | None,
    now: datetime,
    *,
    scope: Sequence[str] | None = None,
) -> CallbackView:
    """Someone called the resident back: the request is done (``actor`` as the audit names staff).

    ``NotFound`` for no such request or one outside ``scope`` (see
    ``list_callbacks``); ``Conflict`` if it is done already.
    """
    require_aware(now)
    who = clean_text(actor, "actor", limit=80, required=True)
    text = clean_text(note, "note", limit=MAX_NOTE, required=False)
    with uow:
        session = uow.session
        request = _lock(session, request_id)
        if request is None or not _in_scope(session, request, scope):
            raise NotFound("callback request", request_id)
        if request.status == DONE:
            raise Conflict(f"callback request {request_id} is done already",
                           "该回拨请求已处理完毕。")
        request.status = DONE
        request.done_at = now
        request.done_by = who
        request.note = text
        view = _view(uow.config.vault, request)
        uow.commit()
    return view


def open_callbacks(uow: UnitOfWork) -> int:
    """How many callback requests wait for a call."""
    with uow.read_only():
        return int(uow.session.scalar(
            select(func.count()).select_from(CallbackRequest)
            .where(CallbackRequest.status == OPEN)
        ) or 0)


# --------------------------------------------------------------------- helpers


def _validate(data: CallbackCreate) -> _Clean:
    ref = (data.reporter_ref or "").strip()
    channel, _, ident = ref.partition(":")
    if channel not in REPORTER_CHANNELS or not ident or len(ref) > 128:
        raise InvalidInput(
            "reporter_ref", f"must look like '<channel>:<id>' with a channel of "
            f"{', '.join(REPORTER_CHANNELS)} (at most 128 chars)", "反映人渠道标识有误。",
        )
    if data.reason not in CALLBACK_REASONS:
        raise InvalidInput("reason", f"must be one of {', '.join(CALLBACK_REASONS)}",
                           "转人工原因不正确。")
    lines: list[TranscriptLine] = []
    for line in data.transcript:
        if line.speaker not in TRANSCRIPT_SPEAKERS:
            raise InvalidInput("transcript", f"speaker must be one of "
                               f"{', '.join(TRANSCRIPT_SPEAKERS)}", "对话记录的说话人不正确。")
        text = (line.text or "").strip()
        if text:
            lines.append(TranscriptLine(line.speaker, text[:MAX_LINE]))
    phone = None
    if data.contact is not None and data.contact.strip():
        phone = normalize_phone(data.contact)
        if phone is None:
            raise InvalidInput("contact", "not a mainland phone number",
                               "联系电话格式不正确。")
    client_ref = (data.client_ref or "").strip() or None
    if client_ref is not None and len(client_ref) > 128:
        raise InvalidInput("client_ref", "longer than 128 characters", "请求标识过长。")
    number = normalize(data.order_number) if data.order_number else None
    return _Clean(
        reporter_ref=ref, channel=channel, reason=data.reason,
        transcript=lines[-MAX_TRANSCRIPT_LINES:], phone=phone, order_number=number,
        client_ref=client_ref,
    )


def _by_client_ref(session: Session, client_ref: str) -> CallbackRequest | None:
    return session.scalar(select(CallbackRequest).where(CallbackRequest.client_ref == client_ref))


def _replay(vault: Vault, existing: CallbackRequest, clean: _Clean) -> CallbackView:
    if existing.reporter_ref != clean.reporter_ref:
        raise Conflict("client_ref already used by another reporter",
                       "请求标识已被使用，请重新提交。")
    return _view(vault, existing)


def _lock(session: Session, request_id: int) -> CallbackRequest | None:
    stmt = (
        select(CallbackRequest)
        .where(CallbackRequest.id == request_id)
        .execution_options(populate_existing=True)
    )
    if store.has_row_locks(session):
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def _in_scope(session: Session, request: CallbackRequest, scope: Sequence[str] | None) -> bool:
    if scope is None or request.area_code is None:
        return True
    return request.area_code in store.areas_within(session, scope)


def _encrypt_transcript(vault: Vault, lines: list[TranscriptLine]) -> str:
    plain = json.dumps([{"speaker": line.speaker, "text": line.text} for line in lines],
                       ensure_ascii=False, separators=(",", ":"))
    token = vault.encrypt(plain, context=TRANSCRIPT_CONTEXT)
    assert token is not None
    return token


def _view(vault: Vault, request: CallbackRequest) -> CallbackView:
    plain = vault.decrypt(request.transcript_enc, context=TRANSCRIPT_CONTEXT) or "[]"
    transcript = [TranscriptLine(item["speaker"], item["text"]) for item in json.loads(plain)]
    return CallbackView(
        id=request.id,
        created_at=request.created_at,
        status=request.status,
        reason=request.reason,
        reporter_ref=request.reporter_ref,
        reporter_channel=request.reporter_channel,
        contact=vault.decrypt(request.contact_enc, context=CONTACT_CONTEXT),
        transcript=transcript,
        order_number=request.order_number,
        area_code=request.area_code,
        done_at=request.done_at,
        done_by=request.done_by,
        note=request.note,
    )
