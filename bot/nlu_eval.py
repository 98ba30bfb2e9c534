"""Evaluate the served model on the held-out sets.

Two sets, written apart from the training data and never trained on:
tests/nlu/heldout.yml (the first one, chat messages) and
tests/nlu/heldout_styles.yml (written separately, in every style residents
use: chat, headline, formal letter, speech transcript, traditional
characters; with other requests, emergencies and alarming non-emergencies).
Each block carries its category, emergency flag and style as intent metadata,
exactly as in nlu_data/, so one loader serves all.

    python -m bot.nlu_eval [--set styles|first] [--json out.json] [--errors]
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bot.model_store import ROOT

HELDOUT = ROOT / "tests" / "nlu" / "heldout.yml"
HELDOUT_STYLES = ROOT / "tests" / "nlu" / "heldout_styles.yml"
# written last, by someone who saw neither the data nor the other sets nor
# any model output, and measured once the model was final: no decision was
# taken on it
BLIND = ROOT / "tests" / "nlu" / "blind.yml"
SETS = {"first": HELDOUT, "styles": HELDOUT_STYLES, "blind": BLIND}
STYLES = ("chat", "headline", "letter", "transcript", "traditional")


@dataclass
class Example:
    text: str
    intent: str
    category: str | None
    emergency: bool
    entities: list[dict] = field(default_factory=list)
    style: str = "chat"
    # an ordinary report that sounds alarming (the emergency flag must stay off)
    alarming: bool = False


def load_examples(path: Path = HELDOUT) -> list[Example]:
    from rasa.shared.nlu.constants import METADATA, METADATA_INTENT
    from rasa.shared.nlu.training_data.loading import load_data

    examples = []
    for message in load_data(str(path)).intent_examples:
        meta = (message.get(METADATA) or {}).get(METADATA_INTENT) or {}
        examples.append(Example(
            text=message.get("text"),
            intent=message.get("intent"),
            category=meta.get("category"),
            emergency=meta.get("emergency") is True,
            entities=[{k: e[k] for k in ("entity", "value")} for e in message.get("entities") or []],
            style=str(meta.get("style") or "chat"),
            alarming=bool(meta.get("alarming")),
        ))
    return examples


def _kind(category: str | None) -> str | None:
    return category.split(".", 1)[0] if category else None


def score(examples: list[Example], predictions: list[dict]) -> dict:
    """Accuracy, macro-F1, confusion and the emergency figures.

    Emergencies: ``act`` is the flag that acts at once, ``check`` the one
    that asks first. Recall and precision are of ``act``; ``flagged`` is the
    share of real emergencies acted on or asked about; ``false_act`` and
    ``false_check`` are the shares of non-emergency reports acted on at once
    or asked about."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    intents_true = [e.intent for e in examples]
    intents_pred = [str(p["intent"]) for p in predictions]
    reports = [i for i, e in enumerate(examples) if e.category]
    cats_true = [examples[i].category for i in reports]
    cats_pred = [str(predictions[i]["category"]) for i in reports]
    kinds_true = [_kind(c) for c in cats_true]
    kinds_pred = [_kind(predictions[i]["category"]) or "None" for i in reports]
    labels = sorted(set(cats_true))
    act = [bool(p["emergency"]) for p in predictions]
    check = [bool(p.get("emergency_check")) for p in predictions]
    urgent = [i for i, e in enumerate(examples) if e.emergency]
    ordinary = [i for i in reports if not examples[i].emergency]
    alarming = [i for i in ordinary if examples[i].alarming]
    tp = sum(act[i] for i in urgent)
    errors = [
        {"text": e.text, "style": e.style,
         "expected": {"intent": e.intent, "category": e.category, "emergency": e.emergency},
         "got": {k: p.get(k) for k in ("intent", "category", "emergency", "emergency_check")}}
        for e, p in zip(examples, predictions, strict=False)
        if p["intent"] != e.intent or (e.category and p["category"] != e.category)
        or bool(p["emergency"]) != e.emergency
    ]

    def share(indices, flags) -> float | None:
        return sum(flags[i] for i in indices) / len(indices) if indices else None

    either = [a or c for a, c in zip(act, check, strict=False)]
    return {
        "examples": len(examples),
        "intent_accuracy": accuracy_score(intents_true, intents_pred),
        "intent_macro_f1": f1_score(intents_true, intents_pred, average="macro",
                                    labels=sorted(set(intents_true)), zero_division=0),
        "reports": len(reports),
        "kind_accuracy": accuracy_score(kinds_true, kinds_pred) if reports else None,
        "category_accuracy": accuracy_score(cats_true, cats_pred) if reports else None,
        "category_macro_f1": f1_score(cats_true, cats_pred, average="macro",
                                      labels=labels, zero_division=0) if reports else None,
        "category_labels": labels,
        "category_confusion": confusion_matrix(
            cats_true, cats_pred, labels=labels + ["None"]).tolist() if reports else [],
        "emergencies": len(urgent),
        "ordinary_reports": len(ordinary),
        "alarming_reports": len(alarming),
        "emergency_recall": tp / len(urgent) if urgent else None,
        "emergency_precision": tp / max(1, sum(act)) if urgent else None,
        "emergency_flagged": share(urgent, either),
        "emergency_kind_accuracy": share(
            urgent, [_kind(p["category"]) == "incident" for p in predictions]),
        "false_act": share(ordinary, act),
        "false_check": share(ordinary, check),
        "alarming_false_act": share(alarming, act),
        "alarming_false_check": share(alarming, check),
        "errors": errors,
    }


