"""What dispatchers do with a callback request (转人工) besides calling back: read its
transcript (logged), or turn it into a work order for the resident.

Callers check the role; ``scope`` (a dispatcher's areas) limits the requests
reached as in ``callbacks.list_callbacks`` (``NotFound`` outside it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..adapters import store
from ..adapters.orm import CallbackRequest
from .access_log import CALLBACK_TRANSCRIPT_REVEALED, log_access
from .audit_trail import record
from .callbacks import CONTACT_CONTEXT, DONE, _in_scope, _lock, _view
from .common import MAX_NOTE, clean_text, lock_order, order_view, require_aware
from .desk_actions import STAFF_NOTE
from .errors import Conflict, Forbidden, NotFound
from .orders import open_order
from .uow import UnitOfWork
from .views import CallbackView, OrderCreate, OrderView, TranscriptLine


@dataclass(frozen=True)
class CallbackOrder:
    """What ``callback_to_order`` did: the order, the request (done), and whether this call
    opened the order (False: a retry found the order an earlier call opened)."""

    order: OrderView
    callback: CallbackView
    created: bool


def _who(actor: str) -> str:
    who = clean_text(actor, "actor", limit=80, required=True)
    assert who is not None
    return who


def reveal_callback_transcript(
    uow: UnitOfWork,
    request_id: int,
    actor: str,
    now: datetime,
    *,
    scope: Sequence[str] | None = None,
) -> list[TranscriptLine]:
    """The request's transcript in clear; who read it and when goes into the staff access
    log (``callback_transcript_revealed``, subject ``callback:<id>``).

    ``NotFound`` for no such request or one outside ``scope``.
    """
    require_aware(now)
    who = _who(actor)
    with uow:
        session = uow.session
        request = session.get(CallbackRequest, request_id)
        if request is None or not _in_scope(session, request, scope):
            raise NotFound("callback request", request_id)
        view = _view(uow.config.vault, request)
        log_access(session, actor=who, action=CALLBACK_TRANSCRIPT_REVEALED,
                   subject=f"callback:{request_id}", at=now)
        uow.commit()
    return view.transcript


def callback_to_order(
    uow: UnitOfWork,
    request_id: int,
    category: str,
    description: str,
    location_text: str,
    actor: str,
    now: datetime,
    *,
    area_code: str,
    priority: str = "normal",
    note: str | None = None,
    scope: Sequence[str] | None = None,
) -> CallbackOrder:
    """Open a work order for the callback's resident and mark the request done with it.

    The order is opened by ``orders.open_order`` (validation, dispatch and
    notifications as for any report) with the request's ``reporter_ref``,
    channel and phone number (stored encrypted again, as an order's contact),
    and ``client_ref`` ``callback:<id>``, so a retry finds the same order.
    Then, in a second transaction, the request becomes done (``done_by``
    ``actor``, its ``order_number`` the new order, ``note`` or "已转为工单 …")
    and the order gets an internal ``staff_note`` event by ``actor`` naming the
    request. ``NotFound`` for no such request or one outside ``scope``;
    ``Forbidden`` for an ``area_code`` outside ``scope``; ``Conflict`` if the
    request is done already (otherwise than by this order); the errors of
    ``open_order`` (unknown category, bad text or area ...).
    """
    require_aware(now)
    who = _who(actor)
    text = clean_text(note, "note", limit=MAX_NOTE, required=False)
    with uow.read_only():
        session, cfg = uow.session, uow.config
        request = session.get(CallbackRequest, request_id)
        if request is None or not _in_scope(session, request, scope):
            raise NotFound("callback request", request_id)
        if request.status == DONE:
            raise Conflict(f"callback request {request_id} is done already",
                           "该回拨请求已处理完毕。")
        if scope is not None and area_code not in store.areas_within(session, scope):
            raise Forbidden(f"area {area_code!r} is outside your areas",
                            "只能在您管辖的区域内登记工单。")
        reporter_ref, channel = request.reporter_ref, request.reporter_channel
        phone = cfg.vault.decrypt(request.contact_enc, context=CONTACT_CONTEXT)
    opened = open_order(uow, OrderCreate(
        category=category, description=description, location_text=location_text,
        area_code=area_code, reporter_channel=channel, reporter_ref=reporter_ref,
        priority=priority, reporter_contact=phone, client_ref=f"callback:{request_id}",
    ), now)
    number = opened.order.number
    with uow:
        session, cfg = uow.session, uow.config
        request = _lock(session, request_id)
        assert request is not None  # callback requests are never deleted
        if request.status == DONE:
            if request.order_number != number:
                raise Conflict(f"callback request {request_id} is done already",
                               "该回拨请求已处理完毕。")
            return CallbackOrder(order=opened.order, callback=_view(cfg.vault, request),
                                 created=opened.created)
        order = lock_order(session, number)
        record(session, order, action=STAFF_NOTE, actor=who, at=now,
               from_status=order.status, to_status=order.status,
               note=f"由回拨请求 #{request_id} 转为工单" + (f"：{text}" if text else ""))
        request.status = DONE
        request.done_at = now
        request.done_by = who
        request.note = text or f"已转为工单 {number}"
        request.order_number = number
        if request.area_code is None:
            request.area_code = order.area_code
        view = _view(cfg.vault, request)
        order_now = order_view(order, cfg.taxonomy)
        uow.commit()
    return CallbackOrder(order=order_now, callback=view, created=opened.created)

