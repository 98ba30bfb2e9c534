"""Rasa's check of an action server's answer, with the same schema and verdicts,
at a fraction of the CPU.

Rasa 3.6 checks every answer against ``RemoteAction.action_response_format_spec()``.
Each event of the answer must match exactly one of 23 alternatives (``oneOf``),
one per event type, told apart by ``properties.event.const``. jsonschema tries
every alternative for every event and builds an error object for each of the 22
that fail: 10 % of a scaled Rasa instance's CPU under load
(``benchmarks/results/rasa-turn-profile.md``).

An alternative whose ``event`` constant differs from the event's own ``event``
string cannot match it, so the ``oneOf`` over all alternatives gives the same
verdict as the ``oneOf`` over those with that constant. Here the answer is
checked against the schema without its ``items`` (the events), then each event
against the item schema narrowed to its own type's alternatives; an event
that is not an object, has no string ``event`` or names a type no alternative
has is checked against the whole item schema. Every check is still
jsonschema's, on parts of Rasa's own schema. A schema of another shape (a
later Rasa) is checked whole, as before.
"""
from __future__ import annotations

import copy
import json
from typing import Any

from jsonschema import validators


class ActionResponseValidator:
    """``validate(answer)`` raises jsonschema's ``ValidationError`` for an answer the
    whole schema refuses, and returns for one it accepts."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self._cls = validators.validator_for(schema)
        self._cls.check_schema(schema)
        self._whole = self._cls(schema)
        self._split = self._split_by_event_type(schema)

    @property
    def split(self) -> bool:
        """Whether the schema had the expected shape (events told apart by type)."""
        return self._split is not None

    def _split_by_event_type(self, schema: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]] | None:
        if "$ref" in json.dumps(schema):  # parts of the schema must stand alone
            return None
        events = schema.get("properties", {}).get("events")
        item = events.get("items") if isinstance(events, dict) else None
        alternatives = item.get("oneOf") if isinstance(item, dict) else None
        if not isinstance(alternatives, list):
            return None
        by_type: dict[str, list[Any]] = {}
        for alternative in alternatives:
            event = alternative.get("properties", {}).get("event") if isinstance(
                alternative, dict) else None
            if not isinstance(event, dict) or not isinstance(event.get("const"), str):
                return None  # an alternative that any type might match
            by_type.setdefault(event["const"], []).append(alternative)
        outer = copy.deepcopy(schema)
        del outer["properties"]["events"]["items"]
        per_type = {name: self._cls({**item, "oneOf": group}) for name, group in by_type.items()}
        return self._cls(outer), self._cls(item), per_type

    def validate(self, answer: Any) -> None:
        if self._split is None:
            self._whole.validate(answer)
            return
        outer, any_item, per_type = self._split
        outer.validate(answer)
        events = answer.get("events") if isinstance(answer, dict) else None
        if not isinstance(events, list):
            return
        for event in events:
            kind = event.get("event") if isinstance(event, dict) else None
            validator = per_type.get(kind) if isinstance(kind, str) else None
            (validator or any_item).validate(event)
