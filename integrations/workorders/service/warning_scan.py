"""The 研判预警 scan: surges and disputes at risk, found as orders and reports come in.

``run_warning_scan`` is called by the sweeper's loop (every interval) and by
``python -m integrations.workorders scan-warnings``. It reads only what changed
since its cursors (``scan_cursors``: ``orders`` → the last order id,
``events`` → the last order event id, ``disputes`` → when every open dispute
was last scored, epoch seconds) plus small aggregates, so a run stays cheap
however many orders the database holds.

Surges (激增): for every area × category with a new order or a co-report
(a further resident's report attached to an order) since the cursors, the
reports of each window of ``SurgeRules.windows_hours`` ending now are counted
(index ``ix_work_orders_area_category_created``; co-reports by
``ix_order_events_action_at``) and tested against that area × category's own
history (counts per hour of the week over ``history_weeks``, ending where the
longest window starts) and a county prior (per-grid weekly rate of the
category and the county's hour-of-week profile, cached per process for
``PRIOR_TTL``) by ``domain.surges.test_window``. One burst is one warning: a
surge warning of the pair updated within the longest window is updated (its
orders added, its level raised) instead of a new one being raised.

Disputes at risk (矛盾激化风险): open disputes with a new event or newly
created since the cursors, and every open dispute at most every
``FULL_DISPUTE_PASS`` (their waiting time grows without events), are scored
by ``domain.dispute_risk.score_dispute`` from their texts (description and
the notes of reports, progress, staff notes and 不满意 answers), earlier
disputes at the same place, reopenings, co-reporters and waiting time. At or
above the threshold: a ``dispute_risk`` warning (upgraded, never duplicated)
and, once, the order moves to the township tier (taken back from its grid
handler, who is told; dispatched at the upper tier; not marked breached), its
priority becomes urgent and its chain gets a ``risk`` event. The resident is
told once that the matter went up a tier, never on every scan.

Each finding is handled in its own short transaction; two scans at once
(sweepers in two processes) raise one warning per finding: warnings are
inserted by their unique ``dedupe_key`` (``service.warnings``), the surge
pair is serialised by a transaction-level advisory lock on PostgreSQL (SQLite
write transactions take turns), and an order is claimed with ``SKIP LOCKED``.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..adapters import store
from ..adapters.orm import (
    Area,
    Handler,
    OrderEvent,
    RiskWarning,
    ScanCursor,
    WorkOrder,
)
from ..domain.dispute_risk import DisputeFacts, RiskScore, explain_risk, score_dispute
from ..domain.errors import DomainError
from ..domain.lifecycle import Action, Status, allowed_actions
from ..domain.places import repeat_place_key, same_place
from ..domain.surges import SurgeFinding, SurgeHistory, SurgePrior, explain_surge, test_window
from ..domain.taxonomy import Priority
from ..domain.warnings import WarningKind
from . import messages, outbox
from .audit_trail import REPORT, record, transition
from .common import category_label, require_aware
from .desk_actions import PRIORITY
from .dispatching import dispatch
from .uow import UnitOfWork
from .warnings import raise_warning

log = logging.getLogger(__name__)

#: Cursor names in ``scan_cursors``.
ORDERS, EVENTS, DISPUTES = "orders", "events", "disputes"
#: Every open dispute is scored at least this often (waiting time grows without events).
FULL_DISPUTE_PASS = timedelta(minutes=10)
#: The county prior (per-grid weekly rates, hour-of-week profile) is recomputed this often.
PRIOR_TTL = timedelta(hours=6)
#: The order event of a dispute found at risk (no status change); note ``score:<n>``.
RISK = "risk"
#: The actor of a report by a resident other than the reporter.
CO_REPORTER = "co-reporter"
#: Event actions whose notes are words of people (scored for threats).
TEXT_ACTIONS = (REPORT, Action.PROGRESS.value, "staff_note", Action.UNSATISFIED.value)
#: Statuses of an order that is no longer open.
FINISHED = (Status.RESOLVED.value, Status.CLOSED.value, Status.ARCHIVED.value,
            Status.CANCELLED.value)
#: Orders linked to one surge warning at most (the counts stay exact in its details).
MAX_MEMBERS = 200
HOURS_PER_WEEK = 168


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
        start_event = cursors.get(EVENTS, 0)
        full_due = now.timestamp() - cursors.get(DISPUTES, 0) >= FULL_DISPUTE_PASS.total_seconds()
        pairs = _new_pairs(session, start_order, last_order, start_event, last_event)
        disputes = _disputes_to_score(session, start_order, last_order, start_event, last_event,
                                      everything=full_due)
    for area_code, category in sorted(pairs):
        _one(report, "surge", uow_factory(), _surge, area_code, category, now)
    for order_id in sorted(disputes):
        _one(report, "dispute_risk", uow_factory(), _dispute, order_id, now)
    moved = {ORDERS: last_order, EVENTS: last_event}
    if full_due:
        moved[DISPUTES] = int(now.timestamp())
    _advance(uow_factory(), moved, now)
    return report


def _one(report: ScanReport, kind: str, uow: UnitOfWork, step: Callable[..., str],
         *args: Any) -> None:
    """Run one finding in its own transaction; what it did goes into ``report``."""
    try:
        with uow:
            outcome = step(uow, report, *args)
            uow.commit()
    except (SQLAlchemyError, DomainError):
        log.exception("warning scan step %s failed for %s", step.__name__, args[:-1])
        report.failed += 1
        return
    if outcome == "raised":
        setattr(report, kind, getattr(report, kind) + 1)
    elif outcome == "updated":
        report.updated += 1


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
               last_event: int) -> set[tuple[str, str]]:
    """Area × category of the orders created and the co-reports made since the cursors."""
    pairs = {(a, c) for a, c in session.execute(
        select(WorkOrder.area_code, WorkOrder.category)
        .where(WorkOrder.id > start_order, WorkOrder.id <= last_order).distinct())}
    pairs |= {(a, c) for a, c in session.execute(
        select(WorkOrder.area_code, WorkOrder.category)
        .join(OrderEvent, OrderEvent.order_id == WorkOrder.id)
        .where(OrderEvent.id > start_event, OrderEvent.id <= last_event,
               OrderEvent.action == REPORT, OrderEvent.actor == CO_REPORTER).distinct())}
    return pairs


def _disputes_to_score(session: Session, start_order: int, last_order: int, start_event: int,
                       last_event: int, *, everything: bool) -> set[int]:
    """Open disputes created or with an event since the cursors (every open one if
    ``everything``)."""
    open_dispute = [WorkOrder.kind == "dispute", WorkOrder.status.not_in(FINISHED)]
    if everything:
        return set(session.scalars(select(WorkOrder.id).where(*open_dispute)))
    found = set(session.scalars(select(WorkOrder.id).where(
        WorkOrder.id > start_order, WorkOrder.id <= last_order, *open_dispute)))
    found |= set(session.scalars(
        select(OrderEvent.order_id).join(WorkOrder, OrderEvent.order_id == WorkOrder.id)
        .where(OrderEvent.id > start_event, OrderEvent.id <= last_event, *open_dispute)
        .distinct()))
    return found


# --------------------------------------------------------------------- surges


def _surge(uow: UnitOfWork, report: ScanReport, area_code: str, category: str,
           now: datetime) -> str:
    """Test the pair's windows; raise or update its burst's warning. The outcome."""
    session, cfg = uow.session, uow.config
    rules = cfg.warning_rules.surge
    _lock_pair(session, area_code, category)
    longest = timedelta(hours=max(rules.windows_hours))
    history = _history(session, cfg.display_tz, area_code, category, now - longest,
                       rules.history_weeks)
    prior = _prior(session, cfg.display_tz, category, now - longest, rules.history_weeks,
                   rules.default_weekly_rate)
    best: SurgeFinding | None = None
    for hours in rules.windows_hours:
        start = now - timedelta(hours=hours)
        observed = _count_reports(session, area_code, category, start, now)
        finding = test_window(observed, start, now, history, prior, rules)
        if finding is not None and (best is None or _stronger(finding, best)):
            best = finding
    if best is None:
        return ""
    start = now - timedelta(hours=best.window_hours)
    members = _members(session, area_code, category, start, now)
    existing = session.scalar(
        select(RiskWarning.dedupe_key)
        .where(RiskWarning.kind == WarningKind.SURGE.value, RiskWarning.area_code == area_code,
               RiskWarning.category == category, RiskWarning.updated_at >= now - longest)
        .order_by(RiskWarning.id.desc()).limit(1))
    key = existing or f"surge:{area_code}:{category}:{_minute(start)}"
    area_name = session.scalar(select(Area.name).where(Area.code == area_code)) or area_code
    details = {
        "observed": best.observed, "expected": round(best.expected, 3),
        "p_value": best.p_value, "window_hours": best.window_hours,
        "usual_per_day": round(best.usual_per_day, 3), "history_weeks": round(history.weeks, 2),
        "window_start": start.isoformat(), "window_end": now.isoformat(),
    }
    _, told = raise_warning(
        session, cfg, kind=WarningKind.SURGE.value, dedupe_key=key, level=best.level.value,
        area_code=area_code, category=category,
        explanation=explain_surge(best, area_name=area_name,
                                  category_name=category_label(cfg.taxonomy, category)),
        details=details, order_id=None, orders=[(oid, "member") for oid in members], now=now)
    return "raised" if told else "updated"


def _stronger(a: SurgeFinding, b: SurgeFinding) -> bool:
    return (a.level.rank, -a.p_value) > (b.level.rank, -b.p_value)


def _minute(at: datetime) -> str:
    return at.replace(second=0, microsecond=0).strftime("%Y%m%dT%H%M")


def _lock_pair(session: Session, area_code: str, category: str) -> None:
    """Serialise scans of one pair (PostgreSQL; SQLite writers take turns anyway)."""
    if store.has_row_locks(session):
        key = zlib.crc32(f"surge:{area_code}:{category}".encode())
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def _count_reports(session: Session, area_code: str, category: str, start: datetime,
                   end: datetime) -> int:
    """New orders and co-reports of the pair in ``[start, end]`` (cancelled orders too:
    they were reported)."""
    orders = session.scalar(
        select(func.count()).select_from(WorkOrder)
        .where(WorkOrder.area_code == area_code, WorkOrder.category == category,
               WorkOrder.created_at >= start, WorkOrder.created_at <= end)) or 0
    co_reports = session.scalar(
        select(func.count()).select_from(OrderEvent)
        .join(WorkOrder, OrderEvent.order_id == WorkOrder.id)
        .where(OrderEvent.action == REPORT, OrderEvent.at >= start, OrderEvent.at <= end,
               OrderEvent.actor == CO_REPORTER, WorkOrder.area_code == area_code,
               WorkOrder.category == category)) or 0
    return int(orders) + int(co_reports)


def _members(session: Session, area_code: str, category: str, start: datetime,
             end: datetime) -> list[int]:
    """The orders behind the burst: created in the window, or co-reported in it."""
    created = list(session.scalars(
        select(WorkOrder.id)
        .where(WorkOrder.area_code == area_code, WorkOrder.category == category,
               WorkOrder.created_at >= start, WorkOrder.created_at <= end)
        .order_by(WorkOrder.id).limit(MAX_MEMBERS)))
    co = session.scalars(
        select(OrderEvent.order_id).join(WorkOrder, OrderEvent.order_id == WorkOrder.id)
        .where(OrderEvent.action == REPORT, OrderEvent.at >= start, OrderEvent.at <= end,
               OrderEvent.actor == CO_REPORTER, WorkOrder.area_code == area_code,
               WorkOrder.category == category).distinct())
    return sorted(set(created) | set(co))[:MAX_MEMBERS]


def hour_of_week(at: datetime, tz: tzinfo) -> int:
    """0 for Monday 00h (``tz``) ... 167 for Sunday 23h."""
    local = at.astimezone(tz)
    return local.weekday() * 24 + local.hour


def _history(session: Session, tz: tzinfo, area_code: str, category: str, end: datetime,
             weeks: int) -> SurgeHistory:
    """The pair's reports per hour of the week over ``weeks`` before ``end``; the weeks
    count from the area's first order if it is younger."""
    begin = end - timedelta(weeks=weeks)
    first = _area_first_order(session, area_code)
    if first is None or first >= end:
        return SurgeHistory(weeks=0.0, by_hour_of_week=(0,) * HOURS_PER_WEEK)
    begin = max(begin, first)
    counts = [0] * HOURS_PER_WEEK
    for at in session.scalars(
            select(WorkOrder.created_at)
            .where(WorkOrder.area_code == area_code, WorkOrder.category == category,
                   WorkOrder.created_at >= begin, WorkOrder.created_at < end)):
        counts[hour_of_week(at, tz)] += 1
    for at in session.scalars(
            select(OrderEvent.at).join(WorkOrder, OrderEvent.order_id == WorkOrder.id)
            .where(OrderEvent.action == REPORT, OrderEvent.actor == CO_REPORTER,
                   OrderEvent.at >= begin, OrderEvent.at < end,
                   WorkOrder.area_code == area_code, WorkOrder.category == category)):
        counts[hour_of_week(at, tz)] += 1
    return SurgeHistory(weeks=(end - begin) / timedelta(weeks=1), by_hour_of_week=tuple(counts))


