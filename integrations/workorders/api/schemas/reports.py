"""Weekly 研判 reports (``/api/v1/reports/weekly``): the report as stored, and the listing."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from ...service.weekly_reports import CONSOLE_PATH, WeeklyReportView
from .common import Input


class PeriodPublic(BaseModel):
    start: datetime = Field(description="Monday 00:00 China time")
    end: datetime = Field(description="The next Monday 00:00 (exclusive)")


class ReportScorecardPublic(BaseModel):
    created: int = Field(description="受理量")
    resolution_rate: float | None = Field(description="办结率")
    on_time_rate: float | None = Field(description="按时办结率")
    accept_timely_rate: float | None = Field(description="签收及时率")
    satisfaction_rate: float | None = Field(description="满意率")
    repeat_rate: float | None = Field(description="重复诉求率")


class TrendWeekPublic(BaseModel):
    week: date
    resolution_rate: float | None
    on_time_rate: float | None
    satisfaction_rate: float | None
    created: int


class HotspotPublic(BaseModel):
    place: str
    area_code: str
    area_name: str
    category: str
    category_name: str
    count: int
    change: float = Field(description="This week's count minus the mean of the weeks before")
    median_resolve_hours: float | None


class HotspotsPublic(BaseModel):
    top: list[HotspotPublic] = Field(description="热点: most orders")
    slowest: list[HotspotPublic] = Field(description="Slowest to resolve")


class ReportWarningPublic(BaseModel):
    warning_id: int
    level: str
    explanation: str
    created_at: datetime
    order_numbers: list[str]


class RepeatSummaryPublic(BaseModel):
    count: int
    sham: int = Field(description="疑似假性整改: re-reported soon after being resolved")


class ReasonCountPublic(BaseModel):
    reason: str
    count: int


class WeeklyReportBodyPublic(BaseModel):
    period: PeriodPublic
    scorecard: ReportScorecardPublic
    trend: list[TrendWeekPublic] = Field(description="Four weeks ending with this one")
    hotspots: HotspotsPublic
    surges: list[ReportWarningPublic]
    repeats: list[ReportWarningPublic]
    disputes_at_risk: list[ReportWarningPublic]
    repeat_summary: RepeatSummaryPublic
    unsatisfied_reasons: list[ReasonCountPublic] = Field(description="不满意 reasons, most first")
    headline: str


class WeeklyReportPublic(BaseModel):
    area_code: str
    area_name: str
    week: date = Field(description="The Monday the week starts on (China time)")
    created_at: datetime
    created_by: str
    path: str = Field(description="The report's page in the console")
    body: WeeklyReportBodyPublic

    @classmethod
    def from_view(cls, view: WeeklyReportView) -> WeeklyReportPublic:
        body: dict[str, Any] = view.body
        return cls(area_code=view.area_code, area_name=view.area_name, week=view.week,
                   created_at=view.created_at, created_by=view.created_by,
                   path=_path(view), body=WeeklyReportBodyPublic.model_validate(body))


class WeeklyReportSummaryPublic(BaseModel):
    area_code: str
    area_name: str
    week: date
    created_at: datetime
    created_by: str
    path: str
    headline: str | None

    @classmethod
    def from_view(cls, view: WeeklyReportView) -> WeeklyReportSummaryPublic:
        return cls(area_code=view.area_code, area_name=view.area_name, week=view.week,
                   created_at=view.created_at, created_by=view.created_by, path=_path(view),
                   headline=view.body.get("headline"))


class WeeklyReportListPublic(BaseModel):
    items: list[WeeklyReportSummaryPublic]


class WeeklyReportRequest(Input):
    area: str = Field(min_length=1, max_length=64, description="A township's or the county's code")
    week: date | None = Field(default=None,
                              description="Its Monday; default the last complete week")


def _path(view: WeeklyReportView) -> str:
    return CONSOLE_PATH.format(area=view.area_code, week=view.week.isoformat())
