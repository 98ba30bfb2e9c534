"""Conversation facts folded from the Rasa events of one sender (pure; no I/O).

Rasa's event broker publishes every tracker event as ``event.as_dict()`` with
``sender_id`` added (``rasa.core.tracker_store.TrackerStore._stream_new_events``).
``reduce_event`` keeps of one only what the facts need and drops the rest, in
particular everything a resident wrote: a user message keeps its intent name and
confidence (never its text or entities), a slot event is kept only for
``requested_slot`` (the form's question), a bot message only as "the bot said
something" plus the order number it names, if any. ``action_listen`` and
``action_session_start`` are not kept (nothing below needs them).

``fold`` splits the reduced events of one sender into conversations (a Rasa
session: from ``session_started`` to the next) and works out per conversation:

- ``turns``: user messages; ``intents``: their distinct intent names in order;
- ``fallbacks``: user turns the bot could not handle: Rasa's own fallback actions
  (``action_default_fallback``, ``action_two_stage_fallback``) ran, or the
  project's ``action_fallback`` ran *and said something* (it stays silent when
  the report form takes the message as an answer, ``actions/handoff.py``);
- ``handed_off``: ``action_handoff`` ran ("转人工"), or ``action_fallback``
  answered the second not-understood message in a row (it then asks a person to
  call back: ``FAILED_TURNS_FOR_HANDOFF`` in ``actions/handoff.py``);
- ``report_started``: the report form was activated (``active_loop`` report_form);
- ``report_opened`` / ``order_number``: ``action_submit_report`` told an order
  number (the service opened the order or added the report to the same
  matter's order): its bot message names it ("工单号 12345678");
  ``seconds_to_order``: from the first user message to that message;
- ``dropped_at``: a started report without an order, silent for
  ``DROPOUT_SILENCE``: the last question the form asked (``requested_slot``
  while report_form was active), ``"submit"`` if the form was complete but no
  number was told (service down, report refused), ``"unknown"`` if no question
  was seen. It depends on ``now``: a conversation becomes dropped by silence.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

#: how long a started, unopened report must be silent to count as dropped
DROPOUT_SILENCE = timedelta(minutes=30)

REPORT_FORM = "report_form"
SUBMIT_ACTION = "action_submit_report"
HANDOFF_ACTION = "action_handoff"
PROJECT_FALLBACK = "action_fallback"
RASA_FALLBACKS = frozenset({"action_default_fallback", "action_two_stage_fallback"})
#: intents the project's fallback counts as "not understood" (actions/conversation.py)
NOT_UNDERSTOOD_INTENTS = frozenset({"nlu_fallback", "unclear"})
#: the second not-understood message in a row is handed to a person (actions/handoff.py)
FAILED_TURNS_FOR_HANDOFF = 2
#: actions whose events are not kept
SKIPPED_ACTIONS = frozenset({"action_listen", "action_session_start"})
REQUESTED_SLOT = "requested_slot"
#: how the bot names the order it opened or added the report to (actions/replies.py)
ORDER_NUMBER_IN_REPLY = re.compile(r"(?:工单号|补充到工单)\s*(\d{8})")

SUBMIT_WITHOUT_NUMBER = "submit"
NO_QUESTION = "unknown"
NAME_LIMIT = 128
CHANNEL_LIMIT = 16
KEPT_TYPES = frozenset({"session_started", "user", "action", "active_loop", "slot", "bot"})


@dataclass(frozen=True)
class StoredEvent:
    """What is kept of one Rasa event (a row of ``conversation_events``)."""

    sender_id: str
    ts: float
    type: str
    name: str | None = None
    value: str | None = None
    confidence: float | None = None

    @property
    def key(self) -> str:
        return event_key(self.sender_id, self.ts, self.type, self.name)


def event_key(sender_id: str, ts: float, type_: str, name: str | None) -> str:
    """sha256 hex of the event's identity: a redelivered event has the same key."""
    seed = "\x1f".join((sender_id, repr(float(ts)), type_, name or ""))
    return hashlib.sha256(seed.encode()).hexdigest()


def _text(value: Any, limit: int = NAME_LIMIT) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def reduce_event(raw: Mapping[str, Any]) -> StoredEvent | None:
    """The kept part of one broker event, or None when nothing of it is kept."""
    sender = raw.get("sender_id")
    kind = raw.get("event")
    ts = _number(raw.get("timestamp"))
    if not isinstance(sender, str) or not sender or ts is None or kind not in KEPT_TYPES:
        return None
    sender = sender[:NAME_LIMIT]
    if kind == "session_started":
        return StoredEvent(sender, ts, kind)
    if kind == "user":
        intent = (raw.get("parse_data") or {}).get("intent") or {}
        return StoredEvent(sender, ts, kind, name=_text(intent.get("name")),
                           confidence=_number(intent.get("confidence")))
    if kind == "action":
        name = _text(raw.get("name"))
        if name is None or name in SKIPPED_ACTIONS:
            return None
        return StoredEvent(sender, ts, kind, name=name, confidence=_number(raw.get("confidence")))
    if kind == "active_loop":
        return StoredEvent(sender, ts, kind, name=_text(raw.get("name")))
    if kind == "slot":
        if raw.get("name") != REQUESTED_SLOT:
            return None  # other slots hold what the resident said
        return StoredEvent(sender, ts, kind, name=REQUESTED_SLOT, value=_text(raw.get("value")))
    # a bot message: only the order number it names (bot text, never resident text)
    text = raw.get("text")
    found = ORDER_NUMBER_IN_REPLY.search(text) if isinstance(text, str) else None
    utter = (raw.get("metadata") or {}).get("utter_action")
    return StoredEvent(sender, ts, kind, name=_text(utter),
                       value=found.group(1) if found else None)