# process-wide caches, per database: areas' first orders never change; the prior is recomputed
_cache_lock = threading.Lock()
_first_orders: dict[tuple[object, str], datetime] = {}
_priors: dict[object, tuple[datetime, datetime, dict[str, float], tuple[float, ...], int]] = {}


def _db_key(session: Session) -> object:
    bind = session.get_bind()
    return getattr(bind, "engine", bind)


def _area_first_order(session: Session, area_code: str) -> datetime | None:
    key = (_db_key(session), area_code)
    if key in _first_orders:
        return _first_orders[key]
    first = session.scalar(select(func.min(WorkOrder.created_at))
                           .where(WorkOrder.area_code == area_code))
    if first is not None:
        with _cache_lock:
            _first_orders[key] = first
    return first


def _prior(session: Session, tz: tzinfo, category: str, end: datetime, weeks: int,
           default_rate: float) -> SurgePrior:
    """The county's per-grid weekly rate of ``category`` and its hour-of-week profile
    (all categories, smoothed), over ``weeks`` before ``end``; the settings' default
    rate and a flat profile where the county has no history."""
    key = _db_key(session)
    cached = _priors.get(key)
    if cached is None or not (cached[0] <= end < cached[0] + PRIOR_TTL):
        cached = _compute_prior(session, tz, end, weeks)
        with _cache_lock:
            _priors[key] = cached
    _, _, rates, profile, _ = cached
    rate = rates.get(category)
    if not rates:  # the county has no history: the settings' default
        rate = default_rate
    return SurgePrior(weekly_rate=rate if rate is not None else 0.0, profile=profile)


