"""Outbox rows: notifications written in the same transaction as their change.

Each row's ``dedupe_key`` is ``"<number>:<event seq>:<recipient kind>:<recipient ref>"``,
so one event tells one recipient once. Payloads carry a Chinese ``text`` and
structured fields for the channel; never a reporter's contact or identity in
plain text.

Routing: a handler or dispatcher with a Telegram chat gets ``telegram`` (the
chat id is in the payload as ``chat_id``), otherwise ``log``. A resident is
told on the channel they came from: ``tg:<chat>`` -> telegram, ``voice:`` ->
voice if the order has a contact (the number, encrypted, is the payload's
``phone_enc``; the notifier's voice sender decrypts it), else log; ``web:`` /
``open311:`` -> webhook if one is configured, else log. Anonymous reporters
are told too where their channel id reaches them: it is not a contact.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..adapters import store
from ..adapters.orm import CallbackRequest, Handler, OutboxMessage, StaffUser, WorkOrder
from ..adapters.outbox_table import PENDING
from ..domain.lifecycle import Status
from . import messages
from .common import category_label
from .config import ServiceConfig
from .views import SATISFACTION_LABELS

TOPIC_ASSIGNED = "order.assigned"
TOPIC_WITHDRAWN = "order.withdrawn"
TOPIC_REPORT_ADDED = "order.report_added"
TOPIC_ATTACHMENT_ADDED = "order.attachment_added"
TOPIC_STATUS = "order.status"
TOPIC_QUEUED = "order.queued"
TOPIC_ESCALATED = "order.escalated"
TOPIC_OVERDUE = "order.overdue"
TOPIC_REMINDER = "order.reminder"
TOPIC_CALLBACK = "callback.requested"
TOPIC_PRIORITY = "order.priority"
TOPIC_WARNING = "warning.raised"
#: Associated data of a phone caller's number in a ``voice`` row's payload (``phone_enc``).
PHONE_CONTEXT = "outbox_messages.payload.phone_enc"


def dedupe_key(number: str, seq: int, recipient_kind: str, recipient_ref: str) -> str:
    return f"{number}:{seq}:{recipient_kind}:{recipient_ref}"


def add(
    session: Session,
    *,
    order: WorkOrder,
    seq: int,
    recipient_kind: str,
    recipient_ref: str,
    channel: str,
    topic: str,
    payload: dict[str, Any],
    now: datetime,
) -> OutboxMessage:
    """Queue one message about ``order`` for the notifier."""
    return _queue(
        session, dedupe=dedupe_key(order.number, seq, recipient_kind, recipient_ref),
        order_number=order.number, recipient_kind=recipient_kind, recipient_ref=recipient_ref,
        channel=channel, topic=topic, payload=payload, now=now,
    )


def _queue(
    session: Session,
    *,
    dedupe: str,
    order_number: str | None,
    recipient_kind: str,
    recipient_ref: str,
    channel: str,
    topic: str,
    payload: dict[str, Any],
    now: datetime,
) -> OutboxMessage:
    message = OutboxMessage(
        created_at=now,
        topic=topic,
        recipient_kind=recipient_kind,
        recipient_ref=recipient_ref,
        channel=channel,
        order_number=order_number,
        payload=payload,
        dedupe_key=dedupe,
        status=PENDING,
        attempts=0,
        next_attempt_at=now,
    )
    session.add(message)
    return message


def resident_channel(reporter_ref: str, webhook_enabled: bool) -> tuple[str, dict[str, Any]]:
    """``(channel, extra payload)`` for a resident's sender id."""
    prefix, _, ident = reporter_ref.partition(":")
    if prefix == "tg" and ident:
        return "telegram", {"chat_id": ident}
    if prefix == "voice":
        return "voice", {}
    if prefix in ("web", "open311") and webhook_enabled:
        return "webhook", {}
    return "log", {}


def _caller_channel(cfg: ServiceConfig, order: WorkOrder) -> tuple[str, dict[str, Any]]:
    """A phone caller is texted or rung at the order's contact, carried encrypted for the
    notifier's voice sender (``PHONE_CONTEXT``); without a contact the message is logged."""
    from .orders import CONTACT_CONTEXT  # orders imports dispatching, which imports this

    phone = cfg.vault.decrypt(order.reporter_contact_enc, context=CONTACT_CONTEXT)
    if phone is None:
        return "log", {}
    return "voice", {"phone_enc": cfg.vault.encrypt(phone, context=PHONE_CONTEXT)}


def _chat_channel(chat_id: str | None) -> tuple[str, dict[str, Any]]:
    return ("telegram", {"chat_id": chat_id}) if chat_id else ("log", {})


def _order_fields(cfg: ServiceConfig, order: WorkOrder) -> dict[str, Any]:
    return {
        "number": order.number,
        "category": order.category,
        "category_name": category_label(cfg.taxonomy, order.category),
        "location": order.location_text,
        "priority": order.priority,
    }


# -------------------------------------------------------------------- handlers


