"""Pure helpers for the report classifier: no Rasa, no scikit-learn.

They decide a report's category and emergency flag from the probabilities the
trained models give, so the decision rule is testable on its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Sequence

# Intents that carry a report, and the kind of report each one is.
REPORT_INTENTS: Mapping[str, str] = {
    "report_dispute": "dispute",
    "report_incident": "incident",
}
NO_CATEGORY = "none"
# Intents whose text may describe a problem although they are not a report
# (an answer to "what happened?"): they get a category only on strong evidence.
DESCRIBING_INTENTS = frozenset({"inform"})


def kind_of(category: str) -> str:
    """`dispute.neighbor` -> `dispute`."""
    return category.split(".", 1)[0]


@dataclass(frozen=True)
class CategoryDecision:
    category: Optional[str]
    kind: Optional[str]
    confidence: float
    ranking: tuple  # ((code, probability), ...) best first, top three
    intent: Optional[str]  # the report intent that fits the category, if any


def decide_category(
    probabilities: Mapping[str, float],
    intent: Optional[str],
    intent_ranking: Iterable[Mapping[str, object]] = (),
    describing_threshold: float = 0.6,
) -> CategoryDecision:
    """Combine the category model with the intent model.

    For a report intent, every category is scored by its own probability times
    the intent model's confidence in the category's kind (a product of the two
    experts), so a clear "漏水" wins `incident.water` even when the intent model
    hesitated between dispute and incident. For `inform` a category is given
    only when the category model alone is confident. Other intents get none.
    """
    cats = {c: p for c, p in probabilities.items() if c != NO_CATEGORY}
    ranking = tuple(sorted(cats.items(), key=lambda kv: (-kv[1], kv[0]))[:3])
    if not cats or intent is None:
        return CategoryDecision(None, None, 0.0, ranking, None)

    if intent in REPORT_INTENTS:
        kind_confidence = {kind: 0.0 for kind in REPORT_INTENTS.values()}
        for entry in intent_ranking:
            name = entry.get("name")
            if name in REPORT_INTENTS:
                kind_confidence[REPORT_INTENTS[name]] = float(entry.get("confidence") or 0.0)
        if not any(kind_confidence.values()):
            kind_confidence[REPORT_INTENTS[intent]] = 1.0
        scores = {c: p * (kind_confidence[kind_of(c)] + 0.05) for c, p in cats.items()}
        total = sum(scores.values()) or 1.0
        best = max(sorted(scores), key=lambda c: scores[c])
        kind = kind_of(best)
        report_intent = next(i for i, k in REPORT_INTENTS.items() if k == kind)
        return CategoryDecision(best, kind, scores[best] / total, ranking, report_intent)

    if intent in DESCRIBING_INTENTS:
        best, p = ranking[0]
        if p >= describing_threshold:
            kind = kind_of(best)
            return CategoryDecision(best, kind, p, ranking, None)
    return CategoryDecision(None, None, 0.0, ranking, None)


# Words that make what follows a worry or a hypothetical ("万一着火了怎么办"),
# not something happening now; a cue right after one of them does not count.
HYPOTHETICAL = ("怕", "万一", "要是", "如果", "假如", "担心", "以防", "防止", "预防", "免得",
                "真要", "会不会", "容易")
HYPOTHETICAL_WINDOW = 6


def _hypothetical(text: str, start: int) -> bool:
    before = text[max(0, start - HYPOTHETICAL_WINDOW):start]
    # a clause boundary ends the worry's reach: "怕出事，现在已经着火了"
    before = before.split("，")[-1].split(",")[-1].split("。")[-1].split(" ")[-1]
    return any(word in before for word in HYPOTHETICAL)


def find_cues(text: str, cues: Sequence[str]) -> list[str]:
    """Emergency cue phrases in the text, in reading order (longer cues win
    overlaps), leaving
    out those that only voice a worry or a hypothetical."""
    found: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for cue in sorted(set(cues), key=lambda c: (-len(c), c)):
        start = text.find(cue)
        while start != -1:
            end = start + len(cue)
            if all(end <= a or start >= b for a, b in taken):
                taken.append((start, end))
                if not _hypothetical(text, start):
                    found.append((start, cue))
            start = text.find(cue, start + 1)
    ordered: list[str] = []
    for _, cue in sorted(found):
        if cue not in ordered:
            ordered.append(cue)
    return ordered


# Intents whose text the emergency model judges; for the others (greetings,
# status questions, cancellations ...) only an explicit danger cue counts.
EMERGENCY_MODEL_INTENTS = frozenset(REPORT_INTENTS) | DESCRIBING_INTENTS


def is_emergency(probability: float, cues: Sequence[str], threshold: float,
                 intent: Optional[str] = None) -> bool:
    """Urgent when the model says so (for reports and descriptions) or a danger
    cue is present.

    Missing an emergency is far worse than an extra urgent order, so a cue from
    the curated lexicon (着火了, 燃气泄漏, 持刀 ...) is enough on its own.
    """
    judged = intent is None or intent in EMERGENCY_MODEL_INTENTS or intent == "nlu_fallback"
    return (judged and probability >= threshold) or bool(cues)


def choose_threshold(
    probabilities: Sequence[float],
    labels: Sequence[bool],
    judged: Sequence[bool],
    cue_hits: Sequence[bool],
    beta: float = 2.0,
    grid: Iterable[float] = tuple(i / 40 for i in range(2, 38)),
) -> float:
    """The emergency threshold with the best F-beta on cross-validated
    probabilities of the training data (beta=2 weighs recall four times as
    much as precision). Cues count as flags, as they do at parse time; ties go
    to the lower threshold, the safer side."""
    best_score, best = -1.0, 0.5
    positives = sum(bool(l) for l in labels)
    for threshold in sorted(grid):
        flags = [(j and p >= threshold) or c
                 for p, j, c in zip(probabilities, judged, cue_hits)]
        hits = sum(f and l for f, l in zip(flags, labels))
        flagged = sum(flags)
        if not hits:
            continue
        recall, precision = hits / positives, hits / flagged
        score = (1 + beta ** 2) * precision * recall / (beta ** 2 * precision + recall)
        if score > best_score + 1e-12:
            best_score, best = score, threshold
    return best
