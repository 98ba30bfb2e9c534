"""Appending hash-chained events to an order, and verifying the chains.

Every status change goes through ``transition`` (``domain.lifecycle.apply``
plus an event); facts that change no status (creation, a further report, an
overdue mark) go through ``record``. Each event's hash covers the previous
one (``domain.audit``); the order row keeps the last hash and seq, so events
deleted at the end are detected too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..adapters.orm import OrderEvent, WorkOrder
from ..domain.audit import GENESIS, event_digest, verify
from ..domain.lifecycle import Action, apply
from .errors import NotFound
from .uow import UnitOfWork

#: Event actions that are not lifecycle actions (no status change).
CREATE = "create"
REPORT = "report"
OVERDUE = "overdue"
#: a photo added to the order (the note names its public id), coordinates added ("lat,lon")
ATTACHMENT = "attachment"
LOCATION = "location"

#: ``Session.info`` key: events recorded for orders not inserted yet, as (order, event).
_AWAITING_ID = "workorders.events_awaiting_order_id"


def record(
    session: Session,
    order: WorkOrder,
    *,
    action: str,
    actor: str,
    at: datetime,
    from_status: str | None,
    to_status: str,
    note: str | None = None,
    handler_id: int | None = None,
) -> OrderEvent:
    """Append one event to ``order``'s chain.

    An order without an id yet (being created, not inserted) gets its events'
    ``order_id`` from ``give_order_id`` once it has one; until then nothing
    may be flushed. The hash covers the order's number, not its id.
    """
    seq = order.event_seq + 1
    prev = order.head_hash or GENESIS
    fields = {
        "order_number": order.number,
        "seq": seq,
        "action": action,
        "actor": actor,
        "at": at,
        "from_status": from_status,
        "to_status": to_status,
        "note": note,
    }
    digest = event_digest(prev, fields)
    event = OrderEvent(
        order_id=order.id,
        seq=seq,
        action=action,
        actor=actor,
        at=at,
        from_status=from_status,
        to_status=to_status,
        note=note,
        handler_id=handler_id,
        hash=digest,
        prev_hash=prev,
    )
    session.add(event)
    if order.id is None:
        session.info.setdefault(_AWAITING_ID, []).append((order, event))
    order.event_seq = seq
    order.head_hash = digest
    order.updated_at = at
    return event


def give_order_id(session: Session, order: WorkOrder) -> None:
    """``order`` was inserted: give its id to the events recorded before it had one."""
    waiting = session.info.get(_AWAITING_ID, [])
    for owner, event in waiting:
        if owner is order:
            event.order_id = order.id
    session.info[_AWAITING_ID] = [(o, e) for o, e in waiting if o is not order]


def transition(
    session: Session,
    order: WorkOrder,
    action: Action,
    *,
    actor: str,
    at: datetime,
    note: str | None = None,
    handler_id: int | None = None,
) -> OrderEvent:
    """Apply ``action`` to the order's status (``IllegalTransition`` if not allowed) and log it."""
    before = order.status
    after = apply(before, action)
    order.status = after.value
    return record(
        session,
        order,
        action=action.value,
        actor=actor,
        at=at,
        from_status=before,
        to_status=after.value,
        note=note,
        handler_id=handler_id,
    )


def verify_audit(uow: UnitOfWork, number: str | None = None) -> list[tuple[str, int]]:
    """``[(order number, first broken seq)]`` for every order whose history was altered.

    An edited, reordered or deleted event breaks its own seq; events deleted
    at the end are reported as the first missing seq. With ``number``, only
    that order is checked (``NotFound`` if it does not exist).
    """
    # plain columns, not entities: nothing enters the session's identity map, so memory
    # stays flat over every order's history (and rows are cheaper to build)
    stmt = (
        select(WorkOrder.id, WorkOrder.number, WorkOrder.head_hash, OrderEvent.seq,
               OrderEvent.action, OrderEvent.actor, OrderEvent.at, OrderEvent.from_status,
               OrderEvent.to_status, OrderEvent.note, OrderEvent.hash, OrderEvent.prev_hash)
        .join(OrderEvent, OrderEvent.order_id == WorkOrder.id, isouter=True)
        .order_by(WorkOrder.id, OrderEvent.seq)
    )
    if number is not None:
        stmt = stmt.where(WorkOrder.number == number)
    broken: list[tuple[str, int]] = []
    with uow.read_only():
        session = uow.session
        if number is not None and session.scalar(
            select(WorkOrder.id).where(WorkOrder.number == number)
        ) is None:
            raise NotFound("order", number)
        current: tuple[int, str, str] | None = None
        events: list[dict[str, object]] = []
        for row in session.execute(stmt).yield_per(2000):
            order_id, order_number, head = row[0], row[1], row[2]
            if current is None or current[0] != order_id:
                if current is not None:
                    _check(current, events, broken)
                current, events = (order_id, order_number, head), []
            if row.seq is not None:
                events.append(_fields(order_number, row))
        if current is not None:
            _check(current, events, broken)
    return broken


def _fields(order_number: str, event: Any) -> dict[str, object]:
    return {
        "order_number": order_number,
        "seq": event.seq,
        "action": event.action,
        "actor": event.actor,
        "at": event.at,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "note": event.note,
        "hash": event.hash,
        "prev_hash": event.prev_hash,
    }


def _check(
    current: tuple[int, str, str], events: list[dict[str, object]], broken: list[tuple[str, int]]
) -> None:
    _, order_number, head = current
    index = verify(events, head=head)
    if index is None:
        return
    if index < len(events):
        broken.append((order_number, int(events[index]["seq"])))  # type: ignore[call-overload]
    else:
        last = int(events[-1]["seq"]) if events else 0  # type: ignore[call-overload]
        broken.append((order_number, last + 1))
