"""The supervisors' dual scorecard: efficiency and satisfaction, over orders created in a period.

- 办结率 ``resolution_rate``: resolved (or closed/archived after resolution) / created;
  cancelled reports are left out of both (a withdrawn report is no work to do).
- 按时办结率 ``on_time_rate``: resolved within the limit and never breached / resolved.
- 签收及时率 ``accept_timely_rate``: accepted by ``accept_by`` / accepted (the
  current assignment's acceptance).
- 满意率 ``satisfaction_rate``: (satisfied + basically satisfied) / answered.
- ``avg_accept_minutes`` / ``avg_resolve_minutes``: from creation to acceptance /
  to resolution, what the resident waited.

Rates are None when their denominator is 0. Rows are aggregated in Python
from one streaming query, which is portable and fast enough for a county's
volume; move to SQL aggregates if a period holds millions of orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select

from ..adapters.orm import WorkOrder
from ..domain.lifecycle import Status
from .common import require_aware
from .errors import InvalidInput
from .uow import UnitOfWork

GroupBy = Literal["kind", "category", "area", "handler"] | None

RESOLVED = {Status.RESOLVED.value, Status.CLOSED.value, Status.ARCHIVED.value}
PLEASED = {"satisfied", "basically_satisfied"}


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


@dataclass
class _Tally:
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

    def add(
        self,
        status: str,
        created_at: datetime,
        accept_by: datetime | None,
        accepted_at: datetime | None,
        resolve_by: datetime,
        resolved_at: datetime | None,
        breached: bool,
        satisfaction: str | None,
    ) -> None:
        if status == Status.CANCELLED.value:
            self.cancelled += 1
            return
        self.created += 1
        if accepted_at is not None:
            self.accepted += 1
            self.accept_minutes += _minutes(created_at, accepted_at)
            if accept_by is not None and accepted_at <= accept_by:
                self.accepted_on_time += 1
        if status in RESOLVED and resolved_at is not None:
            self.resolved += 1
            self.resolve_minutes += _minutes(created_at, resolved_at)
            if not breached and resolved_at <= resolve_by:
                self.resolved_on_time += 1
        if satisfaction is not None:
            self.answered += 1
            if satisfaction in PLEASED:
                self.satisfied += 1

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
        )


def _ratio(part: float, whole: int) -> float | None:
    return None if whole == 0 else part / whole


def _minutes(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 60


def metrics(
    uow: UnitOfWork, period_start: datetime, period_end: datetime, group_by: GroupBy = None
) -> list[Metrics]:
    """Scorecards of orders created in ``[period_start, period_end)``, one per group.

    ``group_by``: ``"kind"`` (dispute, incident, request), ``"category"``
    (category code), ``"area"`` (grid code), ``"handler"`` (assignee id as
    text, ``"unassigned"`` for none) or None
    (one scorecard, ``group`` None, even for an empty period). Sorted by group.
    """
    require_aware(period_start)
    require_aware(period_end)
    columns = {"kind": WorkOrder.kind, "category": WorkOrder.category,
               "area": WorkOrder.area_code, "handler": WorkOrder.assignee_id}
    if group_by is not None and group_by not in columns:
        raise InvalidInput("group_by", "must be kind, category, area, handler or None",
                           "分组方式不正确。")
    stmt = select(
        WorkOrder.status, WorkOrder.created_at, WorkOrder.accept_by, WorkOrder.accepted_at,
        WorkOrder.resolve_by, WorkOrder.resolved_at, WorkOrder.breached, WorkOrder.satisfaction,
        (columns[group_by] if group_by else WorkOrder.id).label("group_key"),
    ).where(WorkOrder.created_at >= period_start, WorkOrder.created_at < period_end)
    tallies: dict[str | None, _Tally] = {}
    with uow.read_only():
        for row in uow.session.execute(stmt).yield_per(1000):
            tallies.setdefault(_key(group_by, row.group_key), _Tally()).add(*row[:-1])
    if group_by is None:
        return [tallies.get(None, _Tally()).result(None)]
    return [tallies[k].result(k) for k in sorted(tallies, key=str)]


def _key(group_by: GroupBy, value: object) -> str | None:
    if group_by is None:
        return None
    if value is None:
        return "unassigned"
    return str(value)

