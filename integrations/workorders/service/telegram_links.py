"""Linking Telegram chats to handlers and staff users (绑定), and who a linked chat is.

    code = issue_link_code(uow, now, handler_id=3, created_by="staff:alice")   # shown once
    link = redeem_link_code(uow, code.code, chat_id="12345", now=now)         # the bot
    account = linked_account(uow, "12345")                                    # each call

A code is 8 random digits, valid for ``LINK_CODE_TTL`` and once; only its
sha256 is stored, and a new code for the same person makes their older unused
ones expire. Redeeming sets the person's ``telegram_chat_id`` and takes that
chat away from anybody else who had it (one chat, one person). Failed
redemptions are counted per chat in the database: after ``MAX_FAILED_ATTEMPTS``
within ``ATTEMPT_WINDOW`` the chat must wait (``TooManyAttempts``), whatever it
sends, so codes cannot be guessed.

Who may issue a code for whom is the caller's decision (the HTTP layer), except
``scope``: a dispatcher's areas, within which the target handler must work.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from ..adapters import store
from ..adapters.orm import Handler, StaffUser, TelegramLinkAttempt, TelegramLinkCode
from .common import require_aware
from .errors import Forbidden, InvalidInput, NotFound, TooManyAttempts
from .uow import UnitOfWork

log = logging.getLogger(__name__)

LINK_CODE_TTL = timedelta(hours=24)
CODE_DIGITS = 8
MAX_FAILED_ATTEMPTS = 5
ATTEMPT_WINDOW = timedelta(minutes=15)
#: Used and expired codes are kept this long (who issued what), then deleted.
CODE_RETENTION = timedelta(days=30)
MAX_CHAT_ID = 64

INVALID_CODE_ZH = "绑定码无效或已过期，请向管理员重新获取。"
TOO_MANY_ZH = "尝试次数过多，请15分钟后再试。"
NOT_LINKED_ZH = "您的 Telegram 账号尚未绑定处理人员，请先发送绑定码。"

HANDLER_KIND, STAFF_KIND = "handler", "staff"


@dataclass(frozen=True)
class LinkCodeView:
    """A code just issued (the only time it is seen) and whom it links."""

    code: str
    expires_at: datetime
    kind: str
    handler_id: int | None
    username: str | None


@dataclass(frozen=True)
class LinkView:
    """Whom a chat was linked to; ``role`` is the handler's (mediator, grid_worker, staff)
    or the staff account's; no names."""

    kind: str
    role: str
    handler_id: int | None
    username: str | None


@dataclass(frozen=True)
class LinkedAccount:
    """Who a linked chat acts as: a handler (``kind`` handler, ``role`` "handler") or a
    staff account (its role and areas)."""

    kind: str
    role: str
    username: str
    handler_id: int | None
    areas: tuple[str, ...] = ()


def new_link_code() -> str:
    """Eight random digits (leading zeros kept)."""
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def clean_chat_id(chat_id: str | int) -> str:
    text_id = str(chat_id).strip()
    if not text_id or len(text_id) > MAX_CHAT_ID:
        raise InvalidInput("chat_id", f"1 to {MAX_CHAT_ID} characters",
                           "Telegram 会话标识不正确。")
    return text_id


# ------------------------------------------------------------------------ issuing


@dataclass(frozen=True)
class _Target:
    handler: Handler | None
    staff: StaffUser | None


def issue_link_code(
    uow: UnitOfWork,
    now: datetime,
    *,
    handler_id: int | None = None,
    username: str | None = None,
    created_by: str,
    scope: Sequence[str] | None = None,
    code: str | None = None,
) -> LinkCodeView:
    """A new code for a handler (``handler_id``) or a staff account (``username``).

    A username of a handler account (role handler) means its handler.
    ``scope``: the issuer's areas (a dispatcher); the target must then be a
    handler all of whose areas lie within them (``Forbidden`` otherwise).
    ``NotFound`` for an unknown handler or an unknown or deactivated account.
    The person's older unused codes expire now; ``code`` is for tests.
    """
    require_aware(now)
    if (handler_id is None) == (username is None):
        raise InvalidInput("handler_id", "give either handler_id or username",
                           "请指定处理人员或工作人员账号（二选一）。")
    code = code or new_link_code()
    if len(code) != CODE_DIGITS or not code.isdigit():
        raise ValueError("a link code is 8 digits")
    with uow:
        session = uow.session
        target = _target(session, handler_id, username)
        if scope is not None:
            _require_in_scope(session, target, scope)
        _expire_older(session, target, now)
        _prune(session, now)
        digest = code_hash(code)
        if session.scalar(select(TelegramLinkCode.id).where(TelegramLinkCode.code_hash == digest)):
            # a kept code has these digits (rare): draw others
            code = _fresh_code(session)
            digest = code_hash(code)
        row = TelegramLinkCode(
            code_hash=digest,
            handler_id=target.handler.id if target.handler is not None else None,
            staff_user_id=target.staff.id if target.staff is not None else None,
            created_at=now, expires_at=now + LINK_CODE_TTL, created_by=created_by[:80],
        )
        session.add(row)
        view = LinkCodeView(
            code=code, expires_at=row.expires_at,
            kind=HANDLER_KIND if target.handler is not None else STAFF_KIND,
            handler_id=target.handler.id if target.handler is not None else None,
            username=target.staff.username if target.staff is not None else None,
        )
        uow.commit()
    return view