def _compute_prior(session: Session, tz: tzinfo, end: datetime, weeks: int
                   ) -> tuple[datetime, datetime, dict[str, float], tuple[float, ...], int]:
    begin = end - timedelta(weeks=weeks)
    first = session.scalar(select(func.min(WorkOrder.created_at)))
    grids = session.scalar(select(func.count()).select_from(Area).where(
        Area.code.in_(select(WorkOrder.area_code).distinct()))) or 1
    if first is None or first >= end:
        return end, begin, {}, _smooth([0] * HOURS_PER_WEEK), grids
    begin = max(begin, first)
    span = max((end - begin) / timedelta(weeks=1), 1 / 7)
    per_category: dict[str, int] = defaultdict(int)
    counts = [0] * HOURS_PER_WEEK
    for at, category in session.execute(
            select(WorkOrder.created_at, WorkOrder.category)
            .where(WorkOrder.created_at >= begin, WorkOrder.created_at < end)):
        per_category[category] += 1
        counts[hour_of_week(at, tz)] += 1
    rates = {c: n / span / grids for c, n in per_category.items()}
    return end, begin, rates, _smooth(counts), grids


def _smooth(counts: Iterable[int]) -> tuple[float, ...]:
    """Shares of the week: each hour averaged with its neighbours, plus one per hour."""
    c = list(counts)
    n = len(c)
    smoothed = [(c[(i - 1) % n] + 2 * c[i] + c[(i + 1) % n]) / 4 + 1.0 for i in range(n)]
    total = sum(smoothed)
    return tuple(v / total for v in smoothed)


