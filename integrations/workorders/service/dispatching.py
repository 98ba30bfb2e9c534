"""Dispatching inside a transaction, and draining the pending queue.

``dispatch`` runs ``domain.dispatch.plan`` with the product's urgent rule
(``URGENT_RULE``: the county keeps a reserve for urgent orders, and an urgent
order nobody has room for goes over capacity by one urgent order at most) on
handler snapshots taken under the transaction's locks: on PostgreSQL the
candidate handler rows are found and locked by one ``SELECT ... FOR NO KEY
UPDATE`` (in id order), then their loads, recent assignments and declines
are counted by one more statement, so two transactions placing orders with
the same handlers take turns; on SQLite the whole write transaction is
``BEGIN IMMEDIATE``, so writers take turns anyway. Either way what ``plan``
checked still holds at commit: no normal order takes anyone over capacity
(or into the county reserve), nobody goes over by more than one urgent order.
Every path that places an order comes here: creation, the pending queue,
declines, accept timeouts and escalations (the sweeper), reopening, and a
dispatcher's reassignment without a named handler. The area chain comes from
a small per-process cache (areas are append-only).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, select
from sqlalchemy.exc import SQLAlchemyError

from ..adapters import store
from ..adapters.orm import Handler, OrderEvent, WorkOrder
from ..domain.dispatch import URGENT_RULE, HandlerState, OrderToDispatch, plan
from ..domain.errors import DomainError
from ..domain.lifecycle import Action, Status, allowed_actions
from ..domain.taxonomy import Priority
from . import messages, outbox
from .audit_trail import transition
from .linked import NOT_LINKED, is_linked
from .uow import UnitOfWork

log = logging.getLogger(__name__)

RECENT = timedelta(hours=24)


@dataclass(frozen=True)
class DispatchOutcome:
    """``handler_id`` None: the order waits as pending; ``over_capacity``: an urgent
    order that took its handler over capacity (the urgent rule's overflow)."""

    handler_id: int | None
    tier: str
    over_capacity: bool = False


def dispatch(
    uow: UnitOfWork,
    order: WorkOrder,
    now: datetime,
    *,
    actor: str = "system",
    notify_if_queued: bool = True,
    area_by_tier: Mapping[str, str] | None = None,
    new_order: bool = False,
) -> DispatchOutcome:
    """Assign ``order`` (new, pending or reopened) by workload, or leave it pending.

    When nobody is eligible: ``new``/``reopened`` orders are queued (event
    ``queue``); a ``pending`` one stays as it is. The area's dispatchers are
    told, keyed on the order's latest event, unless ``notify_if_queued`` is
    False (a retry from the queue, which must not repeat the message).
    ``area_by_tier``: the order's area chain if the caller has it already;
    ``new_order``: the order is being created (nobody can have declined it).
    """
    session, cfg = uow.session, uow.config
    taxonomy = cfg.taxonomy
    if is_linked(order):  # waits under its parent order (合并办理): never placed on its own
        return DispatchOutcome(handler_id=None, tier=order.tier)
    if area_by_tier is None:
        area_by_tier = store.area_chain_cached(session, order.area_code)
    tiers = taxonomy.tiers[taxonomy.tiers.index(order.tier):]
    handlers = store.candidate_handlers(
        session,
        role=taxonomy.handler_role(order.kind),
        category=order.category,
        area_by_tier=area_by_tier,
        tiers=tiers,
    )
    stats = store.handler_stats(
        session, [h.id for h in handlers], now - RECENT, None if new_order else order.id
    )
    declined = frozenset(hid for hid, s in stats.items() if s.declined)
    states = [handler_state(h, stats[h.id].load, stats[h.id].assigned_since) for h in handlers]
    decision = plan(
        OrderToDispatch(
            kind=order.kind,
            category=order.category,
            priority=Priority.parse(order.priority),
            area_by_tier=area_by_tier,
            tier=order.tier,
            declined_by=declined,
        ),
        states,
        taxonomy,
        URGENT_RULE,
    )
    if decision.handler_id is None:
        if Action.QUEUE in allowed_actions(order.status):
            transition(session, order, Action.QUEUE, actor=actor, at=now)
            notify_if_queued = True
        if notify_if_queued:
            outbox.to_dispatchers(session, cfg, order, area_by_tier, seq=order.event_seq, now=now)
        return DispatchOutcome(handler_id=None, tier=order.tier)
    chosen = next(h for h in handlers if h.id == decision.handler_id)
    assign(uow, order, chosen, decision.tier, now, actor=actor,
           over_capacity=decision.over_capacity)
    return DispatchOutcome(handler_id=chosen.id, tier=decision.tier,
                           over_capacity=decision.over_capacity)


def assign(
    uow: UnitOfWork, order: WorkOrder, handler: Handler, tier: str, now: datetime, *, actor: str,
    over_capacity: bool = False,
) -> None:
    """Give ``order`` to ``handler`` at ``tier`` (checks are the caller's), and tell them.

    ``over_capacity``: an urgent order that takes them over capacity (the
    urgent rule's overflow); the dispatch event's note says so.
    """
    session, cfg = uow.session, uow.config
    note = f"handler:{handler.id} tier:{tier}" + (" over-capacity" if over_capacity else "")
    event = transition(
        session, order, Action.DISPATCH, actor=actor, at=now, note=note, handler_id=handler.id,
    )
    order.assignee_id = handler.id
    order.tier = tier
    deadlines = cfg.taxonomy.deadlines(order.category, order.priority, now)
    order.accept_by = deadlines.accept_by
    order.accept_reminded_at = None  # the new assignee is reminded in their turn
    if order.resolve_by <= now:
        # it waited past its time limit: counted as breached, and the new
        # handler gets a fresh limit instead of an order escalated at once
        order.breached = True
        order.resolve_by = deadlines.resolve_by
        order.overdue_notified_at = None
        order.resolve_reminded_at = None
    order.accepted_at = None  # accepted_at/accept_by describe the current assignment
    if order.first_assigned_at is None:
        order.first_assigned_at = now
    handler.last_assigned_at = now
    outbox.assigned(session, cfg, order, handler, seq=event.seq, now=now)


def handler_state(handler: Handler, load: int, recent: int) -> HandlerState:
    """The domain's snapshot of a (locked) handler row."""
    return HandlerState(
        id=handler.id,
        role=handler.role,
        skills=frozenset(handler.skills or ()),
        areas=frozenset(handler.areas or ()),
        tier=handler.tier,
        capacity=handler.capacity,
        on_duty=handler.on_duty,
        load=load,
        assigned_last_24h=recent,
        last_assigned_at=handler.last_assigned_at,
    )


def dispatch_queued(uow: UnitOfWork, now: datetime, *, limit: int = 200) -> list[str]:
    """Dispatch pending orders, urgent first then oldest first; the numbers assigned.

    Each order in its own short transaction, claimed with ``SKIP LOCKED`` on
    PostgreSQL and re-checked, so several processes can drain at once. Once an
    order without declines finds nobody, others of the same kind, category,
    priority, area and tier are skipped for this run (they would not fit either).
    """
    with uow.read_only():
        rows = uow.session.execute(
            select(
                WorkOrder.id, WorkOrder.kind, WorkOrder.category, WorkOrder.priority,
                WorkOrder.area_code, WorkOrder.tier,
            )
            .where(WorkOrder.status == Status.PENDING.value, NOT_LINKED)
            .order_by(
                case((WorkOrder.priority == "urgent", 0), else_=1),
                WorkOrder.created_at,
                WorkOrder.id,
            )
            .limit(limit)
        ).all()
    assigned: list[str] = []
    hopeless: set[tuple[str, ...]] = set()
    for order_id, *signature_fields in rows:
        signature = tuple(signature_fields)
        if signature in hopeless:
            continue
        with uow:
            order = store.claim_order(
                uow.session, order_id, WorkOrder.status == Status.PENDING.value
            )
            if order is None:
                continue
            outcome = dispatch(uow, order, now, notify_if_queued=False)
            if outcome.handler_id is None:
                if not store.declined_by(uow.session, order_id):
                    hopeless.add(signature)
                continue  # nothing written: leaving the block rolls back
            number = order.number
            uow.commit()
        assigned.append(number)
    return assigned


def after_capacity_freed(uow: UnitOfWork, now: datetime) -> list[str]:
    """``dispatch_queued`` as a follow-up of a committed change; errors are logged, not raised.

    The change that freed capacity is already committed; if placing queued
    orders fails now, the next sweep or the next freed capacity retries.
    """
    try:
        return dispatch_queued(uow, now)
    except (SQLAlchemyError, DomainError):
        log.exception("dispatching queued orders failed; the sweeper will retry")
        return []


def escalate_to(uow: UnitOfWork, order: WorkOrder, upper: str, now: datetime, *,
                reason: str = "") -> OrderEvent:
    """Take ``order`` back from its handler and move it to the tier ``upper`` (event
    ``escalate``, note ``tier:a->b handler:h [reason]``): the handler is told it was
    withdrawn, the resident that it went up. The caller sets the limits and dispatches.
    Only from a status that may escalate (assigned, accepted, in progress)."""
    session, cfg = uow.session, uow.config
    previous = order.assignee_id
    note = f"tier:{order.tier}->{upper} handler:{previous}" + (f" {reason}" if reason else "")
    event = transition(session, order, Action.ESCALATE, actor="system", at=now, note=note,
                       handler_id=previous)
    order.assignee_id = None
    order.accept_by = None
    order.accepted_at = None
    order.tier = upper
    order.resolve_reminded_at = None
    if previous is not None:
        outbox.to_handler(session, cfg, order, session.get_one(Handler, previous),
                          seq=event.seq, now=now, topic=outbox.TOPIC_WITHDRAWN,
                          text=messages.withdrawn_escalated(order.number, upper))
    outbox.to_resident(session, cfg, order, seq=event.seq, now=now, event="escalated")
    return event
