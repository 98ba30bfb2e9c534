"""``/console/dashboard`` (数据看板) and ``/console/report/monthly`` (月报): supervisors, admins.

Both show ``service.dashboard.dashboard`` for a period of China time: the KPI
tiles, the trend and backlog charts (Apache ECharts, drawn by
``static/dashboard.js`` from the JSON in ``<script type="application/json"
id="dashboard-data">``), the scorecards by area, category, handler and tier,
the area x category table, the reasons given with 不满意 and the audit chain's
state. As in the API, a stored audit check older than ``AUDIT_CHECK_EVERY`` is
run again after the page is sent, in a thread of its own (``check_audit_chains_aside``).
The dashboard (not the monthly report) ends with the 居民对话 panel
(``console.conversation_panel``).

Periods (query ``period``): ``day``, ``week`` (Monday to Sunday) or ``month``
holding ``date`` (default today), or ``custom`` from ``from`` to ``to`` (dates,
both included; ``from`` and ``to`` alone mean ``custom``). The monthly report
takes ``month=2026-11`` (default: last month).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import Response

from ....service import CHINA_TZ, UnitOfWork
from ....service.dashboard import (
    Dashboard,
    GroupCard,
    audit_check_due,
    dashboard,
)
from ...deps import StateDep
from ...routers.metrics import check_audit_chains_aside
from ...state import ApiState
from ..conversation_panel import EMPTY_ZH, conversation_panel, seconds_zh, turns_zh
from ..web import PREFIX, ConsoleUser, NowDep, Supervisor, UowDep, render

router = APIRouter()

PERIODS = {"day": "按日", "week": "按周", "month": "按月", "custom": "自定义"}
#: The longest custom period (the trend goes by month beyond a year).
MAX_CUSTOM_DAYS = 3 * 366


@dataclass(frozen=True)
class Period:
    """A chosen period: ``[start, end)`` in China time, as the chooser shows it."""

    kind: str
    anchor: date
    first: date
    last: date  # included
    start: datetime
    end: datetime
    title: str


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=CHINA_TZ)


def _date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def month_bounds(day: date) -> tuple[date, date]:
    """The first and last day of the month holding ``day``."""
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def make_period(kind: str, first: date, last: date, anchor: date) -> Period:
    if kind == "day":
        title = f"{first:%Y年%m月%d日}"
    elif kind == "month":
        title = f"{first:%Y年%m月}"
    else:
        title = f"{first:%Y年%m月%d日} 至 {last:%Y年%m月%d日}"
    return Period(kind, anchor, first, last, _midnight(first), _midnight(last + timedelta(days=1)),
                  title)


def choose_period(
    now: datetime, kind: str | None, anchor_text: str | None, from_text: str | None,
    to_text: str | None,
) -> tuple[Period, str | None]:
    """The period the chooser asks for, and a Chinese message if it was not understood
    (then this month)."""
    today = now.astimezone(CHINA_TZ).date()
    anchor = _date(anchor_text) or today
    if kind not in PERIODS:  # a link with only from and to (e.g. the benchmark's) is custom
        kind = "custom" if from_text and to_text else "month"
    if kind == "custom":
        first, last = _date(from_text), _date(to_text)
        if first is None or last is None:
            return make_period("month", *month_bounds(today), today), "请填写开始和结束日期。"
        if first > last:
            return make_period("month", *month_bounds(today), today), "开始日期不能晚于结束日期。"
        if (last - first).days > MAX_CUSTOM_DAYS:
            return make_period("month", *month_bounds(today), today), "自定义时间段最长三年。"
        return make_period("custom", first, last, anchor), None
    if kind == "day":
        return make_period("day", anchor, anchor, anchor), None
    if kind == "week":
        monday = anchor - timedelta(days=anchor.weekday())
        return make_period("week", monday, monday + timedelta(days=6), anchor), None
    return make_period("month", *month_bounds(anchor), anchor), None


# ------------------------------------------------------------------ page data


def _pct(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)


def chart_data(board: Dashboard) -> dict[str, Any]:
    """The charts' series, as ``static/dashboard.js`` reads them (rates in percent)."""
    trend = board.trend
    fmt = "%m-%d" if board.bucket != "month" else "%Y-%m"
    return {
        "bucket": board.bucket,
        "trend": {
            "labels": [p.start.strftime(fmt) for p in trend],
            "created": [p.created for p in trend],
            "resolved": [p.resolved for p in trend],
            "resolution_rate": [_pct(p.resolution_rate) for p in trend],
            "on_time_rate": [_pct(p.on_time_rate) for p in trend],
            "satisfaction_rate": [_pct(p.satisfaction_rate) for p in trend],
        },
        "backlog": {
            "labels": [b.label for b in board.backlog],
            "on_time": [b.count - b.overdue for b in board.backlog],
            "overdue": [b.overdue for b in board.backlog],
        },
        "areas": _bars(board.by_area),
        "categories": _bars(board.by_category),
    }


