"""What the actions read from the Rasa tracker: who is talking on which
channel, what the NLU made of the latest message, the conversation so far."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rasa_sdk import Tracker

from bot.components.report_labels import REPORT_INTENTS

CHANNELS = ("tg", "voice", "web")
#: a phone caller's sender id: the gateway's keyed hash of the number
#: (integrations.shared.identity, which the action server does not import)
CALLER_PREFIX = "voice:h:"
#: where the gateway puts the caller's encrypted number in a message's metadata
CALLER_TOKEN_KEY = "caller_token"
# messages the bot could not make sense of: the fallback answers them
NOT_UNDERSTOOD_INTENTS = frozenset({"nlu_fallback", "unclear"})
TRANSCRIPT_LIMIT = 50
# what the chat adapter sends for a shared photo or location (never typed,
# never an answer to a question): how a transcript shows them
MEDIA_INTENTS = {"share_photo": "（发来一张照片）", "share_location": "（发来一个定位）"}


def reporter_ref(tracker: Tracker) -> str:
    """The sender id with its channel (tg:<chat>, voice:h:<hash>, web:<id>)."""
    sender = tracker.sender_id or "anonymous"
    channel = sender.partition(":")[0]
    return sender if channel in CHANNELS and ":" in sender else f"web:{sender}"


def channel_carries_answers(tracker: Tracker) -> bool:
    """Whether an answer can reach the resident without a contact: Telegram
    messages them, the phone line texts or calls back the number they rang
    from; the web channel cannot reach anyone later."""
    return reporter_ref(tracker).partition(":")[0] in ("tg", "voice")


def is_phone_caller(tracker: Tracker) -> bool:
    """Whether this is a caller on the phone line whose number the gateway knows
    (``voice:h:<keyed hash>``; a withheld number is ``voice:unknown-<call>``)."""
    return reporter_ref(tracker).startswith(CALLER_PREFIX)


def caller_token(tracker: Tracker) -> str | None:
    """The caller's number as the gateway encrypted it for the work-order service
    (the latest message's metadata): the actions pass it on, they cannot read it."""
    if not is_phone_caller(tracker):
        return None
    messages = [tracker.latest_message or {}] + [
        e for e in reversed(tracker.events) if e.get("event") == "user"]
    for message in messages:
        token = (message.get("metadata") or {}).get(CALLER_TOKEN_KEY)
        if isinstance(token, str) and token:
            return token
    return None


@dataclass(frozen=True)
class Said:
    """The latest user message as the NLU understood it."""
    text: str
    intent: str | None
    entities: dict = field(default_factory=dict)  # entity -> list of values
    category: str | None = None
    category_confidence: float = 0.0
    emergency: bool = False
    emergency_cues: tuple = ()
    # possible danger the message does not state: ask first
    emergency_check: bool = False
    # the incident category the message takes if there is danger
    incident_category: str | None = None

    def first(self, entity: str) -> str | None:
        values = self.entities.get(entity) or []
        return values[0] if values else None

    def longest(self, entity: str) -> str | None:
        values = self.entities.get(entity) or []
        return max(values, key=len) if values else None

    @property
    def is_report(self) -> bool:
        return self.intent in REPORT_INTENTS


def said(tracker: Tracker) -> Said:
    message: dict[str, Any] = tracker.latest_message or {}
    entities: dict[str, list] = {}
    for entity in message.get("entities") or []:
        value = entity.get("value")
        if isinstance(value, str) and value.strip():
            entities.setdefault(entity.get("entity"), []).append(value.strip())
    category = message.get("category") or {}
    emergency = message.get("emergency") or {}
    return Said(
        text=(message.get("text") or "").strip(),
        intent=(message.get("intent") or {}).get("name"),
        entities=entities,
        category=category.get("name"),
        category_confidence=float(category.get("confidence") or 0.0),
        emergency=bool(emergency.get("flag")),
        emergency_cues=tuple(emergency.get("cues") or ()),
        emergency_check=bool(emergency.get("check")),
        incident_category=emergency.get("category"),
    )


def opened_by_latest_message(tracker: Tracker, form: str) -> bool:
    """Whether ``form`` was activated after the resident's latest message
    (so its first question is being asked in answer to that message)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "active_loop" and event.get("name") == form:
            return True
    return False


def transcript(tracker: Tracker, limit: int = TRANSCRIPT_LIMIT) -> list[dict]:
    """The conversation so far, oldest first: [{speaker, text}], the last ``limit`` lines."""
    lines = []
    for event in tracker.events:
        text = (event.get("text") or "").strip()
        if not text:
            continue
        if event.get("event") == "user":
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            lines.append({"speaker": "resident", "text": MEDIA_INTENTS.get(intent, text[:500])})
        elif event.get("event") == "bot":
            lines.append({"speaker": "bot", "text": text[:500]})
    return lines[-limit:]


def failed_turns_in_a_row(tracker: Tracker) -> int:
    """How many of the latest user messages in a row the NLU could not place."""
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent not in NOT_UNDERSTOOD_INTENTS:
            break
        count += 1
    return count
