"""Time limits (签收时限, 办结时限, 回访) and reminders (催办): run periodically, safe to run
in several processes.

Each order is handled in its own short transaction: claimed with ``SELECT ...
FOR UPDATE SKIP LOCKED`` on PostgreSQL (another sweeper holding it skips it)
and re-checked against its deadline in the same statement, so an order that
someone else handled in the meantime no longer qualifies; on SQLite the
``BEGIN IMMEDIATE`` transaction re-reads the row after taking the write lock.
Either way an order is never handled twice.

Reminders: an assignee who has used two thirds of the accept window
(``ACCEPT_REMINDER_AT``) or 80 % of the resolve window (``RESOLVE_REMINDER_AT``)
gets one ``order.reminder``. A window is the taxonomy's limit for the order's
category and priority, ending at its deadline (``accept_by`` is always set to
the assignment time plus that limit, ``resolve_by`` to the time it was set
plus the other). ``accept_reminded_at`` / ``resolve_reminded_at`` record the
reminder; a new assignment or a new ``resolve_by`` clears them, so the next
holder of the order is reminded too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import SQLAlchemyError

from ..adapters import store
from ..adapters.orm import Handler, WorkOrder
from ..domain.errors import DomainError
from ..domain.lifecycle import Action, Status
from ..domain.taxonomy import Taxonomy
from . import messages, outbox
from .audit_trail import OVERDUE, record, transition
from .common import category_label, require_aware
from .dispatching import dispatch, dispatch_queued, escalate_to
from .linked import NOT_LINKED
from .uow import UnitOfWork

log = logging.getLogger(__name__)

S = Status

#: Share of a window used when the assignee is reminded (催办).
ACCEPT_REMINDER_AT = 2 / 3
RESOLVE_REMINDER_AT = 0.8
ACCEPT, RESOLVE = "accept", "resolve"


@dataclass
class SweepReport:
    """The order numbers each step handled in one run.

    ``total`` counts the orders whose time limit passed (not the reminders, the
    queue or the failures).
    """

    accept_timeouts: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    overdue: list[str] = field(default_factory=list)
    closed_no_answer: list[str] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    #: orders whose assignee was reminded (催办) of the accept or resolve limit
    reminders: list[str] = field(default_factory=list)
    dispatched: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(len(v) for k, v in vars(self).items()
                   if k not in ("reminders", "dispatched", "failed"))


Step = Callable[[UnitOfWork, WorkOrder, datetime], str]


def run_time_limits(uow_factory: Callable[[], UnitOfWork], now: datetime) -> SweepReport:
    """One sweep: accept timeouts, overdue resolutions, unanswered follow-ups, archiving,
    reminders, then the pending queue. The taxonomy and windows come from the units' config."""
    require_aware(now)
    report = SweepReport()
    config = uow_factory().config
    steps: list[tuple[list[ColumnElement[bool]], Step]] = [
        ([WorkOrder.status == S.ASSIGNED.value, WorkOrder.accept_by <= now],
         _accept_timeout),
        ([WorkOrder.status.in_([S.ACCEPTED.value, S.IN_PROGRESS.value]),
          WorkOrder.resolve_by <= now, WorkOrder.overdue_notified_at.is_(None)],
         _resolve_overdue),
        # nobody could take it and its time ran out while waiting: tell the top
        # tier's supervisors once (it is already offered to every tier)
        ([WorkOrder.status == S.PENDING.value, NOT_LINKED,
          WorkOrder.resolve_by <= now, WorkOrder.overdue_notified_at.is_(None)],
         _pending_overdue),
        ([WorkOrder.status == S.RESOLVED.value, WorkOrder.resolved_at <= now - config.follow_up],
         _no_answer),
    ]
    if config.archive_after is not None:
        steps.append(
            ([WorkOrder.status == S.CLOSED.value,
              WorkOrder.closed_at <= now - config.archive_after],
             _archive)
        )
    for conditions, step in steps:
        for order_id, number in _due(uow_factory(), conditions):
            _record(report, number, _handle_one(uow_factory(), order_id, conditions, step, now))
    # after the time limits: an order they just moved has a fresh window
    for conditions, step, kind in _reminder_steps(now):
        for order_id, number in _reminders_due(uow_factory(), conditions, kind, now):
            _record(report, number, _handle_one(uow_factory(), order_id, conditions, step, now))
    report.dispatched = dispatch_queued(uow_factory(), now)
    return report


