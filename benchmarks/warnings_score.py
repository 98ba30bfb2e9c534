"""Scoring the warnings benchmark: the truth behind what was generated, and the warnings
matched to it. Pure (no database): the driver hands over plain facts.

All times are simulated minutes (floats since ``sim_world.EPOCH``).

- Repeat (重复诉求): an order is a repeat when, at its creation, an earlier order at the
  same place (the generator's place, whatever the spelling) with the same category
  is finished (resolved, closed or archived) and was resolved (or, never resolved,
  closed) within the rule's window for its kind: the window runs from the fix, not
  from the resident's follow-up answer that closes the order later. This is the
  rule's definition applied to what happened, so ordinary orders that happen to
  repeat an earlier one (accidental repeats of the background) are true repeats too,
  not false warnings. A repeat is sham (疑似假性整改) when the newest such earlier order
  was resolved less than ``sham_days`` before. A repeat warning is true when its
  trigger order is a repeat.
- Dispute at risk (矛盾激化风险): the planted escalations (the order that carries
  a real threat); every other dispute warning is false (including ones on
  disputes whose words are violent but negated, hypothetical or joking).
- Surge (激增): the planted bursts. A surge warning is true when it names an order of
  a burst, or is about the burst's grid and category and raised between its first
  report and 24 h after its last; any other is false.

Recall: truth items with at least one true warning / truth items. Precision: true
warnings / warnings. Time to warning: from the triggering report (the repeat
order; the threat; the burst's latest report before the warning) to the warning.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

MINUTES_PER_DAY = 1440.0
RESOLVED_STATES = frozenset({"resolved", "closed", "archived"})
SURGE_GRACE_MINUTES = 24 * 60.0


@dataclass(frozen=True)
class OrderFact:
    """An order as it happened: ``history`` is (minute, status after) for each change."""

    number: str
    grid: str
    category: str
    kind: str
    place: str
    created: float
    history: tuple[tuple[float, str], ...]


@dataclass(frozen=True)
class WarningFact:
    id: int
    kind: str
    level: str
    area_code: str
    category: str | None
    order_number: str | None
    created: float
    order_numbers: tuple[str, ...] = ()
    explanation: str = ""


@dataclass(frozen=True)
class BurstFact:
    key: str
    grid: str
    category: str
    start: float
    end: float
    numbers: frozenset[str]
    report_times: tuple[float, ...]


@dataclass
class KindScore:
    kind: str
    truth: int = 0
    found: int = 0
    warnings: int = 0
    true_warnings: int = 0
    latencies_s: list[float] = field(default_factory=list)
    false_ids: list[int] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)

    @property
    def false_warnings(self) -> int:
        return self.warnings - self.true_warnings

    @property
    def recall(self) -> float | None:
        return self.found / self.truth if self.truth else None

    @property
    def precision(self) -> float | None:
        return self.true_warnings / self.warnings if self.warnings else None

    def latency(self, q: float) -> float | None:
        if not self.latencies_s:
            return None
        ordered = sorted(self.latencies_s)
        if q == 0.5:
            return statistics.median(ordered)
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _state_before(history: Sequence[tuple[float, str]], at: float
                  ) -> tuple[str | None, float | None, float | None]:
    """Status just before ``at``, and when it was last resolved / closed before then."""
    status, resolved, closed = None, None, None
    for when, to in history:
        if when >= at:
            break
        status = to
        if to == "resolved":
            resolved = when
        elif to == "closed":
            closed = when
        elif to == "reopened":
            resolved = closed = None
    return status, resolved, closed


def repeat_truth(orders: Iterable[OrderFact], window_days: Mapping[str, float],
                 sham_days: float) -> dict[str, bool]:
    """Number → sham? for every order that is a repeat by the rule's definition."""
    by_place: dict[tuple[str, str, str], list[OrderFact]] = defaultdict(list)
    for order in sorted(orders, key=lambda o: o.created):
        by_place[(order.grid, order.category, order.place)].append(order)
    truth: dict[str, bool] = {}
    for group in by_place.values():
        for i, order in enumerate(group):
            window = window_days[order.kind] * MINUTES_PER_DAY
            newest_resolved: float | None = None
            hit = False
            for earlier in group[:i]:
                if earlier.created >= order.created:
                    continue
                status, resolved, closed = _state_before(earlier.history, order.created)
                if status not in RESOLVED_STATES:
                    continue
                last = resolved if resolved is not None else closed
                if last is None or last < order.created - window:
                    continue
                hit = True
                if resolved is not None and (newest_resolved is None or resolved > newest_resolved):
                    newest_resolved = resolved
            if hit:
                truth[order.number] = (newest_resolved is not None
                                       and order.created - newest_resolved
                                       < sham_days * MINUTES_PER_DAY)
    return truth


