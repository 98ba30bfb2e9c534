"""The supervisors' scorecard (``service.metrics``), field names in English, labels in Chinese."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from ...service import Metrics

GroupBy = Literal["kind", "category", "area", "handler"]

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
}


class ScorecardPublic(BaseModel):
    group: str | None = Field(
        description="Kind, category code, grid code or handler id; None: all"
    )
    group_label: str | None = Field(description="The group's Chinese name")
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

    @classmethod
    def from_metrics(cls, m: Metrics, label: str | None) -> ScorecardPublic:
        return cls(**asdict(m), group_label=label)


class MetricsPublic(BaseModel):
    period_start: datetime
    period_end: datetime
    group_by: GroupBy | None
    groups: list[ScorecardPublic]
    labels_zh: dict[str, str] = Field(default_factory=lambda: dict(LABELS_ZH))