def channel_of(sender_id: str) -> str:
    """'tg' for 'tg:12345'; 'other' for a sender without a prefix."""
    prefix, colon, _ = sender_id.partition(":")
    return prefix[:CHANNEL_LIMIT] if colon and prefix else "other"


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@dataclass
class ConversationFacts:
    sender_id: str
    started_at: datetime
    channel: str
    last_event_at: datetime
    turns: int = 0
    intents: list[str] = field(default_factory=list)
    fallbacks: int = 0
    report_started: bool = False
    report_opened: bool = False
    order_number: str | None = None
    seconds_to_order: float | None = None
    handed_off: bool = False
    dropped_at: str | None = None
    #: the form question the report stopped at, whatever the silence (for dropped_at)
    last_question: str | None = None

    @property
    def duration_seconds(self) -> float:
        return (self.last_event_at - self.started_at).total_seconds()


class _Folder:
    """One conversation's facts, event by event."""

    def __init__(self, first: StoredEvent) -> None:
        at = _at(first.ts)
        self.facts = ConversationFacts(first.sender_id, at, channel_of(first.sender_id), at)
        self.first_user_ts: float | None = None
        self.active_loop: str | None = None
        self.action: str | None = None        # the latest action (its bot messages follow it)
        self.turn_fallback = False            # the current user turn was a fallback
        self.failed_in_a_row = 0              # not-understood user messages in a row
        self.form_complete = False            # report_form finished asking

    def add(self, event: StoredEvent) -> None:
        facts = self.facts
        facts.last_event_at = max(facts.last_event_at, _at(event.ts))
        if event.type == "user":
            self._user(event)
        elif event.type == "action":
            self.action = event.name
            if event.name in RASA_FALLBACKS:
                self._fallback()
            elif event.name == HANDOFF_ACTION:
                facts.handed_off = True
            elif event.name == SUBMIT_ACTION and self.form_complete:
                self.form_complete = False
                facts.last_question = SUBMIT_WITHOUT_NUMBER
        elif event.type == "active_loop":
            self._loop(event.name)
        elif event.type == "slot" and event.value and self.active_loop == REPORT_FORM:
            facts.last_question = event.value
        elif event.type == "bot":
            self._bot(event)

    def _user(self, event: StoredEvent) -> None:
        facts = self.facts
        facts.turns += 1
        self.turn_fallback = False
        self.action = None
        if self.first_user_ts is None:
            self.first_user_ts = event.ts
        if event.name and event.name not in facts.intents:
            facts.intents.append(event.name)
        understood = event.name not in NOT_UNDERSTOOD_INTENTS
        self.failed_in_a_row = 0 if understood else self.failed_in_a_row + 1

    def _fallback(self) -> None:
        if not self.turn_fallback and self.facts.turns:
            self.turn_fallback = True
            self.facts.fallbacks += 1

    def _loop(self, name: str | None) -> None:
        if name == REPORT_FORM:
            self.facts.report_started = True
            self.form_complete = False
        elif self.active_loop == REPORT_FORM and name is None:
            # the form ends: complete if its last question was answered (requested_slot None)
            self.form_complete = self.action == REPORT_FORM
        self.active_loop = name

    def _bot(self, event: StoredEvent) -> None:
        facts = self.facts
        if self.action == PROJECT_FALLBACK:
            self._fallback()
            if self.failed_in_a_row == FAILED_TURNS_FOR_HANDOFF:
                facts.handed_off = True
        if self.action == SUBMIT_ACTION and event.value and facts.order_number is None:
            facts.report_opened = True
            facts.order_number = event.value
            if self.first_user_ts is not None:
                facts.seconds_to_order = round(event.ts - self.first_user_ts, 3)

    def finish(self, now: datetime) -> ConversationFacts:
        facts = self.facts
        silent = now - facts.last_event_at >= DROPOUT_SILENCE
        if facts.report_started and not facts.report_opened and silent:
            facts.dropped_at = (facts.last_question or NO_QUESTION)[:64]
        return facts


def split_sessions(events: Iterable[StoredEvent]) -> list[list[StoredEvent]]:
    """The events of one sender in time order, cut at each ``session_started``."""
    sessions: list[list[StoredEvent]] = []
    for event in sorted(events, key=lambda e: e.ts):
        if event.type == "session_started" or not sessions:
            sessions.append([])
        sessions[-1].append(event)
    return sessions


def fold(events: Iterable[StoredEvent], now: datetime) -> list[ConversationFacts]:
    """The conversations in the events of one sender, oldest first."""
    result = []
    for session in split_sessions(events):
        folder = _Folder(session[0])
        for event in session:
            folder.add(event)
        result.append(folder.finish(now))
    return result


def median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2