def score_repeats(truth: Mapping[str, bool], orders: Mapping[str, OrderFact],
                  warnings: Iterable[WarningFact]) -> tuple[KindScore, dict[str, int]]:
    """The repeat score, and how well the sham flag (level ``warning``) matches."""
    score = KindScore("repeat", truth=len(truth))
    found: set[str] = set()
    sham = {"true_sham": 0, "flagged_sham": 0, "flagged_right": 0}
    for w in warnings:
        if w.kind != "repeat":
            continue
        score.warnings += 1
        number = w.order_number
        if number is not None and number in truth:
            score.true_warnings += 1
            if number not in found:
                found.add(number)
                score.latencies_s.append((w.created - orders[number].created) * 60.0)
            flagged = w.level in ("warning", "urgent")
            sham["flagged_sham"] += flagged
            sham["flagged_right"] += flagged and truth[number]
        else:
            score.false_ids.append(w.id)
    sham["true_sham"] = sum(truth.values())
    score.found = len(found)
    score.missed = sorted(set(truth) - found)
    return score, sham


def score_disputes(truth: Mapping[str, float], warnings: Iterable[WarningFact]) -> KindScore:
    """``truth``: number of the order carrying a real threat → minute of the threat."""
    score = KindScore("dispute_risk", truth=len(truth))
    found: set[str] = set()
    for w in warnings:
        if w.kind != "dispute_risk":
            continue
        score.warnings += 1
        number = w.order_number
        if number is not None and number in truth:
            score.true_warnings += 1
            if number not in found:
                found.add(number)
                score.latencies_s.append((w.created - truth[number]) * 60.0)
        else:
            score.false_ids.append(w.id)
    score.found = len(found)
    score.missed = sorted(set(truth) - found)
    return score


def _matches(w: WarningFact, b: BurstFact, grid_chain: Mapping[str, Sequence[str]]) -> bool:
    if b.numbers.intersection(w.order_numbers) or (w.order_number in b.numbers):
        return True
    return (w.area_code in grid_chain.get(b.grid, (b.grid,)) and w.category == b.category
            and b.start <= w.created <= b.end + SURGE_GRACE_MINUTES)


def score_surges(bursts: Sequence[BurstFact], warnings: Iterable[WarningFact],
                 grid_chain: Mapping[str, Sequence[str]]) -> KindScore:
    """``grid_chain``: a grid's own code and the areas above it (a warning there matches)."""
    score = KindScore("surge", truth=len(bursts))
    found: set[str] = set()
    for w in warnings:
        if w.kind != "surge":
            continue
        score.warnings += 1
        hits = [b for b in bursts if _matches(w, b, grid_chain)]
        if not hits:
            score.false_ids.append(w.id)
            continue
        score.true_warnings += 1
        for b in hits:
            if b.key in found:
                continue
            found.add(b.key)
            before = [t for t in b.report_times if t <= w.created]
            if before:
                score.latencies_s.append((w.created - max(before)) * 60.0)
    score.found = len(found)
    score.missed = sorted({b.key for b in bursts} - found)
    return score