def _target(session: Session, handler_id: int | None, username: str | None) -> _Target:
    if handler_id is not None:
        handler = session.get(Handler, handler_id)
        if handler is None:
            raise NotFound("handler", handler_id)
        return _Target(handler=handler, staff=None)
    user = session.scalar(select(StaffUser).where(StaffUser.username == (username or "").strip()))
    if user is None or not user.active:
        raise NotFound("staff user", username)
    if user.role == "handler" and user.handler_id is not None:
        return _Target(handler=session.get_one(Handler, user.handler_id), staff=None)
    return _Target(handler=None, staff=user)


def _require_in_scope(session: Session, target: _Target, scope: Sequence[str]) -> None:
    within = store.areas_within(session, scope)
    areas = set(target.handler.areas or []) if target.handler is not None else set()
    if target.handler is None or not areas or not areas <= within:
        raise Forbidden("the person is outside the issuer's areas",
                        "您只能为本辖区的处理人员生成绑定码。")


def _owner(target: _Target):
    if target.handler is not None:
        return TelegramLinkCode.handler_id == target.handler.id
    assert target.staff is not None
    return TelegramLinkCode.staff_user_id == target.staff.id


def _expire_older(session: Session, target: _Target, now: datetime) -> None:
    older = session.scalars(
        select(TelegramLinkCode).where(
            _owner(target), TelegramLinkCode.used_at.is_(None), TelegramLinkCode.expires_at > now
        )
    )
    for row in older:
        row.expires_at = now


def _prune(session: Session, now: datetime) -> None:
    session.execute(
        delete(TelegramLinkCode).where(TelegramLinkCode.expires_at < now - CODE_RETENTION)
    )


def _fresh_code(session: Session) -> str:
    for _ in range(20):
        code = new_link_code()
        taken = session.scalar(
            select(TelegramLinkCode.id).where(TelegramLinkCode.code_hash == code_hash(code))
        )
        if not taken:
            return code
    raise RuntimeError("no free link code found")  # pragma: no cover - 10^8 codes


# ---------------------------------------------------------------------- redeeming


def redeem_link_code(uow: UnitOfWork, code: str, chat_id: str | int, now: datetime) -> LinkView:
    """Link ``chat_id`` to the code's person; the code is used up.

    ``NotFound`` (Chinese: ``INVALID_CODE_ZH``) for an unknown, used or expired
    code, and the failure is counted; ``TooManyAttempts`` when the chat
    failed ``MAX_FAILED_ATTEMPTS`` times within ``ATTEMPT_WINDOW`` (the code
    is then not even looked at).
    """
    require_aware(now)
    chat = clean_chat_id(chat_id)
    entered = "".join((code or "").split())
    with uow:
        session = uow.session
        _serialize_chat(session, chat)
        since = now - ATTEMPT_WINDOW
        # a failure counts for ATTEMPT_WINDOW: once that long ago, it is forgotten
        session.execute(delete(TelegramLinkAttempt).where(TelegramLinkAttempt.at <= since))
        failures = session.scalar(
            select(func.count()).select_from(TelegramLinkAttempt).where(
                TelegramLinkAttempt.chat_id == chat, TelegramLinkAttempt.at > since
            )
        )
        if int(failures or 0) >= MAX_FAILED_ATTEMPTS:
            uow.commit()  # the pruning
            raise TooManyAttempts(f"more than {MAX_FAILED_ATTEMPTS} failed link attempts",
                                  TOO_MANY_ZH, retry_after_s=int(ATTEMPT_WINDOW.total_seconds()))
        row = _live_code(session, entered, now) if entered.isdigit() else None
        target = _code_target(session, row) if row is not None else None
        if row is None or target is None:
            session.add(TelegramLinkAttempt(chat_id=chat, at=now))
            uow.commit()  # the failure counts even though the call fails
            raise NotFound("telegram link", "code", INVALID_CODE_ZH,
                           reason="the link code is unknown, used or expired")
        _unlink(session, chat, keep=target)
        if target.handler is not None:
            target.handler.telegram_chat_id = chat
            view = LinkView(kind=HANDLER_KIND, role=target.handler.role,
                            handler_id=target.handler.id, username=None)
        else:
            assert target.staff is not None
            target.staff.telegram_chat_id = chat
            view = LinkView(kind=STAFF_KIND, role=target.staff.role,
                            handler_id=target.staff.handler_id, username=target.staff.username)
        row.used_at = now
        uow.commit()
    log.info("telegram chat linked: %s %s (code issued by %s)", view.kind,
             view.handler_id if view.kind == HANDLER_KIND else view.username, row.created_by)
    return view