def forget_caches() -> None:
    """Empty the per-process caches (tests that rebuild a database)."""
    with _cache_lock:
        _first_orders.clear()
        _priors.clear()


# ------------------------------------------------------------ disputes at risk


def _dispute(uow: UnitOfWork, report: ScanReport, order_id: int, now: datetime) -> str:
    """Score one open dispute; at or above the threshold, warn and (once) move it up."""
    session, cfg = uow.session, uow.config
    rules = cfg.warning_rules.dispute_risk
    order = store.claim_order(session, order_id, WorkOrder.status.not_in(FINISHED))
    if order is None:
        return ""
    facts = dispute_facts(session, order, now, rules.lookback_days)
    score = score_dispute(facts, rules)
    if score.level is None:
        return ""
    area_name = session.scalar(select(Area.name).where(Area.code == order.area_code)) or ""
    explanation = explain_risk(score, area_name=area_name,
                               category_name=category_label(cfg.taxonomy, order.category),
                               number=order.number)
    _, told = raise_warning(
        session, cfg, kind=WarningKind.DISPUTE_RISK.value, dedupe_key=f"dispute_risk:{order.id}",
        level=score.level.value, area_code=order.area_code, category=order.category,
        explanation=explanation, details=_risk_details(score, facts), order_id=order.id,
        orders=[(order.id, "trigger")], now=now)
    if _act_on_risk(uow, order, score, now):
        report.moved.append(order.number)
    return "raised" if told else "updated"


