"""Cancelling one of the sender's orders that is not yet resolved, after
asking "确定要撤销……吗？"."""
from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from . import replies
from .answers import yes_no
from .conversation import MEDIA_INTENTS, is_phone_caller, reporter_ref, said
from .forms import FormWithSideSlots
from .service import client
from .status import order_number_in
from .workorders_client import NotFound, Rejected, WorkOrderServiceError

logger = logging.getLogger(__name__)

NONE = "none"  # cancel_number when there is nothing to cancel (ends the form)
DOWN = "down"  # the service could not be asked
CANCELLABLE = frozenset({"new", "pending", "assigned", "accepted", "in_progress", "reopened"})


class ValidateCancelForm(FormWithSideSlots):
    def name(self) -> str:
        return "validate_cancel_form"

    async def required_slots(self, domain_slots, dispatcher, tracker, domain) -> list[str]:
        if tracker.get_slot("cancel_number") in (NONE, DOWN):
            return ["cancel_number"]
        return ["cancel_number", "cancel_confirmed"]

    async def extract_cancel_number(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if tracker.get_slot("cancel_number"):
            return {}
        number = order_number_in(tracker)
        sender = reporter_ref(tracker)
        try:
            order = await (client().get_order(number, sender) if number
                           else client().latest_order(sender))
        except NotFound:
            dispatcher.utter_message(text=replies.NOT_YOUR_ORDER)
            return {"cancel_number": NONE}
        except WorkOrderServiceError as error:
            logger.warning("cancel lookup failed: %s", error)
            return {"cancel_number": DOWN}
        if order is None:
            dispatcher.utter_message(text=replies.NOTHING_TO_CANCEL)
            return {"cancel_number": NONE}
        if order.get("status") not in CANCELLABLE:
            dispatcher.utter_message(text=replies.CANNOT_CANCEL_DONE)
            return {"cancel_number": NONE}
        return {"cancel_number": order["number"]}

    async def extract_cancel_confirmed(self, dispatcher, tracker, domain) -> dict[str, Any]:
        if self.requested(tracker) != "cancel_confirmed":
            return {}
        message = said(tracker)
        if message.intent in ("check_status", "request_human", "bot_challenge", "greet",
                              "thank", "out_of_scope", "report_dispute", "report_incident",
                              *MEDIA_INTENTS):
            return {}
        answer = yes_no(message.text, message.intent)
        if answer is None and message.intent == "cancel_report":
            answer = True  # "对，撤了吧"
        return {} if answer is None else {"cancel_confirmed": answer}


class AskCancelConfirmed(Action):
    def name(self) -> str:
        return "action_ask_cancel_confirmed"

    async def run(self, dispatcher, tracker, domain):
        number = tracker.get_slot("cancel_number")
        buttons = replies.buttons(replies.CANCEL_BUTTONS)
        try:
            order = await client().get_order(number, reporter_ref(tracker))
            # on the phone line the place is not said (the number may not have been)
            text = replies.ask_cancel(order, place=not is_phone_caller(tracker))
            dispatcher.utter_message(text=text, buttons=buttons)
        except WorkOrderServiceError:
            dispatcher.utter_message(text=f"确定要撤销工单 {number} 吗？", buttons=buttons)
        return []


class ActionCancelOrder(Action):
    def name(self) -> str:
        return "action_cancel_order"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        number = tracker.get_slot("cancel_number")
        done = [SlotSet("cancel_number", None), SlotSet("cancel_confirmed", None)]
        if number == DOWN:
            dispatcher.utter_message(text="抱歉，系统暂时连不上，撤销没有办成，请稍后再试。")
            return done
        if number in (None, NONE):
            return done
        if not tracker.get_slot("cancel_confirmed"):
            dispatcher.utter_message(text=replies.CANCEL_KEPT)
            return done
        try:
            await client().cancel(number, reporter_ref(tracker))
            dispatcher.utter_message(text=replies.cancelled(number))
        except Rejected as error:
            dispatcher.utter_message(text=error.reason_zh or replies.CANNOT_CANCEL_DONE)
        except WorkOrderServiceError as error:
            logger.warning("cancel failed: %s", error)
            dispatcher.utter_message(text="抱歉，系统暂时连不上，撤销没有办成，请稍后再试。")
        return done
