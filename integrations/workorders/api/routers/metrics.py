"""``/api/v1/metrics``: the dual scorecard (efficiency and satisfaction) for supervisors."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from ...service import InvalidInput, UnitOfWork, list_areas, list_handlers, metrics
from ..deps import OVERSIGHT, NowDep, Principal, UowDep
from ..schemas.common import AUTH_ERRORS, ErrorBody
from ..schemas.metrics import GroupBy, MetricsPublic, ScorecardPublic
from ..times import aware
from . import API_V1

router = APIRouter(prefix=f"{API_V1}/metrics", tags=["metrics"],
                   responses={**AUTH_ERRORS, 422: {"model": ErrorBody}})

DEFAULT_PERIOD = timedelta(days=30)


def _labels(uow: UnitOfWork, group_by: GroupBy | None) -> dict[str, str]:
    if group_by == "kind":
        return dict(uow.config.taxonomy.kind_names)
    if group_by == "category":
        return {code: c.name for code, c in uow.config.taxonomy.categories.items()}
    if group_by == "area":
        return {a.code: a.name for a in list_areas(uow)}
    if group_by == "handler":
        return {str(h.id): h.name for h in list_handlers(uow)} | {"unassigned": "未派单"}
    return {}


@router.get("", response_model=MetricsPublic,
            summary="办结率, 按时办结率, 签收及时率, 满意率 and times, over orders created in a period")
def scorecard(
    uow: UowDep,
    now: NowDep,
    principal: Annotated[Principal, Depends(OVERSIGHT)],
    period_from: Annotated[datetime | None, Query(alias="from",
                                                  description="Inclusive; default 30 days ago; "
                                                  "naive = China time")] = None,
    period_to: Annotated[datetime | None, Query(alias="to", description="Exclusive; default now")] = None,
    group_by: GroupBy | None = None,
) -> MetricsPublic:
    end = aware(period_to) or now
    start = aware(period_from) or end - DEFAULT_PERIOD
    if start >= end:
        raise InvalidInput("from", "must be before 'to'", "开始时间必须早于结束时间。")
    cards = metrics(uow, start, end, group_by)
    labels = _labels(uow, group_by)
    return MetricsPublic(
        period_start=start, period_end=end, group_by=group_by,
        groups=[ScorecardPublic.from_metrics(m, labels.get(m.group or "", None)) for m in cards],
    )