def by_style(examples: list[Example], predictions: list[dict]) -> dict[str, dict]:
    """``score`` per style, in STYLES order (styles with no example left out)."""
    result = {}
    for style in STYLES + tuple(sorted({e.style for e in examples} - set(STYLES))):
        chosen = [i for i, e in enumerate(examples) if e.style == style]
        if chosen:
            result[style] = score([examples[i] for i in chosen], [predictions[i] for i in chosen])
    return result


def predict(agent, examples: list[Example]) -> list[dict]:
    from bot.nlu_runtime import classify

    return [classify(agent, e.text) for e in examples]


def evaluate(agent, examples: list[Example] | None = None) -> dict:
    examples = examples or load_examples()
    predictions = predict(agent, examples)
    return {**score(examples, predictions), "styles": by_style(examples, predictions)}


STYLE_COLUMNS = (
    ("n", "examples"), ("intent", "intent_accuracy"), ("kind", "kind_accuracy"),
    ("category", "category_accuracy"), ("act P", "emergency_precision"),
    ("act R", "emergency_recall"), ("flagged", "emergency_flagged"),
    ("act/ord", "false_act"), ("check/ord", "false_check"),
)


def style_table(result: dict) -> str:
    """One row per style and one for all: intent, kind and category accuracy;
    emergencies: act-now precision and recall, share acted on or asked about;
    non-emergency reports: share acted on at once, share asked about."""
    def cell(value) -> str:
        if value is None:
            return "-"
        return str(value) if isinstance(value, int) else f"{value:.3f}"

    lines = ["style".ljust(12) + "".join(name.rjust(10) for name, _ in STYLE_COLUMNS)]
    rows = list(result.get("styles", {}).items()) + [("all", result)]
    for name, row in rows:
        lines.append(name.ljust(12) + "".join(cell(row[key]).rjust(10) for _, key in STYLE_COLUMNS))
    return "\n".join(lines)


def confusion_table(result: dict) -> str:
    labels = result["category_labels"]
    short = [label.split(".")[1][:8] for label in labels] + ["none"]
    lines = ["true \\ pred".ljust(20) + " ".join(s.rjust(8) for s in short)]
    for label, row in zip(labels, result["category_confusion"], strict=False):
        lines.append(label.ljust(20) + " ".join(str(v).rjust(8) for v in row))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    from bot.nlu_runtime import load_agent

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--set", choices=sorted(SETS), default="styles")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--errors", action="store_true", help="list misclassified examples")
    args = parser.parse_args(argv)
    result = evaluate(load_agent(), load_examples(SETS[args.set]))
    print(style_table(result))
    print(confusion_table(result))
    if args.errors:
        for error in result["errors"]:
            print(json.dumps(error, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
