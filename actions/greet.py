"""A greeting. On the phone line it is also where a call starts (the gateway
says "/greet" when it answers): a caller who has an open order hears its
headline first (number, category, status, deadline: never the place, the
parties or notes), and how to hear the details: by saying or keying the
order number."""
from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from . import replies
from .conversation import is_phone_caller, reporter_ref
from .service import client
from .workorders_client import WorkOrderServiceError

logger = logging.getLogger(__name__)


class ActionGreet(Action):
    def name(self) -> str:
        return "action_greet"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        if not is_phone_caller(tracker):
            dispatcher.utter_message(text=replies.GREETING)
            return []
        try:
            order = await client().latest_order(reporter_ref(tracker))
        except WorkOrderServiceError as error:  # the call goes on: greet without the status
            logger.warning("status lookup at call start failed: %s", error)
            order = None
        if order is None:
            dispatcher.utter_message(text=replies.PHONE_GREETING)
        elif order.get("awaiting_satisfaction"):
            dispatcher.utter_message(text=replies.phone_greeting_with(order),
                                     buttons=replies.buttons(replies.SATISFACTION_BUTTONS))
        else:
            dispatcher.utter_message(text=replies.phone_greeting_with(order))
        return []
