"""Warnings and weekly reports planted straight into the tables (migration 0013), so the
console's pages are tested on rows whatever raised them (the detectors have tests of their own).

    wid = plant_warning(console, "surge", "urgent", explanation="…", orders=[(n1, "member")])
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from integrations.workorders.adapters.orm import (
    RiskWarning,
    WeeklyReport,
)
from tests.app.console.console_support import Console
from tests.app.workorders.warning_rows import add_warning
from tests.app.workorders.warning_rows import warning_events as shared_warning_events
from tests.app.workorders.warning_rows import warning_row as shared_warning_row


def plant_warning(
    console: Console, kind: str = "repeat", level: str = "warning", *,
    area_code: str = "grid:qy-dz-01", category: str | None = "dispute.neighbor",
    explanation: str = "东镇幸福里网格 邻里纠纷 同一地点再次反映。",
    details: dict[str, Any] | None = None, orders: list[tuple[str, str]] = (),  # type: ignore[assignment]
    state: str = "open", at: datetime | None = None,
) -> int:
    """A warning with its orders ((number, role)) and its ``raise`` event (``add_warning``),
    acknowledged or closed by staff:admin if ``state`` says so; its id."""
    world = console.api.world
    at = at or world.clock
    wid = add_warning(world, kind=kind, level=level, state=state, area_code=area_code,
                      category=category, explanation=explanation, details=details or {},
                      created_at=at, orders=orders)
    if state != "open":
        with world.db.session() as s:
            warning = s.get_one(RiskWarning, wid)
            warning.acknowledged_at, warning.acknowledged_by = at, "staff:admin"
            warning.ack_note = "已安排人员"
            if state == "closed":
                warning.closed_at, warning.closed_by, warning.close_note = at, "staff:admin", "已解决"
            s.commit()
    return wid


def warning_row(console: Console, warning_id: int) -> RiskWarning:
    return shared_warning_row(console.api.world, warning_id)


def warning_events(console: Console, warning_id: int) -> list[tuple[str, str, str | None]]:
    return [(e.action, e.actor, e.note)
            for e in shared_warning_events(console.api.world, warning_id)]


def report_body(monday: datetime | Any) -> dict[str, Any]:
    """A weekly report's body as ``service.weekly_reports`` stores it (contract, section 3)."""
    weeks = [monday - timedelta(days=7 * k) for k in (3, 2, 1, 0)]
    return {
        "period": {"start": monday.isoformat(), "end": (monday + timedelta(days=6)).isoformat()},
        "headline": "本周受理42件，办结率九成，幸福里小区3号楼供水问题反复出现。",
        "scorecard": {"created": 42, "resolution_rate": 0.9, "on_time_rate": 0.85,
                      "accept_timely_rate": 0.95, "satisfaction_rate": 0.8, "repeat_rate": 0.12},
        "trend": [{"week": w.isoformat(), "resolution_rate": r, "on_time_rate": r - 0.05,
                   "satisfaction_rate": r - 0.1, "created": 30 + i}
                  for i, (w, r) in enumerate(zip(weeks, (0.7, 0.8, 0.85, 0.9), strict=True))],
        "hotspots": {
            "top": [{"place": "幸福里小区3号楼", "area_code": "grid:qy-dz-01",
                     "area_name": "东镇幸福里网格", "category": "incident.water",
                     "category_name": "供排水问题", "count": 7, "change": 5.5,
                     "median_resolve_hours": 20.0}],
            "slowest": [{"place": "和平街菜市场", "area_code": "grid:qy-dz-02",
                         "area_name": "东镇和平街网格", "category": "incident.sanitation",
                         "category_name": "环境卫生", "count": 3, "change": 0,
                         "median_resolve_hours": 70.0}],
        },
        "surges": [{"warning_id": None, "level": "urgent",
                    "explanation": "东镇幸福里网格 供排水问题 近3小时9件（平时每天约1件）",
                    "created_at": monday.isoformat(), "order_numbers": []}],
        "repeats": [],
        "disputes_at_risk": [{"warning_id": None, "level": "warning",
                              "explanation": "邻里纠纷风险评分72分：描述中有暴力威胁。",
                              "created_at": monday.isoformat(), "order_numbers": []}],
        "repeat_summary": {"count": 5, "sham": 2},
        "unsatisfied_reasons": [{"reason": "处理速度慢", "count": 4},
                                {"reason": "问题没有解决", "count": 2}],
    }


def plant_report(console: Console, area_code: str, monday: Any, *,
                 body: dict[str, Any] | None = None) -> None:
    world = console.api.world
    with world.db.session() as s:
        s.add(WeeklyReport(area_code=area_code, week=monday.isoformat(),
                           created_at=world.clock, created_by="system",
                           body=body if body is not None else report_body(monday)))
        s.commit()


def report_rows(console: Console) -> list[tuple[str, str, str]]:
    with console.api.world.db.session() as s:
        return [(r.area_code, r.week, r.created_by) for r in s.scalars(
            select(WeeklyReport).order_by(WeeklyReport.id))]
