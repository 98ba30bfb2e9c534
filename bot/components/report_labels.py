"""Pure helpers for the report classifier: no Rasa, no scikit-learn.

They decide a message's report intent, category and emergency level from the
probabilities the trained models give, so the decision rules are testable on
their own.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# Intents that carry a report (or another request), and the kind of each.
REPORT_INTENTS: Mapping[str, str] = {
    "report_dispute": "dispute",
    "report_incident": "incident",
    "other_request": "request",
}
INTENT_OF_KIND: Mapping[str, str] = {kind: intent for intent, kind in REPORT_INTENTS.items()}
NO_CATEGORY = "none"
# Intents whose text may describe a problem although they are not a report
# (an answer to "what happened?"): they get a category only on strong evidence.
DESCRIBING_INTENTS = frozenset({"inform"})
# Intents the intent model gives to messages that may well be a whole report
# in disguise: a headline naming an estate (inform), a complaint that begins
# with 好的 (affirm) or contains 取消 (cancel_report). When the category model
# is sure the text describes a problem or asks for something, it is one.
REREAD_INTENTS = frozenset({
    "inform", "affirm", "deny", "rate_satisfaction", "cancel_report", "out_of_scope",
    "greet", "thank", "goodbye", "start_report", "bot_challenge",
})

# emergency levels
ACT = "emergency"       # present danger stated: act at once
CHECK = "check"         # possible danger: ask one question first
NONE = "none"
LEVELS = (NONE, CHECK, ACT)


def kind_of(category: str) -> str:
    """`dispute.neighbor` -> `dispute`."""
    return category.split(".", 1)[0]


@dataclass(frozen=True)
class CategoryDecision:
    category: str | None
    kind: str | None
    confidence: float
    ranking: tuple  # ((code, probability), ...) best first, top three
    intent: str | None  # the report intent that fits the category, if any


# A cancellation that names the resident's own report ("我刚才报的…撤销吧",
# "工单12345678不用处理了") is one, whatever problem it mentions.
_OWN_REPORT = re.compile(
    r"(?:我|俺|咱)(?:刚才|刚刚|之前|上次|昨天|前天|早上)?(?:报|反映|投诉|举报|提交|登记)(?:的|了)"
    r"|(?:我|俺)的(?:工单|单子|反映|投诉|举报)|工单|单子|撤单|[0-9]{4}[ -]?[0-9]{4}")


def names_own_report(text: str) -> bool:
    return bool(_OWN_REPORT.search(text or ""))


def decide_category(
    probabilities: Mapping[str, float],
    intent: str | None,
    intent_ranking: Iterable[Mapping[str, object]] = (),
    describing_threshold: float = 0.6,
    reread_max_none: float = 0.3,
    content_chars: int = 0,
    reread_min_chars: int = 5,
    text: str = "",
    kind_weight: float = 0.0,
) -> CategoryDecision:
    """Combine the category model with the intent model.

    For a report intent the category model chooses the category, and so the
    kind and the report intent: it reads the whole text (DIET sees a long
    letter's first and last tokens only) and, measured on the held-out sets,
    choosing by it alone was right more often than weighing it with the
    intent model's kind (0.972 against 0.946 on the styles set).
    ``kind_weight`` > 0 weighs every category's probability with the intent
    model's confidence in its kind, raised to that power. A message of a
    REREAD intent whose text the category model finds to be a report (its
    "none" class below ``reread_max_none``, at least ``reread_min_chars``
    characters of content) becomes that report. For `inform` a category is
    otherwise given only when the category model alone is confident. Other
    intents get none.
    """
    cats = {c: p for c, p in probabilities.items() if c != NO_CATEGORY}
    ranking = tuple(sorted(cats.items(), key=lambda kv: (-kv[1], kv[0]))[:3])
    if not cats or intent is None:
        return CategoryDecision(None, None, 0.0, ranking, None)

    if intent in REPORT_INTENTS:
        kinds = sorted(set(REPORT_INTENTS.values()))
        kind_confidence = {kind: 0.0 for kind in kinds}
        for entry in intent_ranking:
            name = entry.get("name")
            if name in REPORT_INTENTS:
                kind_confidence[REPORT_INTENTS[name]] = float(entry.get("confidence") or 0.0)
        if not any(kind_confidence.values()):
            kind_confidence[REPORT_INTENTS[intent]] = 1.0
        scores = {c: p * (kind_confidence.get(kind_of(c), 0.0) + 0.05) ** kind_weight
                  for c, p in cats.items()}
        total = sum(scores.values()) or 1.0
        best = max(sorted(scores), key=lambda c: scores[c])
        kind = kind_of(best)
        return CategoryDecision(best, kind, scores[best] / total, ranking, INTENT_OF_KIND[kind])

    p_none = float(probabilities.get(NO_CATEGORY, 0.0))
    best, p = ranking[0]
    own_cancellation = intent == "cancel_report" and names_own_report(text)
    if (intent in REREAD_INTENTS and p_none <= reread_max_none
            and content_chars >= reread_min_chars and not own_cancellation):
        kind = kind_of(best)
        return CategoryDecision(best, kind, p / max(1e-9, 1.0 - p_none), ranking,
                                INTENT_OF_KIND[kind])
    if intent in DESCRIBING_INTENTS and p >= describing_threshold:
        return CategoryDecision(best, kind_of(best), p, ranking, None)
    return CategoryDecision(None, None, 0.0, ranking, None)


def best_incident(probabilities: Mapping[str, float]) -> str | None:
    """The most likely incident category: what an emergency is filed as (an
    emergency goes to a grid worker, never to a mediator or an office)."""
    incidents = {c: p for c, p in probabilities.items() if c != NO_CATEGORY and kind_of(c) == "incident"}
    if not incidents:
        return None
    return max(sorted(incidents), key=lambda c: incidents[c])


# Words that make what follows a worry or a hypothetical ("万一着火了怎么办"),
# not something happening now; a cue right after one of them does not count.
HYPOTHETICAL = ("怕", "万一", "要是", "如果", "假如", "担心", "以防", "防止", "预防", "免得",
                "真要", "会不会", "容易", "可能会", "迟早", "早晚", "差点", "差一点", "险些",
                "以前", "上次", "去年", "上个月", "上周", "上礼拜", "前几天", "之前")
HYPOTHETICAL_WINDOW = 8


def _hypothetical(text: str, start: int) -> bool:
    before = text[max(0, start - HYPOTHETICAL_WINDOW):start]
    # a clause boundary ends the worry's reach: "怕出事，现在已经着火了"
    for mark in ("，", ",", "。", "！", "!", "？", "?", "；", " "):
        before = before.split(mark)[-1]
    return any(word in before for word in HYPOTHETICAL)


def find_cues(text: str, cues: Sequence[str]) -> list[str]:
    """Danger cue phrases in the text, in reading order (longer cues win
    overlaps), leaving out those that only voice a worry, a hypothetical or
    something past."""
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
# status questions, cancellations ...) a danger cue asks the question at most.
EMERGENCY_MODEL_INTENTS = frozenset(REPORT_INTENTS) | DESCRIBING_INTENTS


@dataclass(frozen=True)
class EmergencyThresholds:
    act: float    # P(present danger) from which the bot acts at once
    check: float  # P(any danger) from which it asks first


def emergency_level(p_act: float, p_danger: float, cues: Sequence[str],
                    thresholds: EmergencyThresholds, intent: str | None = None,
                    content_chars: int = 99, min_chars: int = 5) -> str:
    """ACT, CHECK or NONE for one message.

    The model decides: ACT when it is sure of present danger, CHECK when it
    sees possible danger. An explicit danger phrase from the curated lexicon
    (着火了, 煤气味, 持刀 …) never passes unasked: it makes at least CHECK, so the
    resident is asked one question instead of being missed. Messages of other
    intents (a status question that mentions a fire) are asked at most.
    """
    judged = intent is None or intent in EMERGENCY_MODEL_INTENTS or intent == "nlu_fallback"
    # an answer or a greeting with no content of its own ("喂，有人没") is not judged
    judged = judged and (intent in REPORT_INTENTS or content_chars >= min_chars)
    if judged and p_act >= thresholds.act:
        return ACT
    if (judged and p_danger >= thresholds.check) or cues:
        return CHECK
    return NONE


def choose_thresholds(
    p_act: Sequence[float],
    p_danger: Sequence[float],
    levels: Sequence[str],
    cue_hits: Sequence[bool],
    max_false_act: float = 0.02,
    min_flagged: float = 0.99,
    grid: Iterable[float] = tuple(i / 100 for i in range(5, 100)),
) -> EmergencyThresholds:
    """Thresholds from cross-validated probabilities of the training data.

    act: the lowest threshold at which at most ``max_false_act`` of the
    non-emergencies would be acted on (so as many real emergencies as
    possible are acted on at once); check: the highest threshold at which at
    least ``min_flagged`` of the real emergencies are acted on or asked about
    (cues count, as they do at parse time)."""
    grid = sorted(grid)
    ordinary = [i for i, level in enumerate(levels) if level == NONE]
    urgent = [i for i, level in enumerate(levels) if level == ACT]
    act = grid[-1]
    for threshold in grid:
        false_act = sum(p_act[i] >= threshold for i in ordinary) / max(1, len(ordinary))
        if false_act <= max_false_act:
            act = threshold
            break
    check = grid[0]
    for threshold in grid:
        if threshold > act:
            break
        flagged = sum(p_act[i] >= act or p_danger[i] >= threshold or cue_hits[i]
                      for i in urgent) / max(1, len(urgent))
        if flagged >= min_flagged:
            check = threshold
    return EmergencyThresholds(act=act, check=check)


def emergency_label(value: object) -> str:
    """The training data's `emergency:` metadata as a level: true, "check", false."""
    if value is True or (isinstance(value, str) and value.lower() in ("true", "yes", "act")):
        return ACT
    if isinstance(value, str) and value.lower() == "check":
        return CHECK
    return NONE