def dispute_facts(session: Session, order: WorkOrder, now: datetime,
                  lookback_days: int) -> DisputeFacts:
    """What the service knows of one open dispute."""
    rows = session.execute(
        select(OrderEvent.action, OrderEvent.actor, OrderEvent.note)
        .where(OrderEvent.order_id == order.id).order_by(OrderEvent.seq)).all()
    texts = [order.description]
    texts += [r.note for r in rows if r.action in TEXT_ACTIONS and r.note]
    reopened = sum(1 for r in rows if r.action == Action.UNSATISFIED.value)
    co_reporters = sum(1 for r in rows if r.action == REPORT and r.actor == CO_REPORTER)
    names = _area_names(session, order.area_code)
    key = repeat_place_key(order.location_text, names)
    earlier = session.scalars(
        select(WorkOrder.location_text)
        .where(WorkOrder.area_code == order.area_code, WorkOrder.kind == "dispute",
               WorkOrder.id != order.id, WorkOrder.status != Status.CANCELLED.value,
               WorkOrder.created_at >= now - timedelta(days=lookback_days),
               WorkOrder.created_at <= order.created_at))
    same = sum(1 for text_ in earlier if same_place(key, repeat_place_key(text_, names)))
    return DisputeFacts(
        texts=tuple(texts), same_place_disputes=same, reopened=reopened,
        co_reporters=co_reporters,
        waited_hours=max(0.0, (now - order.created_at) / timedelta(hours=1)))


def _area_names(session: Session, area_code: str) -> list[str]:
    codes = sorted(set(store.area_chain_cached(session, area_code).values()) | {area_code})
    return list(session.scalars(select(Area.name).where(Area.code.in_(codes))))


def _risk_details(score: RiskScore, facts: DisputeFacts) -> dict[str, Any]:
    return {
        "score": score.score,
        "reasons": [{"code": r.code, "points": r.points, "text": r.text} for r in score.reasons],
        "same_place_disputes": facts.same_place_disputes, "reopened": facts.reopened,
        "co_reporters": facts.co_reporters, "waited_hours": round(facts.waited_hours, 1),
    }


def _act_on_risk(uow: UnitOfWork, order: WorkOrder, score: RiskScore, now: datetime) -> bool:
    """Make the order urgent and move it from the grid to the township tier (each once);
    whether it moved."""
    session, cfg = uow.session, uow.config
    taxonomy = cfg.taxonomy
    grid = taxonomy.tiers[0]
    upper = taxonomy.next_tier(grid)
    urgent = order.priority != Priority.URGENT.value
    move = upper is not None and order.tier == grid
    if not urgent and not move:
        return False
    record(session, order, action=RISK, actor="system", at=now, from_status=order.status,
           to_status=order.status, note=f"score:{score.score}")
    if urgent:
        record(session, order, action=PRIORITY, actor="system", at=now,
               from_status=order.status, to_status=order.status,
               note=f"from:{order.priority} to:{Priority.URGENT.value}")
        order.priority = Priority.URGENT.value
        limits = taxonomy.deadlines(order.category, Priority.URGENT, now)
        if limits.resolve_by < order.resolve_by:
            order.resolve_by = limits.resolve_by
            order.resolve_reminded_at = None
            order.overdue_notified_at = None
    if not move:
        if urgent and order.status == Status.PENDING.value:
            session.flush()
            dispatch(uow, order, now, notify_if_queued=False)  # the urgent rule may place it
        return False
    assert upper is not None
    _move_up(uow, order, upper, now)
    return True


def _move_up(uow: UnitOfWork, order: WorkOrder, upper: str, now: datetime) -> None:
    """Take the order back from its grid handler and dispatch it at ``upper`` (like an
    overdue escalation, but not breached; supervisors hear of it by the warning)."""
    session, cfg = uow.session, uow.config
    previous = order.assignee_id
    if Action.ESCALATE in allowed_actions(order.status):
        event = transition(session, order, Action.ESCALATE, actor="system", at=now,
                           note=f"tier:{order.tier}->{upper} handler:{previous} risk",
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
    else:  # pending or reopened: nobody holds it; it waits at the upper tier
        order.tier = upper
    session.flush()
    dispatch(uow, order, now, notify_if_queued=False)


__all__ = ["ScanReport", "dispute_facts", "forget_caches", "hour_of_week", "run_warning_scan"]
