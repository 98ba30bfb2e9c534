"""The follow-up visit (回访): after resolution the service asks the resident
on their channel; the answer comes here, goes back to the service, which
closes the order or reopens it."""
from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from . import replies
from .answers import satisfaction_answer, satisfaction_reason
from .conversation import MEDIA_INTENTS, reporter_ref, said
from .forms import FormWithSideSlots
from .service import client
from .status import order_number_in
from .workorders_client import NotFound, Rejected, WorkOrderServiceError

logger = logging.getLogger(__name__)

NONE, DOWN = "none", "down"


async def order_to_rate(tracker: Tracker) -> str | None:
    """The sender's order waiting for a rating: the one named, else the latest."""
    number = order_number_in(tracker)
    sender = reporter_ref(tracker)
    order = await (client().get_order(number, sender) if number
                   else client().latest_order(sender, awaiting_satisfaction=True))
    if order and order.get("awaiting_satisfaction"):
        return order["number"]
    return None


class ValidateSatisfactionForm(FormWithSideSlots):
    def name(self) -> str:
        return "validate_satisfaction_form"

    async def required_slots(self, domain_slots, dispatcher, tracker, domain) -> list[str]:
        if tracker.get_slot("rating_number") in (NONE, DOWN):
            return ["rating_number"]
        slots = ["rating_number", "satisfaction"]
        if tracker.get_slot("satisfaction") == "unsatisfied":
            slots.append("satisfaction_reason")
        return slots

    async def extract_rating_number(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if tracker.get_slot("rating_number"):
            return {}
        try:
            number = await order_to_rate(tracker)
        except NotFound:
            number = None
        except WorkOrderServiceError as error:
            logger.warning("rating lookup failed: %s", error)
            return {"rating_number": DOWN}
        return {"rating_number": number or NONE}

    async def extract_satisfaction(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if self.requested(tracker) not in (None, "satisfaction") or tracker.get_slot("satisfaction"):
            return {}
        message = said(tracker)
        if message.intent in ("check_status", "request_human", "bot_challenge", "cancel_report",
                              *MEDIA_INTENTS):
            return {}
        answer = satisfaction_answer(message.text, message.entities.get("satisfaction", []))
        if answer is None:
            return {}
        slots: dict[str, Any] = {"satisfaction": answer}
        reason = satisfaction_reason(message.text) if answer == "unsatisfied" else None
        if reason:
            slots["satisfaction_reason"] = reason
        return slots

    async def extract_satisfaction_reason(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if self.requested(tracker) != "satisfaction_reason":
            return {}
        message = said(tracker)
        if message.intent in ("check_status", "request_human", "bot_challenge", *MEDIA_INTENTS) \
                or not message.text:
            return {}
        return {"satisfaction_reason": message.text[:500]}


class AskSatisfaction(Action):
    def name(self) -> str:
        return "action_ask_satisfaction"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text=replies.ASK_SATISFACTION,
                                 buttons=replies.buttons(replies.SATISFACTION_BUTTONS))
        return []


class AskSatisfactionReason(Action):
    def name(self) -> str:
        return "action_ask_satisfaction_reason"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text=replies.ASK_SATISFACTION_REASON)
        return []


class ActionSubmitSatisfaction(Action):
    def name(self) -> str:
        return "action_submit_satisfaction"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        number = tracker.get_slot("rating_number")
        answer = tracker.get_slot("satisfaction")
        done = [SlotSet("rating_number", None), SlotSet("satisfaction", None),
                SlotSet("satisfaction_reason", None)]
        if number == DOWN:
            dispatcher.utter_message(text="抱歉，系统暂时连不上，评价没有提交成功，请稍后再回复一次。")
            return done
        if number in (None, NONE) or not answer:
            dispatcher.utter_message(text=replies.NOTHING_TO_RATE)
            return done
        try:
            await client().answer_satisfaction(number, reporter_ref(tracker), answer,
                                               tracker.get_slot("satisfaction_reason"))
            dispatcher.utter_message(text=replies.rated(number, answer))
        except Rejected as error:
            dispatcher.utter_message(text=error.reason_zh or replies.NOTHING_TO_RATE)
        except WorkOrderServiceError as error:
            logger.warning("rating failed: %s", error)
            dispatcher.utter_message(text="抱歉，系统暂时连不上，评价没有提交成功，请稍后再回复一次。")
        return done
