"""矛盾激化风险: a 0-100 score for an open dispute, with its reasons in Chinese."""

from __future__ import annotations

from dataclasses import dataclass

from .warning_rules import DisputeRiskRules
from .warnings import Level


@dataclass(frozen=True)
class DisputeFacts:
    texts: tuple[str, ...]    # description and later notes of the order
    same_place_disputes: int  # earlier disputes at the same place within lookback_days
    reopened: int             # reopenings after 不满意
    co_reporters: int         # further residents who reported the same dispute
    waited_hours: float       # hours since the order was created while it stays open


@dataclass(frozen=True)
class RiskReason:
    code: str
    points: int
    text: str


@dataclass(frozen=True)
class RiskScore:
    score: int
    reasons: tuple[RiskReason, ...]
    level: Level | None  # None below the threshold


def score_dispute(facts: DisputeFacts, rules: DisputeRiskRules) -> RiskScore:
    raise NotImplementedError


def explain_risk(s: RiskScore, *, area_name: str, category_name: str, number: str) -> str:
    raise NotImplementedError
