"""``/api/v1/reports/weekly``: the weekly 研判 reports of a township or the county.

Dispatchers read the reports of their areas (a report of an area they cover or
one under it), supervisors and admins all; handlers and the channel accounts
403. A report that does not exist yet is built when asked for; ``POST``
rebuilds it (both name the caller as its author).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from ...service import NotFound, UnitOfWork
from ...service.config import CHINA_TZ
from ...service.weekly_reports import (
    WeeklyReportView,
    build_weekly_report,
    get_weekly_report,
    last_complete_week,
    list_weekly_reports,
    may_read,
    parse_week,
)
from ..access import dispatcher_scope
from ..deps import OVERSIGHT, NowDep, Principal, UowDep
from ..schemas.common import AUTH_ERRORS, ErrorBody
from ..schemas.reports import (
    WeeklyReportListPublic,
    WeeklyReportPublic,
    WeeklyReportRequest,
    WeeklyReportSummaryPublic,
)
from . import API_V1

router = APIRouter(
    prefix=f"{API_V1}/reports",
    tags=["reports"],
    responses={**AUTH_ERRORS,
               404: {"model": ErrorBody, "description": "No such area (for this caller)"},
               422: {"model": ErrorBody}},
)

Reader = Annotated[Principal, Depends(OVERSIGHT)]
AreaQuery = Annotated[str, Query(min_length=1, max_length=64,
                                 description="A township's or the county's area code")]
WeekQuery = Annotated[str | None, Query(
    description="The week's Monday, YYYY-MM-DD (China time); default the last complete week")]


def _readable(uow: UnitOfWork, principal: Principal, area: str) -> None:
    if not may_read(uow, area, dispatcher_scope(principal)):
        raise NotFound("area", area)


@router.get("/weekly", response_model=WeeklyReportPublic,
            summary="A weekly 研判 report (built now if it does not exist yet)")
def weekly_report(uow: UowDep, now: NowDep, principal: Reader, area: AreaQuery,
                  week: WeekQuery = None) -> WeeklyReportPublic:
    _readable(uow, principal, area)
    monday = parse_week(week) if week else last_complete_week(now, CHINA_TZ)
    view: WeeklyReportView | None = get_weekly_report(uow, area, monday)
    if view is None:
        view = build_weekly_report(uow, area, monday, now=now, actor=principal.actor)
    return WeeklyReportPublic.from_view(view)


@router.post("/weekly", response_model=WeeklyReportPublic,
             summary="Build (or rebuild) a weekly 研判 report")
def rebuild_weekly_report(body: WeeklyReportRequest, uow: UowDep, now: NowDep,
                          principal: Reader) -> WeeklyReportPublic:
    _readable(uow, principal, body.area)
    monday: date = body.week or last_complete_week(now, CHINA_TZ)
    view = build_weekly_report(uow, body.area, monday, now=now, actor=principal.actor)
    return WeeklyReportPublic.from_view(view)


@router.get("/weekly/list", response_model=WeeklyReportListPublic,
            summary="The stored weekly reports the caller may read, newest week first")
def weekly_report_list(uow: UowDep, principal: Reader,
                       limit: Annotated[int, Query(ge=1, le=200)] = 50
                       ) -> WeeklyReportListPublic:
    views = list_weekly_reports(uow, dispatcher_scope(principal), limit=limit)
    return WeeklyReportListPublic(items=[WeeklyReportSummaryPublic.from_view(v) for v in views])
