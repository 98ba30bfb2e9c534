"""The first message of a report: take everything it already says."""
from __future__ import annotations

import logging
import uuid
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from . import replies
from .answers import leads_with_rating, satisfaction_answer
from .conversation import reporter_ref, said
from .normalize import normalize_place
from .report_form import place_facts
from .report_submit import cleared
from .report_text import emergency_numbers, is_vague, strip_preamble
from .service import client
from .taxonomy import is_category, is_request, resolve_hours
from .workorders_client import WorkOrderServiceError

logger = logging.getLogger(__name__)


async def answers_follow_up(tracker: Tracker) -> bool:
    """A report-looking message that opens with a rating ("不满意，水还在漏") while one of
    the sender's orders waits for the follow-up answer: it is that answer."""
    message = said(tracker)
    if message.emergency or not leads_with_rating(message.text):
        return False
    if satisfaction_answer(message.text, message.entities.get("satisfaction", [])) is None:
        return False
    try:
        return await client().latest_order(reporter_ref(tracker), awaiting_satisfaction=True) is not None
    except WorkOrderServiceError as error:  # then it is taken as a report, nothing lost
        logger.warning("follow-up lookup failed: %s", error)
        return False


class ActionStartReport(Action):
    def name(self) -> str:
        return "action_start_report"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        if await answers_follow_up(tracker):
            return [FollowupAction("satisfaction_form")]
        events: list[dict[str, Any]] = []
        message = said(tracker)
        place = normalize_place(message.longest("location"))
        category = message.category if is_category(message.category) else None
        events += cleared()
        incident = message.incident_category if is_category(message.incident_category) else None
        events += [
            SlotSet("report_key", f"{reporter_ref(tracker)}:{uuid.uuid4().hex}"),
            SlotSet("category", category),
            SlotSet("emergency", message.emergency),
            SlotSet("emergency_cues", list(message.emergency_cues)),
            SlotSet("emergency_check", message.emergency_check and not message.emergency),
            SlotSet("incident_category", incident),
        ]
        if message.emergency and (category is None or is_request(category)):
            # the service dispatches it to a grid worker; staff may re-file it
            category = incident or "incident.safety"
            events.append(SlotSet("category", category))
        # "我要反映个问题" says nothing yet; an answer-like message ("在3号楼")
        # counts only if the NLU still saw a report category in it
        said_what = (message.intent != "start_report"
                     and (message.intent != "inform" or category is not None)
                     and not is_vague(message.text, message.longest("location")))
        description = strip_preamble(message.text)[:500]
        if place:
            events.append(SlotSet("location", place))
            events += [SlotSet(k, v) for k, v in (await place_facts(place)).items()]
        elif is_request(category) and said_what:
            # a question needs no place: the office of a place it names, else
            # the office that takes unplaced reports, answers it
            facts = await place_facts(description)
            events.append(SlotSet("area_code", facts["area_code"]))
        if message.emergency or said_what:
            events.append(SlotSet("description", description))
        if message.emergency:
            numbers = emergency_numbers(message.text, category, message.emergency_cues)
            dispatcher.utter_message(text=replies.emergency_advice(numbers))
        elif is_request(category) and said_what:
            dispatcher.utter_message(text=replies.request_acknowledged(resolve_hours(category)))
        return events
