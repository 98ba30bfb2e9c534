"""``/console/reports`` (研判周报): the kept weekly reports, and one report's page.

- list: the reports of the user's areas by week (newest first) and area, and the
  form 生成本周报告 (an area: a township or the county; the week holding a day,
  default this week), which builds or rebuilds it (``build_weekly_report``) and
  opens it.
- ``/console/reports/{area}/{week}``: the report as stored (``body``): the 三率
  with their four-week trend (ECharts, drawn by ``static/dashboard.js`` as the
  dashboard's ``rates`` chart), hotspots, surges, repeats, disputes at risk and
  the reasons given with 不满意; printable (the nav and forms are not printed).
  A week that is not a Monday goes to the Monday of its week.

Dispatchers see the reports of their areas (a township of theirs; the county
only if it is theirs), supervisors and admins all (``dispatcher_scope``).
Handlers: 403.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from ....domain.errors import DomainError
from ....service import CHINA_TZ, NotFound, UnitOfWork, list_areas
from ....service.weekly_reports import (
    WeeklyReportView,
    build_weekly_report,
    get_weekly_report,
    list_weekly_reports,
    week_of,
)
from ...access import areas_below, dispatcher_scope
from ..web import (
    PREFIX,
    ConsoleUser,
    NowDep,
    UowDep,
    flash_response,
    redirect,
    render,
    require_roles,
)
from .risk_warnings import LEVEL_LABELS, LEVEL_TONES, READERS

router = APIRouter()

REPORTS_PATH = f"{PREFIX}/reports"
Reader = Annotated[ConsoleUser, Depends(require_roles(*READERS))]
Short = Annotated[str, Form(max_length=64)]
LIST_LIMIT = 100


def report_url(area_code: str, week: date) -> str:
    return f"{REPORTS_PATH}/{area_code}/{week.isoformat()}"


def report_areas(uow: UnitOfWork, user: ConsoleUser) -> list[tuple[str, str]]:
    """(code, name) of the areas with reports (townships and the county) this user may read,
    the county first."""
    tiers = uow.config.taxonomy.tiers
    scope = dispatcher_scope(user.principal)
    within = None if scope is None else areas_below(uow, scope)
    found = [a for a in list_areas(uow) if a.tier != tiers[0]
             and (within is None or a.code in within)]
    found.sort(key=lambda a: (-tiers.index(a.tier) if a.tier in tiers else 0, a.code))
    return [(a.code, a.name) for a in found]


def _monday(text: str) -> date | None:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day - timedelta(days=day.weekday())


@router.get(REPORTS_PATH, include_in_schema=False)
def reports_page(request: Request, user: Reader, uow: UowDep, now: NowDep) -> Response:
    areas = report_areas(uow, user)
    reports = list_weekly_reports(uow, dispatcher_scope(user.principal), limit=LIST_LIMIT)
    weeks: dict[date, list[WeeklyReportView]] = {}
    for report in reports:
        weeks.setdefault(report.week, []).append(report)
    return render(request, "reports/list.html", user, now=now, areas=areas,
                  weeks=sorted(weeks.items(), reverse=True),
                  this_week=week_of(now, CHINA_TZ))


@router.post(REPORTS_PATH, include_in_schema=False)
def build_report(user: Reader, uow: UowDep, now: NowDep,
                 area: Short = "", week: Short = "") -> Response:
    areas = dict(report_areas(uow, user))
    if area not in areas:
        return flash_response(REPORTS_PATH, "请选择您管辖范围内的乡镇（街道）或全县。", error=True)
    monday = _monday(week) if week else week_of(now, CHINA_TZ)
    if monday is None:
        return flash_response(REPORTS_PATH, "日期格式不正确，请重新选择。", error=True)
    if monday > week_of(now, CHINA_TZ):
        return flash_response(REPORTS_PATH, "还不能生成未来一周的报告。", error=True)
    try:
        build_weekly_report(uow, area, monday, now=now, actor=user.actor)
    except DomainError as exc:
        return flash_response(REPORTS_PATH, exc.reason_zh, error=True)
    return flash_response(report_url(area, monday),
                          f"已生成{areas[area]}{monday:%m月%d日}起这一周的研判周报。")


@router.get(f"{REPORTS_PATH}/{{area_code}}/{{week}}", include_in_schema=False)
def report_page(request: Request, area_code: str, week: str, user: Reader, uow: UowDep,
                now: NowDep) -> Response:
    monday = _monday(week)
    if monday is None:
        raise NotFound("report", f"{area_code}/{week}", "未找到这份周报：日期不正确。")
    if monday.isoformat() != week:
        return redirect(report_url(area_code, monday))
    areas = dict(report_areas(uow, user))
    report = get_weekly_report(uow, area_code, monday) if area_code in areas else None
    if report is None:
        raise NotFound("report", f"{area_code}/{week}",
                       f"未找到{areas.get(area_code, '该区域')}{monday:%Y年%m月%d日}这一周的研判周报。")
    body = report.body or {}
    return render(
        request, "reports/weekly.html", user, now=now, report=report, body=body,
        end=monday + timedelta(days=6), taxonomy=uow.config.taxonomy,
        chart_json=json.dumps(trend_chart(body), ensure_ascii=False).replace("</", "<\\/"),
        level_labels=LEVEL_LABELS, level_tones=LEVEL_TONES,
        may_rebuild=area_code in areas, signed=signed, hours=hours,
    )


def signed(value: object) -> str:
    """A change against the previous weeks: ``+3``, ``-1.5``, ``0``; a dash if unknown."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "—"
    text = f"{value:+.1f}".replace(".0", "") if isinstance(value, float) else f"{value:+d}"
    return "0" if text in ("+0", "-0") else text


def hours(value: object) -> str:
    """Hours for people: ``5.5小时``, ``2.3天``; a dash if unknown."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "—"
    return f"{value:.1f}小时" if value < 48 else f"{value / 24:.1f}天"


def _pct(rate: object) -> float | None:
    return round(rate * 100, 1) if isinstance(rate, (int, float)) else None


def trend_chart(body: dict[str, Any]) -> dict[str, Any]:
    """The four weeks' 三率 as ``static/dashboard.js``'s ``rates`` chart reads them (percent)."""
    trend = [t for t in body.get("trend") or () if isinstance(t, dict)]

    def label(point: dict[str, Any]) -> str:
        try:
            return f"{date.fromisoformat(str(point.get('week'))):%m-%d}起"
        except ValueError:
            return str(point.get("week", ""))

    return {"trend": {
        "labels": [label(t) for t in trend],
        "created": [t.get("created") for t in trend],
        "resolution_rate": [_pct(t.get("resolution_rate")) for t in trend],
        "on_time_rate": [_pct(t.get("on_time_rate")) for t in trend],
        "satisfaction_rate": [_pct(t.get("satisfaction_rate")) for t in trend],
    }}
