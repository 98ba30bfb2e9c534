"""矛盾激化风险: a 0-100 score for an open dispute, with its reasons in Chinese.

Points add up from what the service knows of the dispute (weights and caps in
``DisputeRiskRules``): threats of violence or self-harm in the description or
later notes (the strongest counts in full, each further one a little), or
else a worry; earlier disputes at the same place; reopenings after 不满意;
co-reporters; waiting beyond a grace period. The total is capped at 100; at
``threshold`` it is a warning, at ``urgent_at`` urgent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .threats import ThreatHit, find_threats
from .warning_rules import DisputeRiskRules
from .warnings import Level


@dataclass(frozen=True)
class DisputeFacts:
    texts: tuple[str, ...]    # description first, then later notes of the order
    same_place_disputes: int  # earlier disputes at the same place within lookback_days
    reopened: int             # reopenings after 不满意
    co_reporters: int         # further residents who reported the same dispute
    waited_hours: float       # hours since the order was created while it stays open


@dataclass(frozen=True)
class RiskReason:
    code: str    # threat | self_harm | worry | repeat | reopened | co_reporters | waiting
    points: int
    text: str    # Chinese, e.g. 描述中有暴力威胁“要弄死他”


@dataclass(frozen=True)
class RiskScore:
    score: int
    reasons: tuple[RiskReason, ...]  # most points first
    level: Level | None  # None below the threshold


def _quoted(hits: list[ThreatHit]) -> str:
    return "".join(f"“{h.phrase}”" for h in hits[:3])


def _threat_reasons(texts: tuple[str, ...], rules: DisputeRiskRules) -> list[RiskReason]:
    found: dict[str, tuple[ThreatHit, int]] = {}  # phrase -> (strongest hit, index of its text)
    for index, text in enumerate(texts):
        for hit in find_threats(text):
            kept = found.get(hit.phrase)
            if kept is None or hit.points > kept[0].points:
                found[hit.phrase] = (hit, index)
    threats = sorted((h for h in found.values() if h[0].kind != "worry"),
                     key=lambda h: (-h[0].points, h[1]))
    if not threats:
        worries = [h for h, _ in found.values()]
        if not worries or rules.worry_points == 0:
            return []
        return [RiskReason("worry", rules.worry_points,
                           f"居民担心冲突升级（{_quoted(worries)}）")]
    # after the strongest, the strongest of the other kind next: both are named before the cap
    first_kind = threats[0][0].kind
    rest = threats[1:]
    other = next((t for t in rest if t[0].kind != first_kind), None)
    if other is not None:
        rest.remove(other)
        threats = [threats[0], other, *rest]
    budget = rules.threat_max
    shares: dict[str, list[tuple[ThreatHit, int, int]]] = {"violence": [], "self_harm": []}
    for i, (hit, index) in enumerate(threats):
        points = min(budget, hit.points if i == 0 else rules.extra_threat_points)
        budget -= points
        shares.setdefault(hit.kind, []).append((hit, index, points))
    reasons = []
    for kind, code, what in (("violence", "threat", "暴力威胁"), ("self_harm", "self_harm", "轻生言语")):
        items = shares.get(kind, [])
        if not items:
            continue
        where = "描述中" if any(index == 0 for _, index, _ in items) else "后续反映中"
        reasons.append(RiskReason(code, sum(p for _, _, p in items),
                                  f"{where}有{what}{_quoted([h for h, _, _ in items])}"))
    return reasons


def score_dispute(facts: DisputeFacts, rules: DisputeRiskRules) -> RiskScore:
    """The score, its reasons (most points first, none with 0 points) and the level it reaches."""
    reasons = _threat_reasons(facts.texts, rules)
    if facts.same_place_disputes > 0:
        reasons.append(RiskReason(
            "repeat", min(rules.repeat_max, rules.repeat_points * facts.same_place_disputes),
            f"同一地点{rules.lookback_days}天内第{facts.same_place_disputes + 1}次纠纷"))
    if facts.reopened > 0:
        reasons.append(RiskReason(
            "reopened", min(rules.reopen_max, rules.reopen_points * facts.reopened),
            f"居民评价不满意后已重新办理{facts.reopened}次"))
    if facts.co_reporters > 0:
        reasons.append(RiskReason(
            "co_reporters", min(rules.co_reporter_max, rules.co_reporter_points * facts.co_reporters),
            f"另有{facts.co_reporters}位居民反映同一纠纷"))
    over = facts.waited_hours - rules.wait_grace_hours
    if over >= 24:
        reasons.append(RiskReason(
            "waiting", min(rules.wait_max, rules.wait_points_per_day * math.floor(over / 24)),
            f"已等待{math.floor(facts.waited_hours / 24)}天仍未办结"))
    reasons = sorted((r for r in reasons if r.points > 0), key=lambda r: -r.points)
    score = min(100, sum(r.points for r in reasons))
    level = (Level.URGENT if score >= rules.urgent_at
             else Level.WARNING if score >= rules.threshold else None)
    return RiskScore(score=score, reasons=tuple(reasons), level=level)


def explain_risk(s: RiskScore, *, area_name: str, category_name: str, number: str) -> str:
    """One sentence: "阳光花园社区 邻里纠纷 工单12345678 风险分82：描述中有暴力威胁“跟他拼了”；
    同一地点180天内第3次纠纷。" (the reasons, most points first)."""
    head = " ".join(part for part in (area_name, category_name, f"工单{number}") if part)
    if not s.reasons:
        return f"{head} 风险分{s.score}。"
    return f"{head} 风险分{s.score}：{'；'.join(r.text for r in s.reasons)}。"
