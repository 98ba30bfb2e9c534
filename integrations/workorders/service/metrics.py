"""The supervisors' dual scorecard: efficiency and satisfaction, over orders created in a period.

- 办结率 ``resolution_rate``: resolved (or closed/archived after resolution) / created;
  cancelled reports are left out of both (a withdrawn report is no work to do).
- 按时办结率 ``on_time_rate``: resolved within the limit and never breached / resolved.
- 签收及时率 ``accept_timely_rate``: accepted by ``accept_by`` / accepted (the
  current assignment's acceptance).
- 满意率 ``satisfaction_rate``: (satisfied + basically satisfied) / answered.
- ``avg_accept_minutes`` / ``avg_resolve_minutes``: from creation to acceptance /
  to resolution, what the resident waited.
- 重复诉求率 ``repeat_rate``: orders that are the trigger of a ``repeat`` warning
  (研判预警: a new report of a matter resolved or closed lately) / created;
  ``repeats`` counts them.

Rates are None when their denominator is 0. The counts are SQL aggregates
(``SUM(CASE ...)`` grouped by the database, ``TALLY_COLUMNS``); the rates are
computed from them here (``Tally.result``). Both are the only copy of these
definitions: the dashboard (``service.dashboard``) and the exports use them too.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Float, and_, case, exists, func, not_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from ..adapters.orm import RiskWarning, WarningOrder, WorkOrder
from ..domain.lifecycle import Status
from .common import require_aware
from .errors import InvalidInput
from .uow import UnitOfWork

GroupBy = Literal["kind", "category", "area", "handler", "tier"] | None

RESOLVED = {Status.RESOLVED.value, Status.CLOSED.value, Status.ARCHIVED.value}
PLEASED = {"satisfied", "basically_satisfied"}

#: The order column of each ``group_by``.
GROUP_COLUMNS: Mapping[str, Any] = {
    "kind": WorkOrder.kind, "category": WorkOrder.category, "area": WorkOrder.area_code,
    "handler": WorkOrder.assignee_id, "tier": WorkOrder.tier,
}

#: The scorecard's fields as supervisors read them.
LABELS_ZH: dict[str, str] = {
    "created": "受理量",
    "cancelled": "撤销量",
    "resolved": "办结量",
    "resolved_on_time": "按时办结量",
    "accepted": "签收量",
    "accepted_on_time": "按时签收量",
    "answered": "回访量",
    "satisfied": "满意量",
    "resolution_rate": "办结率",
    "on_time_rate": "按时办结率",
    "accept_timely_rate": "签收及时率",
    "satisfaction_rate": "满意率",
    "avg_accept_minutes": "平均签收用时（分钟）",
    "avg_resolve_minutes": "平均办结用时（分钟）",
    "repeats": "重复诉求量",
    "repeat_rate": "重复诉求率",
}


@dataclass(frozen=True)
class Metrics:
    """The scorecard of one group (``group`` None: all orders of the period)."""

    group: str | None
    created: int
    cancelled: int
    resolved: int
    resolved_on_time: int
    accepted: int
    accepted_on_time: int
    answered: int
    satisfied: int
    resolution_rate: float | None
    on_time_rate: float | None
    accept_timely_rate: float | None
    satisfaction_rate: float | None
    avg_accept_minutes: float | None
    avg_resolve_minutes: float | None
    repeats: int = 0
    repeat_rate: float | None = None


class minutes_between(FunctionElement[float]):  # noqa: N801 (an SQL function)
    """``end - start`` in minutes, on SQLite and PostgreSQL (millisecond precision)."""

    type = Float()
    inherit_cache = True
    name = "minutes_between"


@compiles(minutes_between)
def _minutes_default(element: minutes_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"(CAST(EXTRACT(EPOCH FROM ({end} - {start})) AS DOUBLE PRECISION) / 60.0)"


@compiles(minutes_between, "sqlite")
def _minutes_sqlite(element: minutes_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    # julianday is a double; rounded to the millisecond, whole minutes come out exact
    return f"(ROUND((julianday({end}) - julianday({start})) * 86400.0, 3) / 60.0)"


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _total(condition: ColumnElement[bool], value: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, value), else_=0.0)), 0.0)


_W = WorkOrder
_KEPT = _W.status != Status.CANCELLED.value
_ACCEPTED = and_(_KEPT, _W.accepted_at.is_not(None))
_RESOLVED = and_(_KEPT, _W.status.in_(sorted(RESOLVED)), _W.resolved_at.is_not(None))
#: the order is the trigger of a repeat warning (重复诉求)
_REPEAT = exists().where(
    WarningOrder.order_id == _W.id, WarningOrder.role == "trigger",
    RiskWarning.id == WarningOrder.warning_id, RiskWarning.kind == "repeat")

#: The scorecard's counts and sums as SQL aggregates over ``work_orders`` rows (one copy).
TALLY_COLUMNS: dict[str, ColumnElement[Any]] = {
    "created": _count(_KEPT),
    "cancelled": _count(_W.status == Status.CANCELLED.value),
    "resolved": _count(_RESOLVED),
    "resolved_on_time": _count(and_(_RESOLVED, not_(_W.breached),
                                    _W.resolved_at <= _W.resolve_by)),
    "accepted": _count(_ACCEPTED),
    "accepted_on_time": _count(and_(_ACCEPTED, _W.accept_by.is_not(None),
                                    _W.accepted_at <= _W.accept_by)),
    "answered": _count(and_(_KEPT, _W.satisfaction.is_not(None))),
    "satisfied": _count(and_(_KEPT, _W.satisfaction.in_(sorted(PLEASED)))),
    "accept_minutes": _total(_ACCEPTED, minutes_between(_W.created_at, _W.accepted_at)),
    "resolve_minutes": _total(_RESOLVED, minutes_between(_W.created_at, _W.resolved_at)),
    "repeats": _count(and_(_KEPT, _REPEAT)),
}


@dataclass
class Tally:
    """The summed counts of some orders; tallies add up (``+``), rates come from ``result``."""

    created: int = 0
    cancelled: int = 0
    resolved: int = 0
    resolved_on_time: int = 0
    accepted: int = 0
    accepted_on_time: int = 0
    answered: int = 0
    satisfied: int = 0
    accept_minutes: float = 0.0
    resolve_minutes: float = 0.0
    repeats: int = 0

    @classmethod
    def from_row(cls, row: Any) -> Tally:
        """The tally of a result row carrying ``TALLY_COLUMNS`` (or some of them) by name."""
        mapping = row._mapping
        values: dict[str, Any] = {
            f.name: (float if f.type == "float" else int)(mapping.get(f.name) or 0)
            for f in fields(cls)}
        return cls(**values)

    def __add__(self, other: Tally) -> Tally:
        return Tally(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                        for f in fields(self)})

    def result(self, group: str | None) -> Metrics:
        return Metrics(
            group=group,
            created=self.created,
            cancelled=self.cancelled,
            resolved=self.resolved,
            resolved_on_time=self.resolved_on_time,
            accepted=self.accepted,
            accepted_on_time=self.accepted_on_time,
            answered=self.answered,
            satisfied=self.satisfied,
            resolution_rate=_ratio(self.resolved, self.created),
            on_time_rate=_ratio(self.resolved_on_time, self.resolved),
            accept_timely_rate=_ratio(self.accepted_on_time, self.accepted),
            satisfaction_rate=_ratio(self.satisfied, self.answered),
            avg_accept_minutes=_ratio(self.accept_minutes, self.accepted),
            avg_resolve_minutes=_ratio(self.resolve_minutes, self.resolved),
            repeats=self.repeats,
            repeat_rate=_ratio(self.repeats, self.created),
        )


def _ratio(part: float, whole: int) -> float | None:
    return None if whole == 0 else part / whole


def period_filter(
    period_start: datetime, period_end: datetime, area_codes: Collection[str] | None = None
) -> list[ColumnElement[bool]]:
    """Orders created in ``[period_start, period_end)``, in ``area_codes`` (grids) if given."""
    where = [WorkOrder.created_at >= period_start, WorkOrder.created_at < period_end]
    if area_codes is not None:
        where.append(WorkOrder.area_code.in_(sorted(area_codes)))
    return where


def group_key(group_by: str, value: object) -> str:
    """A group's key as text (``"unassigned"`` for orders nobody holds)."""
    if value is None:
        return "unassigned" if group_by == "handler" else ""
    return str(value)