def _bars(cards: list[GroupCard]) -> dict[str, list[Any]]:
    return {"labels": [c.label for c in cards], "created": [c.card.created for c in cards],
            "resolved": [c.card.resolved for c in cards]}


def area_category_table(board: Dashboard) -> dict[str, Any]:
    """受理量 by area (rows) and category (columns), with the totals."""
    areas = sorted({(c.area_label, c.area_code) for c in board.area_category})
    categories = sorted({(c.category_label, c.category) for c in board.area_category})
    cells = {(c.area_code, c.category): c.created for c in board.area_category}
    rows = [{"label": label, "cells": [cells.get((code, cat), 0) for _, cat in categories],
             "total": sum(cells.get((code, cat), 0) for _, cat in categories)}
            for label, code in areas]
    totals = [sum(cells.get((code, cat), 0) for _, code in areas) for _, cat in categories]
    return {"categories": [label for label, _ in categories], "rows": rows, "totals": totals,
            "total": sum(totals)}


def board_context(
    uow: UnitOfWork, state: ApiState, background: BackgroundTasks, period: Period, now: datetime
) -> dict[str, Any]:
    """What the dashboard and the monthly report render (and the audit refresh scheduled)."""
    board = dashboard(uow, period.start, period.end, now=now)
    if audit_check_due(board.audit, now):
        background.add_task(check_audit_chains_aside, state.app.uow, now)
    return {
        "board": board, "period": period,
        "groups": [("按区域", "区域", board.by_area), ("按类别", "类别", board.by_category),
                   ("按处理人员", "处理人员", board.by_handler), ("按层级", "层级", board.by_tier)],
        "matrix": area_category_table(board),
        "chart_json": json.dumps(chart_data(board), ensure_ascii=False).replace("</", "<\\/"),
    }


@router.get(f"{PREFIX}/dashboard", include_in_schema=False)
def dashboard_page(
    request: Request, user: Supervisor, uow: UowDep, state: StateDep, now: NowDep,
    background: BackgroundTasks,
) -> Response:
    query = request.query_params
    chosen, problem = choose_period(now, query.get("period"), query.get("date"),
                                    query.get("from"), query.get("to"))
    return _render(request, "dashboard/board.html", user, uow, state, background, chosen, now,
                   problem=problem, periods=PERIODS,
                   conversations=conversation_panel(uow, chosen.first, chosen.last, now),
                   empty_zh=EMPTY_ZH, seconds_zh=seconds_zh, turns_zh=turns_zh)


@router.get(f"{PREFIX}/report/monthly", include_in_schema=False)
def monthly_report(
    request: Request, user: Supervisor, uow: UowDep, state: StateDep, now: NowDep,
    background: BackgroundTasks, month: str | None = None,
) -> Response:
    today = now.astimezone(CHINA_TZ).date()
    problem = None
    chosen_day = _date(f"{month}-01") if month else None
    if month and chosen_day is None:
        problem = "月份格式应为 2026-11。"
    if chosen_day is None:
        chosen_day = month_bounds(today)[0] - timedelta(days=1)  # last month
    first, last = month_bounds(chosen_day)
    chosen = make_period("month", first, last, first)
    return _render(request, "dashboard/monthly.html", user, uow, state, background, chosen, now,
                   problem=problem, month=f"{first:%Y-%m}")


def _render(request: Request, template: str, user: ConsoleUser, uow: UnitOfWork, state: ApiState,
            background: BackgroundTasks, chosen: Period, now: datetime,
            **extra: Any) -> Response:
    context = board_context(uow, state, background, chosen, now)
    response = render(request, template, user, now=now, **context, **extra)
    response.background = background
    return response
