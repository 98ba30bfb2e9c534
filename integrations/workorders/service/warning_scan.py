"""The 研判预警 scan: surges and disputes at risk, found as orders and reports come in.

``run_warning_scan`` is called by the sweeper's loop (every interval) and by
``python -m integrations.workorders scan-warnings``. It reads only what changed
since its cursors (``scan_cursors``: ``orders`` → the last order id,
``events`` → the last order event id, ``disputes`` → when every open dispute
was last scored, epoch seconds) plus small aggregates, so a run stays cheap
however many orders the database holds:

- surges (``surge_scan``): every area × category with a new order or a
  co-report since the cursors is tested;
- disputes at risk (``dispute_scan``): open disputes created or with a new
  event since the cursors, and every open dispute at most every
  ``FULL_DISPUTE_PASS`` (their waiting time grows without events), are scored
  in batches; those at risk are acted on.

Each finding is handled in its own short transaction; two scans at once
(sweepers in two processes) raise one warning per finding (unique dedupe
keys, the surge pair's advisory lock, orders claimed with ``SKIP LOCKED``).
The cursors only move forward.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..adapters.orm import OrderEvent, ScanCursor, WorkOrder
from ..domain.errors import DomainError
from .audit_trail import REPORT
from .common import require_aware
from .dispute_scan import OPEN, act_on, find_at_risk, open_disputes
from .surge_scan import CO_REPORTER, forget_caches, scan_pair
from .uow import UnitOfWork

log = logging.getLogger(__name__)

#: Cursor names in ``scan_cursors``.
ORDERS, EVENTS, DISPUTES = "orders", "events", "disputes"
#: Every open dispute is scored at least this often (waiting time grows without events).
FULL_DISPUTE_PASS = timedelta(minutes=10)
#: Orders created this recently are read again by the next scans; so are the last
#: ``EVENT_OVERLAP`` events (see ``run_warning_scan``; reading twice is harmless).
RESCAN = timedelta(seconds=90)
EVENT_OVERLAP = 200


@dataclass
class ScanReport:
    """What one scan did: warnings raised or raised to a higher level (notified), per kind;
    warnings updated without a new level; orders moved to the township tier; failures."""

    surge: int = 0
    dispute_risk: int = 0
    updated: int = 0
    moved: list[str] = field(default_factory=list)
    failed: int = 0

    @property
    def total(self) -> int:
        return self.surge + self.dispute_risk


def run_warning_scan(uow_factory: Callable[[], UnitOfWork], now: datetime) -> ScanReport:
    """One scan: surges for the pairs with new reports, then disputes at risk."""
    require_aware(now)
    report = ScanReport()
    uow = uow_factory()
    with uow.read_only():
        session = uow.session
        cursors = _cursors(session)
        last_order = session.scalar(select(func.max(WorkOrder.id))) or 0
        last_event = session.scalar(select(func.max(OrderEvent.id))) or 0
        start_order = cursors.get(ORDERS, 0)
        # a few events again: on PostgreSQL ids are taken before their transactions
        # commit, so one may appear below the cursor after it moved (so may an order:
        # those created in the last ``RESCAN`` are read again too)
        start_event = max(0, cursors.get(EVENTS, 0) - EVENT_OVERLAP)
        again = now - RESCAN
        full_due = now.timestamp() - cursors.get(DISPUTES, 0) >= FULL_DISPUTE_PASS.total_seconds()
        # only reports within the longest window can make a surge now (a first scan of
        # an old database does not test every pair of its past)
        recent = now - timedelta(hours=max(uow.config.warning_rules.surge.windows_hours))
        pairs = _new_pairs(session, start_order, last_order, start_event, last_event, recent,
                           again)
        disputes = _disputes_to_score(session, start_order, last_order, start_event, last_event,
                                      again, everything=full_due)
    for area_code, category in sorted(pairs):
        _one(report, "surge", uow_factory(), scan_pair, area_code, category, now)
    if disputes:
        for at_risk in find_at_risk(uow_factory(), disputes, now):
            _one(report, "dispute_risk", uow_factory(), act_on, at_risk, now)
    moved = {name: position for name, position in ((ORDERS, last_order), (EVENTS, last_event))
             if position > cursors.get(name, -1)}
    if full_due:
        moved[DISPUTES] = int(now.timestamp())
    if moved:
        _advance(uow_factory(), moved, now)
    return report


def _one(report: ScanReport, kind: str, uow: UnitOfWork,
         step: Callable[..., tuple[str, str | None]], *args: Any) -> None:
    """Run one finding in its own transaction; what it did goes into ``report``."""
    try:
        with uow:
            outcome, moved = step(uow, *args)
            uow.commit()
    except (SQLAlchemyError, DomainError):
        log.exception("warning scan step %s failed for %s", step.__name__, args[:-1])
        report.failed += 1
        return
    if outcome == "raised":
        setattr(report, kind, getattr(report, kind) + 1)
    elif outcome == "updated":
        report.updated += 1
    if moved is not None:
        report.moved.append(moved)


# -------------------------------------------------------------------- cursors


def _cursors(session: Session) -> dict[str, int]:
    return {c.name: c.position for c in session.scalars(select(ScanCursor))}


def _advance(uow: UnitOfWork, positions: dict[str, int], now: datetime) -> None:
    """Move the cursors forward (never back: another scan may have gone further)."""
    with uow:
        session = uow.session
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        for name, position in positions.items():
            session.execute(insert(ScanCursor).values(name=name, position=0, updated_at=now)
                            .on_conflict_do_nothing(index_elements=["name"]))
            session.execute(update(ScanCursor)
                            .where(ScanCursor.name == name, ScanCursor.position < position)
                            .values(position=position, updated_at=now))
        uow.commit()


def _new_pairs(session: Session, start_order: int, last_order: int, start_event: int,
               last_event: int, since: datetime, again: datetime) -> set[tuple[str, str]]:
    """Area × category of the orders created (since the cursor, or since ``again``) and
    the co-reports made since the cursors, within the longest window (``since``)."""
    pairs = {(a, c) for a, c in session.execute(
        select(WorkOrder.area_code, WorkOrder.category)
        .where(WorkOrder.id > start_order, WorkOrder.id <= last_order,
               WorkOrder.created_at >= since).distinct())}
    pairs |= {(a, c) for a, c in session.execute(
        select(WorkOrder.area_code, WorkOrder.category)
        .where(WorkOrder.created_at >= max(since, again), WorkOrder.id <= last_order)
        .distinct())}
    pairs |= {(a, c) for a, c in session.execute(
        select(WorkOrder.area_code, WorkOrder.category)
        .join(OrderEvent, OrderEvent.order_id == WorkOrder.id)
        .where(OrderEvent.id > start_event, OrderEvent.id <= last_event,
               OrderEvent.action == REPORT, OrderEvent.actor == CO_REPORTER,
               OrderEvent.at >= since).distinct())}
    return pairs


def _disputes_to_score(session: Session, start_order: int, last_order: int, start_event: int,
                       last_event: int, again: datetime, *, everything: bool) -> set[int]:
    """Open disputes created or with an event since the cursors (every open one if
    ``everything``)."""
    if everything:
        return set(open_disputes(session))
    open_dispute = [WorkOrder.kind == "dispute", WorkOrder.status.in_(OPEN)]
    found = set(session.scalars(select(WorkOrder.id).where(
        WorkOrder.id > start_order, WorkOrder.id <= last_order, *open_dispute)))
    found |= set(session.scalars(select(WorkOrder.id).where(
        WorkOrder.created_at >= again, WorkOrder.id <= last_order, *open_dispute)))
    found |= set(session.scalars(
        select(OrderEvent.order_id).join(WorkOrder, OrderEvent.order_id == WorkOrder.id)
        .where(OrderEvent.id > start_event, OrderEvent.id <= last_event, *open_dispute)
        .distinct()))
    return found


__all__ = ["FULL_DISPUTE_PASS", "ScanReport", "forget_caches", "run_warning_scan"]
