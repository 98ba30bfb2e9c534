"""Load the model the bot serves and turn Rasa's parse result into the
classifier's flat record. Shared by `make classify`, the NLU evaluation and the
benchmarks, so they all see exactly what the bot sees.
"""
from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bot.model_store import model_path  # noqa: E402

# Longest text the classifier looks at; longer input is cut to this many
# characters (reports longer than this are rare and the model was trained on
# messages under 100 characters).
MAX_CHARS = 1000

logger = logging.getLogger(__name__)
_loop: asyncio.AbstractEventLoop | None = None


def _run(coroutine):
    """Run a coroutine on this module's own loop (Rasa installs uvloop's policy,
    which has no implicit loop in the main thread)."""
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    return _loop.run_until_complete(coroutine)


def load_agent(path: Path | None = None):
    """A Rasa Agent with the model for the current inputs (or `path`)."""
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    # Rasa's structured debug lines would otherwise go to stdout
    configure_structlog(logging.WARNING)

    path = Path(path) if path else model_path()
    if not path.exists():
        raise FileNotFoundError(
            f"model {path.name} is missing: run `make model` to train it"
        )
    return Agent.load(str(path))


def flatten(parse: dict[str, Any]) -> dict[str, Any]:
    """Rasa's parse result -> the classifier record documented in the README."""
    intent = parse.get("intent") or {}
    category = parse.get("category") or {}
    emergency = parse.get("emergency") or {}
    return {
        "intent": intent.get("name"),
        "confidence": round(float(intent.get("confidence") or 0.0), 4),
        "category": category.get("name"),
        "kind": category.get("kind"),
        "emergency": bool(emergency.get("flag")),
        "emergency_check": bool(emergency.get("check")),
        "entities": [
            {"entity": e.get("entity"), "value": e.get("value")}
            for e in parse.get("entities") or []
        ],
    }


def classify(agent, text: str) -> dict[str, Any]:
    """Classify one message; never raises on odd text."""
    clean = (text or "").replace("\x00", "").strip()
    truncated = len(clean) > MAX_CHARS
    clean = clean[:MAX_CHARS]
    record = flatten(_run(agent.parse_message(clean))) if clean else EMPTY
    return {"text": clean, **record, "truncated": truncated}


# The record for a line with no text, or one that could not be classified.
EMPTY: dict[str, Any] = {"intent": None, "confidence": 0.0, "category": None,
                         "kind": None, "emergency": False, "emergency_check": False,
                         "entities": []}