def _record(report: SweepReport, number: str, outcome: str) -> None:
    if outcome == "failed":
        report.failed.append(number)
    elif outcome:
        getattr(report, outcome).append(number)


def _due(uow: UnitOfWork, conditions: list[ColumnElement[bool]]) -> list[tuple[int, str]]:
    with uow.read_only():
        stmt = select(WorkOrder.id, WorkOrder.number).where(*conditions).order_by(WorkOrder.id)
        return [(row.id, row.number) for row in uow.session.execute(stmt)]


def _handle_one(
    uow: UnitOfWork,
    order_id: int,
    conditions: list[ColumnElement[bool]],
    step: Step,
    now: datetime,
) -> str:
    """The report field to record the order under, "" if it no longer qualifies, or "failed"."""
    try:
        with uow:
            order = store.claim_order(uow.session, order_id, *conditions)
            if order is None:
                return ""  # handled by another sweeper, or changed meanwhile
            outcome = step(uow, order, now)
            uow.commit()
            return outcome
    except (SQLAlchemyError, DomainError):
        log.exception("time-limit step %s failed for order id %s", step.__name__, order_id)
        return "failed"


def _accept_timeout(uow: UnitOfWork, order: WorkOrder, now: datetime) -> str:
    """Not accepted in time: take it back and dispatch it one tier up (or again at the top).

    The handler who let it time out is remembered like a decliner, so the top
    tier does not hand it straight back to them.
    """
    session, cfg = uow.session, uow.config
    previous = order.assignee_id
    due = order.accept_by
    event = transition(
        session, order, Action.ACCEPT_TIMEOUT, actor="system", at=now,
        note=f"handler:{previous} accept_by:{due.isoformat() if due else '-'}",
        handler_id=previous,
    )
    order.assignee_id = None
    order.accept_by = None
    order.tier = cfg.taxonomy.next_tier(order.tier) or order.tier
    if previous is not None:
        store.add_decline(session, order.id, previous, now)
        outbox.to_handler(session, cfg, order, session.get_one(Handler, previous),
                          seq=event.seq, now=now, topic=outbox.TOPIC_WITHDRAWN,
                          text=messages.withdrawn_timeout(order.number))
    session.flush()
    dispatch(uow, order, now)
    return "accept_timeouts"


def _resolve_overdue(uow: UnitOfWork, order: WorkOrder, now: datetime) -> str:
    """Not resolved in time: escalate one tier up with fresh limits and tell its supervisors;
    at the top tier, mark it overdue once and tell the supervisors (no loop)."""
    session, cfg = uow.session, uow.config
    order.breached = True
    area_by_tier = store.area_chain_cached(session, order.area_code)
    category_name = category_label(cfg.taxonomy, order.category)
    upper = cfg.taxonomy.next_tier(order.tier)
    if upper is None:
        _mark_overdue(uow, order, now, tier=order.tier)
        return "overdue"
    event = escalate_to(uow, order, upper, now)
    order.resolve_by = cfg.taxonomy.deadlines(order.category, order.priority, now).resolve_by
    order.overdue_notified_at = None
    text = messages.escalated_supervisor(order.number, category_name, order.location_text, upper)
    for notify in (outbox.to_supervisors, outbox.escalation_to_dispatchers):
        notify(session, cfg, order, area_by_tier, tier=upper, seq=event.seq, now=now,
               topic=outbox.TOPIC_ESCALATED, text=text)
    session.flush()
    dispatch(uow, order, now)
    return "escalated"


def _pending_overdue(uow: UnitOfWork, order: WorkOrder, now: datetime) -> str:
    """Still waiting for a handler when it should have been resolved: mark it
    breached and overdue once, and tell the supervisors of the top tier, who
    can make room (the order stays in the queue)."""
    order.breached = True
    _mark_overdue(uow, order, now, tier=uow.config.taxonomy.tiers[-1])
    return "overdue"


def _mark_overdue(uow: UnitOfWork, order: WorkOrder, now: datetime, *, tier: str) -> None:
    """An ``overdue`` event (no status change) and one message to ``tier``'s supervisors
    and to the area's dispatchers with a Telegram chat."""
    session, cfg = uow.session, uow.config
    event = record(session, order, action=OVERDUE, actor="system", at=now,
                   from_status=order.status, to_status=order.status,
                   note=f"resolve_by:{order.resolve_by.isoformat()}")
    order.overdue_notified_at = now
    area_by_tier = store.area_chain_cached(session, order.area_code)
    text = messages.overdue_supervisor(
        order.number, category_label(cfg.taxonomy, order.category), order.location_text)
    for notify in (outbox.to_supervisors, outbox.escalation_to_dispatchers):
        notify(session, cfg, order, area_by_tier, tier=tier, seq=event.seq, now=now,
               topic=outbox.TOPIC_OVERDUE, text=text)


