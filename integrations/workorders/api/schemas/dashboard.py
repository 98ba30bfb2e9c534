"""The supervisors' dashboard (``service.dashboard``) as JSON."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ...service.dashboard import AGE_BUCKETS, Dashboard
from ...service.metrics import LABELS_ZH
from .metrics import ScorecardPublic


class _FromAttributes(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TrendPointPublic(_FromAttributes):
    start: date = Field(description="First day of the bucket (China time)")
    end: date = Field(description="Day after the bucket")
    created: int
    resolved: int
    resolved_on_time: int
    answered: int
    satisfied: int
    resolution_rate: float | None
    on_time_rate: float | None
    satisfaction_rate: float | None


class BacklogBucketPublic(_FromAttributes):
    label: str = Field(description=f"One of {', '.join(b[0] for b in AGE_BUCKETS)}")
    min_days: int
    max_days: int | None
    count: int
    overdue: int = Field(description="Of these, past their resolve limit")


class AreaCategoryPublic(_FromAttributes):
    area_code: str
    area_label: str
    category: str
    category_label: str
    created: int


class UnsatisfiedPublic(_FromAttributes):
    number: str
    at: datetime
    area_code: str
    category: str
    category_label: str
    reason: str | None = Field(description="What the resident said; null: no reason given")


class AuditStatePublic(_FromAttributes):
    ok: bool
    checked_at: datetime
    seconds: float = Field(description="How long the check took")
    orders: int
    broken: int
    first_number: str | None
    first_seq: int | None


class DashboardPublic(BaseModel):
    period_start: datetime
    period_end: datetime
    bucket: Literal["day", "week", "month"]
    scoped: bool = Field(description="Only the caller's areas (a dispatcher)")
    overall: ScorecardPublic
    by_area: list[ScorecardPublic]
    by_category: list[ScorecardPublic]
    by_handler: list[ScorecardPublic]
    by_tier: list[ScorecardPublic]
    trend: list[TrendPointPublic]
    backlog: list[BacklogBucketPublic]
    backlog_at: datetime
    area_category: list[AreaCategoryPublic]
    unsatisfied: list[UnsatisfiedPublic] = Field(description="The newest, at most 50")
    unsatisfied_total: int
    unsatisfied_with_reason: int
    audit: AuditStatePublic | None = Field(
        description="The latest audit-chain check (null: none yet, or a dispatcher)")
    labels_zh: dict[str, str] = Field(default_factory=lambda: dict(LABELS_ZH))

    @classmethod
    def of(cls, board: Dashboard) -> DashboardPublic:
        return cls(
            period_start=board.period_start, period_end=board.period_end, bucket=board.bucket,
            scoped=board.scoped, overall=ScorecardPublic.from_metrics(board.overall, None),
            by_area=[ScorecardPublic.from_metrics(g.card, g.label) for g in board.by_area],
            by_category=[ScorecardPublic.from_metrics(g.card, g.label) for g in board.by_category],
            by_handler=[ScorecardPublic.from_metrics(g.card, g.label) for g in board.by_handler],
            by_tier=[ScorecardPublic.from_metrics(g.card, g.label) for g in board.by_tier],
            trend=[TrendPointPublic.model_validate(p) for p in board.trend],
            backlog=[BacklogBucketPublic.model_validate(b) for b in board.backlog],
            backlog_at=board.now,
            area_category=[AreaCategoryPublic.model_validate(c) for c in board.area_category],
            unsatisfied=[UnsatisfiedPublic.model_validate(u) for u in board.unsatisfied],
            unsatisfied_total=board.unsatisfied_total,
            unsatisfied_with_reason=board.unsatisfied_with_reason,
            audit=None if board.audit is None else AuditStatePublic(
                ok=board.audit.ok, **asdict(board.audit)),
        )
