""""我的事怎么样了": the sender's latest open order, or the one whose number
they give if it is theirs. Others' orders are never revealed. On the phone
line the caller's number alone gets only the headline: the place, the
handler and their notes follow once the caller says or keys the order number."""
from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from . import replies
from .conversation import is_phone_caller, reporter_ref, said
from .normalize import normalize_order_number
from .report_submit import pending_note
from .service import client
from .workorders_client import NotFound, WorkOrderServiceError

logger = logging.getLogger(__name__)


def order_number_in(tracker: Tracker) -> str | None:
    message = said(tracker)
    return normalize_order_number(message.first("order_number")) or \
        normalize_order_number(message.text)


class ActionStatus(Action):
    def name(self) -> str:
        return "action_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        number = order_number_in(tracker)
        sender = reporter_ref(tracker)
        try:
            if number:
                order = await client().get_order(number, sender)
            else:
                order = await client().latest_order(sender)
        except NotFound:
            dispatcher.utter_message(text=replies.NOT_YOUR_ORDER)
            return []
        except WorkOrderServiceError as error:
            logger.warning("status lookup failed: %s", error)
            dispatcher.utter_message(text=replies.STATUS_DOWN)
            return []
        if order is None:
            dispatcher.utter_message(text=pending_note(tracker) or replies.NO_OPEN_ORDER)
            return []
        details = number is not None or not is_phone_caller(tracker)
        if order.get("awaiting_satisfaction") and not tracker.active_loop_name:
            # the text ends with the follow-up question (answered outside other questions)
            text = replies.status(order) if details else replies.phone_status(order)
            dispatcher.utter_message(text=text,
                                     buttons=replies.buttons(replies.SATISFACTION_BUTTONS))
        elif details:
            dispatcher.utter_message(text=replies.status(order))
        else:
            dispatcher.utter_message(text=replies.headline(order) + replies.DETAILS_BY_NUMBER)
        return []
