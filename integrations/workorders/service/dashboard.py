"""The supervisors' dashboard (数据看板): what the console's dashboard page and
``GET /api/v1/metrics/dashboard`` show, in a few SQL aggregates.

    board = dashboard(uow, start, end, area_codes=None, bucket=None, now=now)

For orders created in ``[start, end)`` (in ``area_codes`` only, for a
dispatcher: pass the grids of their areas):

- the scorecard (``service.metrics``: the one copy of the rate definitions)
  overall and by area (grid), category, handler and tier: one ``GROUP BY``
  query whose rows are summed here;
- a trend: per day, week or month (China time, ``CHINA_TZ``) of creation,
  the orders created, resolved, resolved on time, answered and satisfied,
  and their rates; buckets without orders are there with zeros;
- the area x category counts (受理量) of the period;
- the reasons residents gave with 不满意 in the period (the note of their
  ``unsatisfied`` audit event, ``不满意：<reason>``), newest first.

Whatever the period: the backlog, open orders by age now (``AGE_BUCKETS``),
and the audit-chain state. Verifying every chain hashes every event (seconds
at 100,000 orders), so the dashboard shows the latest stored check
(``latest_audit_check``), and whoever shows it runs ``refresh_audit_check``
after answering when the check is older than ``AUDIT_CHECK_EVERY``. The audit
state is for supervisors and admins (None for a scoped caller).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, case, delete, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Date

from ..adapters.orm import Area, AuditCheck, Handler, OrderEvent, WorkOrder
from ..domain.lifecycle import Action
from .audit_trail import verify_audit
from .common import category_label, require_aware
from .config import CHINA_TZ
from .errors import InvalidInput
from .handlers import NAME_CONTEXT
from .messages import TIER_NAMES
from .metrics import TALLY_COLUMNS, Metrics, Tally, fold, group_key, period_filter
from .queries import BEING_HANDLED
from .uow import UnitOfWork
from .views import SATISFACTION_LABELS

Bucket = Literal["day", "week", "month"]
BUCKETS: tuple[str, ...] = ("day", "week", "month")
#: The groups of the dashboard's scorecards, in the order the page shows them.
DASHBOARD_GROUPS = ("area", "category", "handler", "tier")
#: Open orders by age (days since created): label, from (inclusive), to (exclusive; None: on).
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("<1天", 0, 1), ("1–3天", 1, 3), ("3–7天", 3, 7), ("7–30天", 7, 30), (">30天", 30, None),
)
#: The most reasons the dashboard lists (the newest; the counts cover them all).
MAX_REASONS = 50
#: The audit-chain check shown is at most this old (then it is run again, after answering).
AUDIT_CHECK_EVERY = timedelta(minutes=30)
#: Stored checks kept (older ones are deleted by the next check).
AUDIT_CHECKS_KEPT = 100
#: Period lengths up to which the trend goes by day, then by week; longer: by month.
DAILY_UP_TO = timedelta(days=62)
WEEKLY_UP_TO = timedelta(days=366)

_UNSATISFIED_PREFIX = SATISFACTION_LABELS["unsatisfied"] + "："


# ----------------------------------------------------------------------- results


@dataclass(frozen=True)
class GroupCard:
    """One group's scorecard: ``group`` its key (grid code, category code, handler id,
    ``"unassigned"``, tier), ``label`` its Chinese name."""

    group: str
    label: str
    card: Metrics


@dataclass(frozen=True)
class TrendPoint:
    """Orders created in ``[start, end)`` (China dates): counts and rates of the scorecard."""

    start: date
    end: date
    created: int
    resolved: int
    resolved_on_time: int
    answered: int
    satisfied: int
    resolution_rate: float | None
    on_time_rate: float | None
    satisfaction_rate: float | None


@dataclass(frozen=True)
class BacklogBucket:
    """Open orders whose age is in ``[min_days, max_days)``; ``overdue``: past ``resolve_by``."""

    label: str
    min_days: int
    max_days: int | None
    count: int
    overdue: int


@dataclass(frozen=True)
class AreaCategoryCount:
    """受理量 of one grid and category in the period."""

    area_code: str
    area_label: str
    category: str
    category_label: str
    created: int


@dataclass(frozen=True)
class UnsatisfiedReason:
    """A resident's 不满意 answer; ``reason`` None when they gave none."""

    number: str
    at: datetime
    area_code: str
    category: str
    category_label: str
    reason: str | None


@dataclass(frozen=True)
class AuditState:
    """The latest audit-chain check: when, how long, and the first broken event if any."""

    checked_at: datetime
    seconds: float
    orders: int
    broken: int
    first_number: str | None
    first_seq: int | None

    @property
    def ok(self) -> bool:
        return self.broken == 0


