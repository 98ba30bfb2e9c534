"""``/api/v1/metrics``: the dual scorecard (efficiency and satisfaction) and the dashboard."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, BackgroundTasks, Depends, Query

from ...service import InvalidInput, UnitOfWork, metrics
from ...service.dashboard import (
    Bucket,
    audit_check_due,
    dashboard,
    group_labels,
    refresh_audit_check,
)
from ..access import areas_below
from ..deps import DISPATCHER, OVERSIGHT, NowDep, Principal, StateDep, UowDep
from ..schemas.common import AUTH_ERRORS, ErrorBody
from ..schemas.dashboard import DashboardPublic
from ..schemas.metrics import GroupBy, MetricsPublic, ScorecardPublic
from ..times import aware
from . import API_V1

router = APIRouter(prefix=f"{API_V1}/metrics", tags=["metrics"],
                   responses={**AUTH_ERRORS, 422: {"model": ErrorBody}})

DEFAULT_PERIOD = timedelta(days=30)

FromQuery = Annotated[datetime | None, Query(
    alias="from", description="Inclusive; default 30 days ago; naive = China time")]
ToQuery = Annotated[datetime | None, Query(alias="to", description="Exclusive; default now")]


def period(period_from: datetime | None, period_to: datetime | None,
           now: datetime) -> tuple[datetime, datetime]:
    """``[from, to)`` of a request: naive times are China time; default the last 30 days."""
    end = aware(period_to) or now
    start = aware(period_from) or end - DEFAULT_PERIOD
    if start >= end:
        raise InvalidInput("from", "must be before 'to'", "开始时间必须早于结束时间。")
    return start, end


@router.get("", response_model=MetricsPublic,
            summary="办结率, 按时办结率, 签收及时率, 满意率 and times, over orders created in a period")
def scorecard(
    uow: UowDep,
    now: NowDep,
    principal: Annotated[Principal, Depends(OVERSIGHT)],
    period_from: FromQuery = None,
    period_to: ToQuery = None,
    group_by: GroupBy | None = None,
) -> MetricsPublic:
    start, end = period(period_from, period_to, now)
    cards = metrics(uow, start, end, group_by)
    labels = group_labels(uow, group_by) if group_by else {}
    return MetricsPublic(
        period_start=start, period_end=end, group_by=group_by,
        groups=[ScorecardPublic.from_metrics(m, labels.get(m.group or "", None)) for m in cards],
    )


@router.get("/dashboard", response_model=DashboardPublic,
            summary="The supervisors' dashboard: scorecards, trend, backlog, reasons, audit state")
def dashboard_view(
    uow: UowDep,
    now: NowDep,
    state: StateDep,
    background: BackgroundTasks,
    principal: Annotated[Principal, Depends(OVERSIGHT)],
    period_from: FromQuery = None,
    period_to: ToQuery = None,
    bucket: Annotated[Bucket | None, Query(
        description="Trend step; default by the period's length (day, week, month)")] = None,
) -> DashboardPublic:
    """Dispatchers see their areas only (and no audit state); supervisors and admins all.

    The audit state is the latest stored check; when it is older than 30
    minutes, a new check runs after this response is sent.
    """
    start, end = period(period_from, period_to, now)
    scope = areas_below(uow, principal.areas) if principal.role == DISPATCHER else None
    board = dashboard(uow, start, end, area_codes=scope, bucket=bucket, now=now)
    if scope is None and audit_check_due(board.audit, now):
        background.add_task(check_audit_chains_aside, state.app.uow, now)
    return DashboardPublic.of(board)


async def check_audit_chains_aside(uow_factory: Callable[[], UnitOfWork], now: datetime) -> None:
    """``refresh_audit_check`` in a thread of its own: the check takes seconds to minutes
    at 100,000s of orders, and must not hold one of the few request threads meanwhile."""
    await to_thread.run_sync(refresh_audit_check, uow_factory, now, limiter=CapacityLimiter(1))
