"""Evaluate the served model on the held-out set (tests/nlu/heldout.yml).

The held-out set is written apart from the training data and never trained on.
Each report block carries its category and emergency flag as intent metadata,
exactly as in nlu_data/, so one loader serves both.

    python -m bot.nlu_eval [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from bot.model_store import ROOT

HELDOUT = ROOT / "tests" / "nlu" / "heldout.yml"


@dataclass
class Example:
    text: str
    intent: str
    category: Optional[str]
    emergency: bool
    entities: List[Dict] = field(default_factory=list)


def load_training_data():
    """All NLU training data (the YAML files under nlu_data/, as `rasa train` reads them)."""
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.training_data import TrainingData

    files = sorted((ROOT / "nlu_data").rglob("*.yml"))
    return TrainingData().merge(*[load_data(str(f)) for f in files])


def load_examples(path: Path = HELDOUT) -> List[Example]:
    from rasa.shared.nlu.constants import METADATA, METADATA_INTENT
    from rasa.shared.nlu.training_data.loading import load_data

    examples = []
    for message in load_data(str(path)).intent_examples:
        meta = (message.get(METADATA) or {}).get(METADATA_INTENT) or {}
        examples.append(Example(
            text=message.get("text"),
            intent=message.get("intent"),
            category=meta.get("category"),
            emergency=bool(meta.get("emergency")),
            entities=[{k: e[k] for k in ("entity", "value")} for e in message.get("entities") or []],
        ))
    return examples


def score(examples: List[Example], predictions: List[Dict]) -> Dict:
    """Accuracy, macro-F1, confusion and emergency recall/precision."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    intents_true = [e.intent for e in examples]
    intents_pred = [str(p["intent"]) for p in predictions]
    reports = [i for i, e in enumerate(examples) if e.category]
    cats_true = [examples[i].category for i in reports]
    cats_pred = [str(predictions[i]["category"]) for i in reports]
    labels = sorted(set(cats_true))
    emergency_true = [e.emergency for e in examples]
    emergency_pred = [bool(p["emergency"]) for p in predictions]
    tp = sum(t and p for t, p in zip(emergency_true, emergency_pred))
    errors = [
        {"text": e.text, "expected": {"intent": e.intent, "category": e.category, "emergency": e.emergency},
         "got": {k: p[k] for k in ("intent", "category", "emergency")}}
        for e, p in zip(examples, predictions)
        if p["intent"] != e.intent or (e.category and p["category"] != e.category)
        or p["emergency"] != e.emergency
    ]
    return {
        "examples": len(examples),
        "intent_accuracy": accuracy_score(intents_true, intents_pred),
        "intent_macro_f1": f1_score(intents_true, intents_pred, average="macro",
                                    labels=sorted(set(intents_true)), zero_division=0),
        "reports": len(reports),
        "category_accuracy": accuracy_score(cats_true, cats_pred),
        "category_macro_f1": f1_score(cats_true, cats_pred, average="macro",
                                      labels=labels, zero_division=0),
        "category_labels": labels,
        "category_confusion": confusion_matrix(
            cats_true, cats_pred, labels=labels + ["None"]).tolist(),
        "emergencies": sum(emergency_true),
        "emergency_recall": tp / max(1, sum(emergency_true)),
        "emergency_precision": tp / max(1, sum(emergency_pred)),
        "errors": errors,
    }


def evaluate(agent, examples: Optional[List[Example]] = None) -> Dict:
    from bot.nlu_runtime import classify

    examples = examples or load_examples()
    predictions = [classify(agent, e.text) for e in examples]
    return score(examples, predictions)


def confusion_table(result: Dict) -> str:
    labels = result["category_labels"]
    short = [l.split(".")[1][:8] for l in labels] + ["none"]
    lines = ["true \\ pred".ljust(20) + " ".join(s.rjust(8) for s in short)]
    for label, row in zip(labels, result["category_confusion"]):
        lines.append(label.ljust(20) + " ".join(str(v).rjust(8) for v in row))
    return "\n".join(lines)


def main(argv: List[str]) -> int:
    from bot.nlu_runtime import load_agent

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--errors", action="store_true", help="list misclassified examples")
    args = parser.parse_args(argv)
    result = evaluate(load_agent())
    for key in ("examples", "intent_accuracy", "intent_macro_f1", "reports", "category_accuracy",
                "category_macro_f1", "emergencies", "emergency_recall", "emergency_precision"):
        value = result[key]
        print(f"{key:22} {value:.4f}" if isinstance(value, float) else f"{key:22} {value}")
    print(confusion_table(result))
    if args.errors:
        for error in result["errors"]:
            print(json.dumps(error, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