def _serialize_chat(session: Session, chat: str) -> None:
    """PostgreSQL: one redemption per chat at a time, so parallel guesses are all counted
    (SQLite's write transactions are serialized already)."""
    if store.has_row_locks(session):
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                        {"key": f"telegram-link:{chat}"})


def _live_code(session: Session, code: str, now: datetime) -> TelegramLinkCode | None:
    stmt = select(TelegramLinkCode).where(
        TelegramLinkCode.code_hash == code_hash(code),
        TelegramLinkCode.used_at.is_(None),
        TelegramLinkCode.expires_at > now,
    )
    if store.has_row_locks(session):
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def _code_target(session: Session, row: TelegramLinkCode) -> _Target | None:
    """The code's person, or None if the account was deactivated meanwhile."""
    if row.handler_id is not None:
        return _Target(handler=session.get_one(Handler, row.handler_id), staff=None)
    user = session.get_one(StaffUser, row.staff_user_id)
    return _Target(handler=None, staff=user) if user.active else None


def _unlink(session: Session, chat: str, keep: _Target | None = None) -> int:
    """Take ``chat`` away from every handler and staff user but ``keep``; how many had it."""
    count = 0
    for handler in session.scalars(select(Handler).where(Handler.telegram_chat_id == chat)):
        if keep is None or handler is not keep.handler:
            handler.telegram_chat_id = None
            count += 1
    for user in session.scalars(select(StaffUser).where(StaffUser.telegram_chat_id == chat)):
        if keep is None or user is not keep.staff:
            user.telegram_chat_id = None
            count += 1
    return count


def unlink_chat(uow: UnitOfWork, chat_id: str | int) -> int:
    """Nobody is linked to ``chat_id`` any more; how many were (0 is fine: idempotent)."""
    chat = clean_chat_id(chat_id)
    with uow:
        count = _unlink(uow.session, chat)
        uow.commit()
    if count:
        log.info("telegram chat unlinked (%d account(s))", count)
    return count


# ------------------------------------------------------------------ who is calling


def linked_account(uow: UnitOfWork, chat_id: str | int) -> LinkedAccount | None:
    """Who ``chat_id`` is linked to: its handler first, else an active staff account; None.

    A handler is named by their handler account's username if they have one
    (an active one first), else ``handler<id>``.
    """
    try:
        chat = clean_chat_id(chat_id)
    except InvalidInput:
        return None
    with uow.read_only():
        session = uow.session
        handler = session.scalar(
            select(Handler).where(Handler.telegram_chat_id == chat).order_by(Handler.id).limit(1)
        )
        if handler is not None:
            username = session.scalar(
                select(StaffUser.username)
                .where(StaffUser.role == "handler", StaffUser.handler_id == handler.id)
                .order_by(StaffUser.active.desc(), StaffUser.id)
                .limit(1)
            )
            return LinkedAccount(kind=HANDLER_KIND, role="handler",
                                 username=username or f"handler{handler.id}",
                                 handler_id=handler.id)
        user = session.scalar(
            select(StaffUser)
            .where(StaffUser.telegram_chat_id == chat, StaffUser.active.is_(True))
            .order_by(StaffUser.id)
            .limit(1)
        )
        if user is None:
            return None
        return LinkedAccount(kind=STAFF_KIND, role=user.role, username=user.username,
                             handler_id=user.handler_id, areas=tuple(user.areas or ()))