@dataclass(frozen=True)
class Dashboard:
    """Everything the dashboard page shows (see the module docstring)."""

    period_start: datetime
    period_end: datetime
    bucket: Bucket
    #: the caller sees only some areas (a dispatcher)
    scoped: bool
    overall: Metrics
    by_area: list[GroupCard]
    by_category: list[GroupCard]
    by_handler: list[GroupCard]
    by_tier: list[GroupCard]
    trend: list[TrendPoint]
    #: open orders by age at ``now``
    backlog: list[BacklogBucket]
    now: datetime
    area_category: list[AreaCategoryCount]
    #: the newest ``MAX_REASONS`` 不满意 answers of the period, and how many there were
    unsatisfied: list[UnsatisfiedReason]
    unsatisfied_total: int
    unsatisfied_with_reason: int
    #: None: not checked yet, or a scoped caller
    audit: AuditState | None


# ------------------------------------------------------------------- SQL helpers


class china_day(FunctionElement[date]):  # noqa: N801 (an SQL function)
    """The China-time calendar day of a UTC datetime column (a date, or ISO text on SQLite)."""

    type = Date()
    inherit_cache = True
    name = "china_day"


def _offset_hours() -> int:
    offset = CHINA_TZ.utcoffset(None)
    assert offset is not None
    return int(offset.total_seconds() // 3600)


@compiles(china_day)
def _china_day_default(element: china_day, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = (compiler.process(c, **kw) for c in element.clauses)
    return (f"CAST(({column} AT TIME ZONE 'UTC') + INTERVAL '{_offset_hours()} hours' AS DATE)")


@compiles(china_day, "sqlite")
def _china_day_sqlite(element: china_day, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = (compiler.process(c, **kw) for c in element.clauses)
    return f"date({column}, '{_offset_hours():+d} hours')"


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


#: What the trend counts (the times' sums are not drawn: cheaper per row).
TREND_COLUMNS = ("created", "resolved", "resolved_on_time", "answered", "satisfied")


def _tally_stmt(keys: list[Any], where: list[ColumnElement[bool]],
                names: Collection[str] = tuple(TALLY_COLUMNS)) -> Any:
    stmt = select(*keys, *(TALLY_COLUMNS[n].label(n) for n in names)).where(*where)
    return stmt.group_by(*keys) if keys else stmt


# ----------------------------------------------------------------------- buckets


def choose_bucket(period_start: datetime, period_end: datetime) -> Bucket:
    """Days up to two months, weeks up to a year, months beyond."""
    length = period_end - period_start
    if length <= DAILY_UP_TO:
        return "day"
    return "week" if length <= WEEKLY_UP_TO else "month"


def bucket_start(day: date, bucket: Bucket) -> date:
    """The first day of the bucket holding ``day`` (weeks start on Monday)."""
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    return day


def _next(start: date, bucket: Bucket) -> date:
    if bucket == "day":
        return start + timedelta(days=1)
    if bucket == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def _buckets(period_start: datetime, period_end: datetime, bucket: Bucket) -> list[date]:
    first = period_start.astimezone(CHINA_TZ).date()
    last = (period_end - timedelta(microseconds=1)).astimezone(CHINA_TZ).date()
    starts, current = [], bucket_start(first, bucket)
    while current <= last:
        starts.append(current)
        current = _next(current, bucket)
    return starts


# ------------------------------------------------------------------------ labels


def group_labels(uow: UnitOfWork, group_by: str) -> dict[str, str]:
    """Chinese names of the group keys of ``group_by`` (kind, category, area, handler, tier)."""
    with uow.read_only():
        return labels_in(uow, uow.session, group_by)


def labels_in(uow: UnitOfWork, session: Session, group_by: str) -> dict[str, str]:
    """``group_labels`` within an open read (``session`` of ``uow``)."""
    taxonomy = uow.config.taxonomy
    if group_by == "kind":
        return dict(taxonomy.kind_names)
    if group_by == "category":
        return {code: c.name for code, c in taxonomy.categories.items()}
    if group_by == "tier":
        return dict(TIER_NAMES)
    if group_by == "area":
        return dict(session.execute(select(Area.code, Area.name)).tuples().all())
    if group_by == "handler":
        vault = uow.config.vault
        names = {str(i): vault.decrypt(enc, context=NAME_CONTEXT) or str(i)
                 for i, enc in session.execute(select(Handler.id, Handler.name_enc))}
        return names | {"unassigned": "未派单"}
    return {}


# --------------------------------------------------------------------- dashboard


def dashboard(
    uow: UnitOfWork,
    period_start: datetime,
    period_end: datetime,
    *,
    area_codes: Collection[str] | None = None,
    bucket: Bucket | None = None,
    now: datetime,
) -> Dashboard:
    """The dashboard of orders created in ``[period_start, period_end)`` (module docstring).

    ``area_codes``: the grids a scoped caller sees (None: all, and the audit
    state). ``bucket``: the trend's step; None chooses by the period's length
    (``choose_bucket``). ``InvalidInput`` for an empty period or another bucket.
    """
    for moment in (period_start, period_end, now):
        require_aware(moment)
    if period_start >= period_end:
        raise InvalidInput("from", "must be before 'to'", "开始时间必须早于结束时间。")
    if bucket is not None and bucket not in BUCKETS:
        raise InvalidInput("bucket", "must be day, week or month", "统计粒度只能是日、周或月。")
    step: Bucket = bucket or choose_bucket(period_start, period_end)
    taxonomy = uow.config.taxonomy
    where = period_filter(period_start, period_end, area_codes)
    with uow.read_only():
        session = uow.session
        labels = {name: labels_in(uow, session, name) for name in DASHBOARD_GROUPS}
        keys = [WorkOrder.area_code, WorkOrder.category, WorkOrder.assignee_id, WorkOrder.tier]
        found: dict[tuple[str, ...], Tally] = {}
        for row in session.execute(_tally_stmt(keys, where)):
            key = tuple(group_key(name, row[i]) for i, name in enumerate(DASHBOARD_GROUPS))
            found[key] = Tally.from_row(row)
        day = china_day(WorkOrder.created_at)
        by_day = {_as_date(row[0]): Tally.from_row(row)
                  for row in session.execute(_tally_stmt([day], where, TREND_COLUMNS))}
        backlog = _backlog(session, area_codes, now)
        reasons, total, with_reason = _unsatisfied(session, period_start, period_end, area_codes)
        audit = None if area_codes is not None else _latest_check(session)

    def grouped(index: int) -> list[GroupCard]:
        by = fold(found, index)
        names = labels[DASHBOARD_GROUPS[index]]
        return [GroupCard(k, names.get(k, k), by[k].result(k)) for k in sorted(by)]

    overall = sum(found.values(), Tally()).result(None)
    area_category = [
        AreaCategoryCount(area, labels["area"].get(area, area), category,
                          category_label(taxonomy, category), tally.created)
        for (area, category), tally in sorted(_fold2(found).items()) if tally.created
    ]
    return Dashboard(
        period_start=period_start, period_end=period_end, bucket=step,
        scoped=area_codes is not None, overall=overall,
        by_area=grouped(0), by_category=grouped(1), by_handler=grouped(2), by_tier=grouped(3),
        trend=_trend(by_day, period_start, period_end, step), backlog=backlog, now=now,
        area_category=area_category,
        unsatisfied=[UnsatisfiedReason(n, at, a, c, category_label(taxonomy, c), r)
                     for n, at, a, c, r in reasons],
        unsatisfied_total=total, unsatisfied_with_reason=with_reason, audit=audit,
    )


def _fold2(found: dict[tuple[str, ...], Tally]) -> dict[tuple[str, str], Tally]:
    out: dict[tuple[str, str], Tally] = {}
    for key, tally in found.items():
        pair = (key[0], key[1])
        out[pair] = out[pair] + tally if pair in out else tally
    return out


def _trend(by_day: dict[date, Tally], period_start: datetime, period_end: datetime,
           step: Bucket) -> list[TrendPoint]:
    sums = {start: Tally() for start in _buckets(period_start, period_end, step)}
    for day, tally in by_day.items():
        start = bucket_start(day, step)
        if start in sums:
            sums[start] = sums[start] + tally
    points = []
    for start, tally in sums.items():
        card = tally.result(None)
        points.append(TrendPoint(
            start=start, end=_next(start, step), created=card.created, resolved=card.resolved,
            resolved_on_time=card.resolved_on_time, answered=card.answered,
            satisfied=card.satisfied, resolution_rate=card.resolution_rate,
            on_time_rate=card.on_time_rate, satisfaction_rate=card.satisfaction_rate,
        ))
    return points


def _backlog(session: Session, area_codes: Collection[str] | None,
             now: datetime) -> list[BacklogBucket]:
    created, columns = WorkOrder.created_at, []
    overdue = WorkOrder.resolve_by < now
    for _, low, high in AGE_BUCKETS:
        condition = created <= now - timedelta(days=low)
        if high is not None:
            condition = and_(condition, created > now - timedelta(days=high))
        columns.append(func.coalesce(func.sum(case((condition, 1), else_=0)), 0))
        columns.append(func.coalesce(func.sum(case((and_(condition, overdue), 1), else_=0)), 0))
    stmt = select(*columns).where(WorkOrder.status.in_(BEING_HANDLED))
    if area_codes is not None:
        stmt = stmt.where(WorkOrder.area_code.in_(sorted(area_codes)))
    row = session.execute(stmt).one()
    return [BacklogBucket(label, low, high, int(row[2 * i] or 0), int(row[2 * i + 1] or 0))
            for i, (label, low, high) in enumerate(AGE_BUCKETS)]


def reason_of(note: str | None) -> str | None:
    """The reason in a resident's 不满意 note (``不满意：<reason>``), None if they gave none."""
    if note and note.startswith(_UNSATISFIED_PREFIX):
        return note[len(_UNSATISFIED_PREFIX):].strip() or None
    return None


def _unsatisfied(
    session: Session, period_start: datetime, period_end: datetime,
    area_codes: Collection[str] | None,
) -> tuple[list[tuple[str, datetime, str, str, str | None]], int, int]:
    where = [OrderEvent.action == Action.UNSATISFIED.value, OrderEvent.actor == "resident",
             OrderEvent.at >= period_start, OrderEvent.at < period_end]
    if area_codes is not None:
        where.append(WorkOrder.area_code.in_(sorted(area_codes)))
    joined = select(OrderEvent.at).join(WorkOrder, WorkOrder.id == OrderEvent.order_id)
    has_reason = OrderEvent.note.like(_UNSATISFIED_PREFIX + "_%")
    total, with_reason = session.execute(
        joined.with_only_columns(
            func.count(), func.coalesce(func.sum(case((has_reason, 1), else_=0)), 0)
        ).where(*where)
    ).one()
    rows = session.execute(
        joined.add_columns(OrderEvent.note, WorkOrder.number, WorkOrder.area_code,
                           WorkOrder.category)
        .where(*where).order_by(OrderEvent.at.desc(), OrderEvent.id.desc()).limit(MAX_REASONS)
    ).all()
    reasons = [(number, at, area, category, reason_of(note))
               for at, note, number, area, category in rows]
    return reasons, int(total or 0), int(with_reason or 0)


# ------------------------------------------------------------------- audit chain


def _state(row: AuditCheck) -> AuditState:
    return AuditState(checked_at=row.checked_at, seconds=row.seconds, orders=row.orders,
                      broken=row.broken, first_number=row.first_number, first_seq=row.first_seq)


def _latest_check(session: Session) -> AuditState | None:
    row = session.scalar(select(AuditCheck).order_by(AuditCheck.checked_at.desc(),
                                                     AuditCheck.id.desc()).limit(1))
    return None if row is None else _state(row)


def latest_audit_check(uow: UnitOfWork) -> AuditState | None:
    """The latest stored audit-chain check, None if there was none."""
    with uow.read_only():
        return _latest_check(uow.session)


def audit_check_due(state: AuditState | None, now: datetime) -> bool:
    """Whether the shown check is missing or older than ``AUDIT_CHECK_EVERY``."""
    return state is None or now - state.checked_at >= AUDIT_CHECK_EVERY


def check_audit_chains(uow: UnitOfWork, now: datetime) -> AuditState:
    """Verify every order's chain (``verify_audit``) now and store the result."""
    require_aware(now)
    started = time.perf_counter()
    broken = verify_audit(uow)
    with uow.read_only():
        orders = uow.session.scalar(select(func.count()).select_from(WorkOrder)) or 0
    seconds = time.perf_counter() - started
    first = broken[0] if broken else (None, None)
    with uow:
        session = uow.session
        row = AuditCheck(checked_at=now, seconds=round(seconds, 3), orders=orders,
                         broken=len(broken), first_number=first[0], first_seq=first[1])
        session.add(row)
        session.flush()
        session.execute(delete(AuditCheck).where(AuditCheck.id <= row.id - AUDIT_CHECKS_KEPT))
        state = _state(row)
        uow.commit()
    return state


_CHECKING = threading.Lock()


def refresh_audit_check(uow_factory: Callable[[], UnitOfWork], now: datetime) -> AuditState | None:
    """``check_audit_chains`` if the latest check is due and no other thread of this
    process is checking; the new state, or None if nothing was run."""
    if not _CHECKING.acquire(blocking=False):
        return None
    try:
        if not audit_check_due(latest_audit_check(uow_factory()), now):
            return None
        return check_audit_chains(uow_factory(), now)
    finally:
        _CHECKING.release()