def to_handler(
    session: Session,
    cfg: ServiceConfig,
    order: WorkOrder,
    handler: Handler,
    *,
    seq: int,
    now: datetime,
    topic: str,
    text: str,
    fields: Mapping[str, Any] | None = None,
) -> OutboxMessage:
    channel, extra = _chat_channel(handler.telegram_chat_id)
    payload = {"text": text, **_order_fields(cfg, order), **(fields or {}), **extra}
    return add(
        session, order=order, seq=seq, recipient_kind="handler", recipient_ref=str(handler.id),
        channel=channel, topic=topic, payload=payload, now=now,
    )


def assigned(
    session: Session, cfg: ServiceConfig, order: WorkOrder, handler: Handler, *, seq: int,
    now: datetime,
) -> OutboxMessage:
    """Tell the assignee about a new order: what, where, accept by when. No reporter data."""
    assert order.accept_by is not None
    fields = _order_fields(cfg, order)
    text = messages.assigned(
        order.number, fields["category_name"], order.location_text, order.priority,
        messages.clock(order.accept_by, now, cfg.display_tz),
    )
    return to_handler(
        session, cfg, order, handler, seq=seq, now=now, topic=TOPIC_ASSIGNED, text=text,
        fields={"accept_by": order.accept_by.isoformat(), "tier": order.tier},
    )


def reminder(
    session: Session, cfg: ServiceConfig, order: WorkOrder, handler: Handler, *,
    deadline: str, due: datetime, now: datetime,
) -> OutboxMessage:
    """催办: remind the assignee that ``deadline`` ("accept" or "resolve") is due at ``due``.

    The payload is that of ``order.assigned`` plus ``deadline`` and ``due``;
    the key names the deadline itself (``reminder:<number>:<deadline>:<due>``),
    so one deadline is reminded once, whichever sweeper gets there.
    """
    fields = _order_fields(cfg, order)
    when = messages.clock(due, now, cfg.display_tz)
    remind = messages.remind_accept if deadline == "accept" else messages.remind_resolve
    channel, extra = _chat_channel(handler.telegram_chat_id)
    payload = {
        "text": remind(order.number, fields["category_name"], order.location_text, when),
        **fields,
        "accept_by": order.accept_by.isoformat() if order.accept_by else None,
        "resolve_by": order.resolve_by.isoformat(),
        "tier": order.tier,
        "deadline": deadline,
        "due": due.isoformat(),
        **extra,
    }
    return _queue(
        session, dedupe=f"reminder:{order.number}:{deadline}:{due.isoformat()}",
        order_number=order.number, recipient_kind="handler", recipient_ref=str(handler.id),
        channel=channel, topic=TOPIC_REMINDER, payload=payload, now=now,
    )


# ------------------------------------------------------------------- residents


def to_resident(
    session: Session, cfg: ServiceConfig, order: WorkOrder, *, seq: int, now: datetime,
    event: str, answer: str | None = None, text: str | None = None,
    fields: Mapping[str, Any] | None = None,
) -> OutboxMessage:
    """Tell the reporter about a status change (``messages.RESIDENT_EVENTS``), or pass on a
    staff member's note (``messages.NOTE_EVENT``, with ``text``; labelled with the current
    status).

    ``answer``: a request's answer (the resolve note), given with ``resolved``: the
    text quotes it (``messages.answered``) and the payload carries it as ``answer``.
    ``text`` replaces the event's standard text (``messages.resident``); ``fields``
    are added to the payload.
    """
    channel, extra = resident_channel(order.reporter_ref, cfg.webhook_enabled)
    if channel == "voice":
        channel, extra = _caller_channel(cfg, order)
    status = (Status(order.status) if event == messages.NOTE_EVENT
              else messages.RESIDENT_EVENTS[event])
    if text is None:
        text = (messages.resident(event, order.number) if answer is None
                else messages.answered(order.number, order.category, answer))
    payload: dict[str, Any] = {
        **(fields or {}),
        "text": text,
        "number": order.number,
        "event": event,
        "status": order.status,
        "label": messages.RESIDENT_LABELS[status],
        **extra,
    }
    if answer is not None:
        payload["answer"] = answer
    if event == "resolved":
        payload["ask_satisfaction"] = True
        payload["options"] = [
            {"code": code, "label": label} for code, label in SATISFACTION_LABELS.items()
        ]
    return add(
        session, order=order, seq=seq, recipient_kind="resident",
        recipient_ref=order.reporter_ref, channel=channel, topic=TOPIC_STATUS,
        payload=payload, now=now,
    )


# ------------------------------------------------------ dispatchers, supervisors


