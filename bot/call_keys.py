"""The action call being served, as a key: the same when Rasa makes the same call again.

bot/action_server.py runs every action call with ``CALL_KEY`` set to
``call_key(call)``; actions/workorders_client.py derives each POST's
Idempotency-Key from it, so when Rasa repeats a call (the action server that
had it went away, bot/serve.py) the POSTs repeat their keys too.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

#: The action call being served: the same for the same call made again (see call_key).
CALL_KEY: ContextVar[str | None] = ContextVar("workorders_call_key", default=None)


def call_key(action_call: Mapping[str, Any]) -> str:
    """One action call of Rasa's: the sender, the action, the user message it answers
    and how far the conversation is (a repeat of the call has the same)."""
    tracker = action_call.get("tracker") or {}
    latest = tracker.get("latest_message") or {}
    seed = json.dumps([action_call.get("sender_id"), action_call.get("next_action"),
                       latest.get("message_id"), len(tracker.get("events") or [])])
    return hashlib.sha256(seed.encode()).hexdigest()[:32]