def _no_answer(uow: UnitOfWork, order: WorkOrder, now: datetime) -> str:
    """No satisfaction answer within the follow-up window: close (回访未答复)."""
    session = uow.session
    event = transition(session, order, Action.NO_ANSWER, actor="system", at=now)
    order.closed_at = now
    outbox.to_resident(session, uow.config, order, seq=event.seq, now=now,
                       event="closed_no_answer")
    return "closed_no_answer"


def _archive(uow: UnitOfWork, order: WorkOrder, now: datetime) -> str:
    transition(uow.session, order, Action.ARCHIVE, actor="system", at=now)
    return "archived"


# ---------------------------------------------------------------------- reminders


def _reminder_steps(now: datetime) -> list[tuple[list[ColumnElement[bool]], Step, str]]:
    """Orders that may be due a reminder (the share of the window is checked in Python)."""
    return [
        ([WorkOrder.status == S.ASSIGNED.value, WorkOrder.accept_by > now,
          WorkOrder.assignee_id.is_not(None), WorkOrder.accept_reminded_at.is_(None)],
         _remind_accept, ACCEPT),
        ([WorkOrder.status.in_([S.ACCEPTED.value, S.IN_PROGRESS.value]),
          WorkOrder.resolve_by > now, WorkOrder.assignee_id.is_not(None),
          WorkOrder.resolve_reminded_at.is_(None)],
         _remind_resolve, RESOLVE),
    ]


def remind_at(taxonomy: Taxonomy, category: str, priority: str, deadline: datetime,
              kind: str) -> datetime | None:
    """When the assignee is reminded of ``deadline`` (``kind`` accept or resolve);
    None if the category is no longer in the taxonomy (its window is unknown)."""
    try:
        limits = taxonomy.deadlines(category, priority, deadline)
    except DomainError:
        return None
    if kind == ACCEPT:
        window, share = limits.accept_by - deadline, ACCEPT_REMINDER_AT
    else:
        window, share = limits.resolve_by - deadline, RESOLVE_REMINDER_AT
    return deadline - window * (1 - share)


def _reminders_due(
    uow: UnitOfWork, conditions: list[ColumnElement[bool]], kind: str, now: datetime
) -> list[tuple[int, str]]:
    deadline = WorkOrder.accept_by if kind == ACCEPT else WorkOrder.resolve_by
    taxonomy = uow.config.taxonomy
    with uow.read_only():
        stmt = (
            select(WorkOrder.id, WorkOrder.number, WorkOrder.category, WorkOrder.priority,
                   deadline.label("deadline"))
            .where(*conditions)
            .order_by(WorkOrder.id)
        )
        rows = uow.session.execute(stmt).all()
    due = []
    for row in rows:
        at = remind_at(taxonomy, row.category, row.priority, row.deadline, kind)
        if at is not None and at <= now:
            due.append((row.id, row.number))
    return due


def _remind(uow: UnitOfWork, order: WorkOrder, now: datetime, kind: str) -> str:
    """One ``order.reminder`` to the assignee, if the order (re-read, locked) is still due."""
    session, cfg = uow.session, uow.config
    deadline = order.accept_by if kind == ACCEPT else order.resolve_by
    assert deadline is not None and order.assignee_id is not None  # the step's conditions
    at = remind_at(cfg.taxonomy, order.category, order.priority, deadline, kind)
    if at is None or at > now:
        return ""
    if kind == ACCEPT:
        order.accept_reminded_at = now
    else:
        order.resolve_reminded_at = now
    outbox.reminder(session, cfg, order, session.get_one(Handler, order.assignee_id),
                    deadline=kind, due=deadline, now=now)
    return "reminders"


def _remind_accept(uow: UnitOfWork, order: WorkOrder, now: datetime) -> str:
    return _remind(uow, order, now, ACCEPT)


def _remind_resolve(uow: UnitOfWork, order: WorkOrder, now: datetime) -> str:
    return _remind(uow, order, now, RESOLVE)
