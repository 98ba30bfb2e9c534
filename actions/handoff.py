"""A person takes over: on "转人工", or after two messages in a row the bot
could not understand. The dispatcher gets a callback request with the
conversation so far, through the work-order service."""
from __future__ import annotations

import hashlib
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from . import replies
from .answers import THIS_PHONE, dont_know
from .conversation import (
    caller_token,
    failed_turns_in_a_row,
    is_phone_caller,
    reporter_ref,
    transcript,
)
from .service import client
from .workorders_client import WorkOrderServiceError

logger = logging.getLogger(__name__)

FAILED_TURNS_FOR_HANDOFF = 2
FORM_SLOTS = ("cancel_number", "cancel_confirmed", "rating_number", "satisfaction",
              "satisfaction_reason", "requested_slot")


def _key(tracker: Tracker) -> str:
    """One callback per user message, however often the action is retried."""
    message_id = (tracker.latest_message or {}).get("message_id") or ""
    users = sum(1 for e in tracker.events if e.get("event") == "user")
    seed = f"{reporter_ref(tracker)}|{message_id}|{users}"
    return "callback:" + hashlib.sha256(seed.encode()).hexdigest()[:32]


async def request_callback(tracker: Tracker, reason: str) -> bool:
    """A phone caller is called back at the number they gave, else at the one they
    ring from (the gateway's encrypted token: the service decrypts it)."""
    phone = tracker.get_slot("phone") if tracker.get_slot("contact") == "phone" else None
    if phone == THIS_PHONE:
        phone = None
    try:
        await client().request_callback(
            reporter_ref(tracker), reason, transcript(tracker), _key(tracker),
            contact=phone, order_number=None,
            caller_token=None if phone else caller_token(tracker))
        return True
    except WorkOrderServiceError as error:
        logger.warning("callback request failed: %s", error)
        return False


def transfer_call(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """On the phone line a person can take over at once: tell the gateway to transfer."""
    if is_phone_caller(tracker):
        dispatcher.utter_message(json_message={"voice": "transfer"})


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        ok = await request_callback(tracker, "asked")
        dispatcher.utter_message(text=replies.HANDOFF if ok else replies.HANDOFF_DOWN)
        transfer_call(dispatcher, tracker)
        return [SlotSet(slot, None) for slot in FORM_SLOTS]


def form_takes_it(tracker: Tracker) -> bool:
    """Whether the report form takes this unplaced message as its answer, so
    "I did not understand" must not be said: any answer to "is anyone in
    danger?" (one that says neither counts as yes), "不知道" to the community
    (the fallback grid takes it) or to the place (asked for a rough one)."""
    if tracker.active_loop_name != "report_form":
        return False
    requested = tracker.get_slot("requested_slot")
    text = (tracker.latest_message or {}).get("text") or ""
    return requested == "danger" or (requested in ("community", "location") and dont_know(text))


class ActionFallback(Action):
    """The NLU could not place the message: ask again; the second time in a
    row, a staff member is asked to call."""

    def name(self) -> str:
        return "action_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        if form_takes_it(tracker):
            return []
        failed = failed_turns_in_a_row(tracker)
        if failed < FAILED_TURNS_FOR_HANDOFF:
            dispatcher.utter_message(text=replies.NOT_UNDERSTOOD)
            return []
        if failed > FAILED_TURNS_FOR_HANDOFF:  # already asked for a callback
            dispatcher.utter_message(text=replies.HANDOFF_WAIT)
            return []
        ok = await request_callback(tracker, "not_understood")
        dispatcher.utter_message(text=replies.HANDOFF_AFTER_FAILURES if ok else replies.HANDOFF_DOWN)
        transfer_call(dispatcher, tracker)
        return []
