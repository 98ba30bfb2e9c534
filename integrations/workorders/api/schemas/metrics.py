"""The supervisors' scorecard (``service.metrics``), field names in English, labels in Chinese."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from ...service import Metrics
from ...service.metrics import LABELS_ZH

GroupBy = Literal["kind", "category", "area", "handler", "tier"]


class ScorecardPublic(BaseModel):
    group: str | None = Field(
        description="Kind, category code, grid code, handler id or tier; None: all"
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
    repeats: int = Field(default=0, description="Orders that repeat a matter resolved lately")
    repeat_rate: float | None = Field(default=None, description="重复诉求率: repeats / created")

    @classmethod
    def from_metrics(cls, m: Metrics, label: str | None) -> ScorecardPublic:
        return cls(**asdict(m), group_label=label)


class MetricsPublic(BaseModel):
    period_start: datetime
    period_end: datetime
    group_by: GroupBy | None
    groups: list[ScorecardPublic]
    labels_zh: dict[str, str] = Field(default_factory=lambda: dict(LABELS_ZH))