def tallies(
    uow: UnitOfWork,
    period_start: datetime,
    period_end: datetime,
    group_by: Sequence[str],
    area_codes: Collection[str] | None = None,
) -> dict[tuple[str, ...], Tally]:
    """One ``GROUP BY`` query: the tally of each combination of ``group_by`` values.

    Keys are tuples of ``group_key`` texts in ``group_by`` order (``()`` when
    ``group_by`` is empty); groups without orders are absent.
    """
    require_aware(period_start)
    require_aware(period_end)
    for name in group_by:
        if name not in GROUP_COLUMNS:
            raise InvalidInput("group_by", "must be kind, category, area, handler, tier or None",
                               "分组方式不正确。")
    keys = [GROUP_COLUMNS[name].label(f"g_{name}") for name in group_by]
    stmt = (select(*keys, *(c.label(n) for n, c in TALLY_COLUMNS.items()))
            .where(*period_filter(period_start, period_end, area_codes)))
    if keys:
        stmt = stmt.group_by(*(GROUP_COLUMNS[name] for name in group_by))
    found: dict[tuple[str, ...], Tally] = {}
    with uow.read_only():
        for row in uow.session.execute(stmt):
            key = tuple(group_key(name, row[i]) for i, name in enumerate(group_by))
            tally = Tally.from_row(row)
            found[key] = found[key] + tally if key in found else tally
    if not group_by:
        return {(): found.get((), Tally())}
    return found


def fold(found: Mapping[tuple[str, ...], Tally], index: int) -> dict[str, Tally]:
    """``found`` summed by its ``index``-th key (e.g. area out of area x category)."""
    out: dict[str, Tally] = {}
    for key, tally in found.items():
        out[key[index]] = out[key[index]] + tally if key[index] in out else tally
    return out


def cards(by_group: Mapping[str, Tally]) -> list[Metrics]:
    """Scorecards of ``by_group``, sorted by group."""
    return [by_group[k].result(k) for k in sorted(by_group)]


def metrics(
    uow: UnitOfWork, period_start: datetime, period_end: datetime, group_by: GroupBy = None
) -> list[Metrics]:
    """Scorecards of orders created in ``[period_start, period_end)``, one per group.

    ``group_by``: ``"kind"`` (dispute, incident, request), ``"category"``
    (category code), ``"area"`` (grid code), ``"handler"`` (assignee id as
    text, ``"unassigned"`` for none), ``"tier"`` (the tier handling it) or None
    (one scorecard, ``group`` None, even for an empty period). Sorted by group.
    """
    if group_by is not None and group_by not in GROUP_COLUMNS:
        raise InvalidInput("group_by", "must be kind, category, area, handler, tier or None",
                           "分组方式不正确。")
    if group_by is None:
        return [tallies(uow, period_start, period_end, ())[()].result(None)]
    return cards(fold(tallies(uow, period_start, period_end, (group_by,)), 0))