def to_dispatchers(
    session: Session, cfg: ServiceConfig, order: WorkOrder, area_by_tier: Mapping[str, str], *,
    seq: int, now: datetime,
) -> list[OutboxMessage]:
    """Ask the area's dispatchers to place a queued order by hand.

    One ``telegram`` row per active dispatcher with a chat who covers the
    order's area at any tier (ref ``staff:<username>``); if there is none, one
    ``log`` row with the order's area code as ref.
    """
    places = set(area_by_tier.values()) | {order.area_code}
    chats = dispatcher_chats(session, places)
    fields = _order_fields(cfg, order)
    text = messages.queued(order.number, fields["category_name"], order.location_text,
                           order.priority)
    payload = {"text": text, **fields, "area_code": order.area_code, "tier": order.tier}
    if not chats:
        return [add(
            session, order=order, seq=seq, recipient_kind="dispatcher",
            recipient_ref=order.area_code, channel="log", topic=TOPIC_QUEUED,
            payload=payload, now=now,
        )]
    return [
        add(
            session, order=order, seq=seq, recipient_kind="dispatcher",
            recipient_ref=f"staff:{u.username}", channel="telegram", topic=TOPIC_QUEUED,
            payload={**payload, "chat_id": u.telegram_chat_id}, now=now,
        )
        for u in chats
    ]


def escalation_to_dispatchers(
    session: Session, cfg: ServiceConfig, order: WorkOrder, area_by_tier: Mapping[str, str], *,
    tier: str, seq: int, now: datetime, topic: str, text: str,
) -> list[OutboxMessage]:
    """Tell the area's dispatchers what the supervisors of ``tier`` are told (escalated, overdue).

    Routed like ``to_dispatchers``, but only to dispatchers with a Telegram
    chat (without one, the supervisors' message or its log row is the
    record). The key adds the topic: the same event may also queue the order
    for them (``order.queued``).
    """
    places = set(area_by_tier.values()) | {order.area_code}
    payload = {"text": text, **_order_fields(cfg, order), "tier": tier,
               "area_code": order.area_code, "breached": order.breached}
    return [
        _queue(
            session, dedupe=f"{dedupe_key(order.number, seq, 'dispatcher', ref)}:{topic}",
            order_number=order.number, recipient_kind="dispatcher", recipient_ref=ref,
            channel="telegram", topic=topic, payload={**payload, "chat_id": u.telegram_chat_id},
            now=now,
        )
        for u in dispatcher_chats(session, places)
        for ref in (f"staff:{u.username}",)
    ]


def dispatcher_chats(session: Session, places: set[str] | None) -> list[StaffUser]:
    """Active dispatchers with a Telegram chat who cover any of ``places`` (all if None)."""
    stmt = (
        select(StaffUser)
        .where(StaffUser.role == "dispatcher", StaffUser.active.is_(True))
        .order_by(StaffUser.id)
    )
    return [
        u for u in session.scalars(stmt)
        if u.telegram_chat_id and (places is None or places & set(u.areas or []))
    ]


def callback_to_dispatchers(
    session: Session, request: CallbackRequest, *, now: datetime
) -> list[OutboxMessage]:
    """Ask dispatchers to call a resident back (转人工), routed like ``to_dispatchers``.

    The dispatchers who cover the request's area (that of its order) at any
    tier, or every dispatcher when it has no area; without one with a chat, a
    ``log`` row addressed to the area code (or ``all``). The message names the
    channel and the request's id, never the phone number, the resident's id or
    the transcript: staff read those in the API.
    """
    places: set[str] | None = None
    if request.area_code is not None:
        places = set(store.area_chain_cached(session, request.area_code).values())
        places.add(request.area_code)
    text = messages.callback_requested(request.id, request.reason, request.reporter_channel,
                                       request.order_number)
    payload: dict[str, Any] = {
        "text": text, "callback_id": request.id, "reason": request.reason,
        "channel": request.reporter_channel, "order_number": request.order_number,
        "area_code": request.area_code,
    }
    targets = [
        (f"staff:{u.username}", "telegram", {"chat_id": u.telegram_chat_id})
        for u in dispatcher_chats(session, places)
    ] or [(request.area_code or "all", "log", {})]
    return [
        _queue(
            session, dedupe=f"callback:{request.id}:dispatcher:{ref}",
            order_number=request.order_number, recipient_kind="dispatcher", recipient_ref=ref,
            channel=channel, topic=TOPIC_CALLBACK, payload={**payload, **extra}, now=now,
        )
        for ref, channel, extra in targets
    ]


def to_supervisors(
    session: Session, cfg: ServiceConfig, order: WorkOrder, area_by_tier: Mapping[str, str], *,
    tier: str, seq: int, now: datetime, topic: str, text: str,
) -> list[OutboxMessage]:
    """Tell the supervisors of ``tier`` for the order's area (``Handler.is_supervisor``).

    Without one, a ``log`` row addressed to the area code, so nothing is lost.
    """
    area = area_by_tier.get(tier, order.area_code)
    payload = {"text": text, **_order_fields(cfg, order), "tier": tier, "area_code": area,
               "breached": order.breached}
    supervisors = store.supervisors_for(session, tier, area)
    if not supervisors:
        return [add(
            session, order=order, seq=seq, recipient_kind="supervisor", recipient_ref=area,
            channel="log", topic=topic, payload=payload, now=now,
        )]
    rows = []
    for supervisor in supervisors:
        channel, extra = _chat_channel(supervisor.telegram_chat_id)
        rows.append(add(
            session, order=order, seq=seq, recipient_kind="supervisor",
            recipient_ref=str(supervisor.id), channel=channel, topic=topic,
            payload={**payload, **extra}, now=now,
        ))
    return rows
