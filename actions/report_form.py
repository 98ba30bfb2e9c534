"""Taking a report: what happened, where, how to reach the resident, the
read-back and its corrections, and the same-matter question.

The form asks only for what is missing. An emergency asks only for the place.
"""
from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from . import replies
from .answers import (
    contact_answer,
    correction_target,
    correction_value,
    danger_answer,
    dont_know,
    drops_report,
    yes_no,
)
from .conversation import (
    MEDIA_INTENTS,
    channel_carries_answers,
    is_phone_caller,
    opened_by_latest_message,
    reporter_ref,
    said,
)
from .forms import FormWithSideSlots
from .normalize import normalize_place
from .report_text import emergency_numbers, strip_preamble
from .service import client
from .taxonomy import category_name, is_category, is_request, kind_of
from .workorders_client import WorkOrderServiceError

logger = logging.getLogger(__name__)

DomainDict = dict[str, Any]
MAX_DESCRIPTION = 500
# answers that never count as a place or a description (nor do a shared
# photo or location: actions/media.py keeps those)
NOT_AN_ANSWER = frozenset({"check_status", "request_human", "bot_challenge", "greet", "goodbye",
                           "thank", "out_of_scope", "rate_satisfaction", "retry", "unclear",
                           "cancel_report", "start_report", *MEDIA_INTENTS})
# nor is a bare yes or no a place, a community or a description
NOT_CONTENT = NOT_AN_ANSWER | {"affirm", "deny"}


async def place_facts(location: str) -> dict[str, Any]:
    """The grid area of a place; area_code None when the service cannot tell now
    (the submission resolves it again)."""
    try:
        match = await client().resolve_area(location)
    except WorkOrderServiceError as error:
        logger.warning("area lookup failed: %s", error)
        return {"area_code": None, "area_matched": None}
    if match is None:
        return {"area_code": None, "area_matched": False}
    return {"area_code": match["code"], "area_matched": bool(match.get("matched"))}


def _place_from(tracker: Tracker) -> str | None:
    message = said(tracker)
    return normalize_place(message.longest("location"))


# places too vague to find on their own ("小区里", "楼道里", "家门口")
GENERIC_PLACE_MAX = 4


def with_community(location: str | None, community: str) -> str:
    """The place once the resident has named the community: a vague place is
    replaced by the answer, a specific one is prefixed with it."""
    if not location or len(location) <= GENERIC_PLACE_MAX:
        return community
    if community in location or location in community:
        return community if len(community) > len(location) else location
    return f"{community}{location}"


#: kinds whose new report may be the same matter as an open order: an incident anyone
#: reported, a dispute the same resident reported (a further message about it, such as a
#: threat, then reaches that order, where the dispute-risk scan reads it)
SAME_MATTER_KINDS = ("incident", "dispute")


def own_only(tracker: Tracker, category: str) -> str | None:
    """Whose orders a same-matter lookup may find: for a dispute only this resident's
    (never tell anyone that a dispute at their place was reported), else anyone's."""
    return reporter_ref(tracker) if kind_of(category) == "dispute" else None


class ValidateReportForm(FormWithSideSlots):
    def name(self) -> str:
        return "validate_report_form"

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: DomainDict) -> list[str]:
        if tracker.get_slot("emergency"):
            return ["location"]
        slots = []
        if tracker.get_slot("emergency_check") and tracker.get_slot("danger") is None:
            slots.append("danger")  # asked first: is anyone in danger now?
        slots.append("description")
        if is_request(tracker.get_slot("category")):
            # a question or suggestion needs no place, and a contact only
            # where the channel cannot carry the answer
            if not channel_carries_answers(tracker):
                slots.append("contact")
            return slots + ["confirmed"]
        slots.append("location")
        if tracker.get_slot("area_matched") is False:
            slots.append("community")
        slots += ["contact", "confirmed"]
        if tracker.get_slot("duplicate_number"):
            slots.append("same_matter")
        return slots

    # -- is anyone in danger now? -------------------------------------------------
    async def extract_danger(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                             domain: DomainDict) -> dict[str, Any]:
        if self.requested(tracker) != "danger":
            return {}
        message = said(tracker)
        answer = True if message.emergency else danger_answer(message.text, message.intent)
        if answer is False:
            dispatcher.utter_message(text=replies.NO_DANGER)
            return {"danger": False}
        # yes, or an answer that says neither: safety first
        category = tracker.get_slot("category")
        if not category or kind_of(category) != "incident":
            category = tracker.get_slot("incident_category") or "incident.safety"
        description = tracker.get_slot("description") or ""
        numbers = emergency_numbers(f"{description} {message.text}", category,
                                    message.emergency_cues)
        dispatcher.utter_message(text=replies.emergency_advice(numbers))
        slots: dict[str, Any] = {"danger": True, "emergency": True, "category": category}
        place = _place_from(tracker)
        if place and not tracker.get_slot("location"):
            slots["location"] = place
            slots.update(await place_facts(place))
        return slots

    # -- what happened ---------------------------------------------------------
    async def extract_description(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> dict[str, Any]:
        message = said(tracker)
        if self.requested(tracker) != "description" or not message.text:
            return {}
        if message.intent in NOT_CONTENT:
            return {}
        slots: dict[str, Any] = {"description": strip_preamble(message.text)[:MAX_DESCRIPTION]}
        if is_category(message.category):
            slots["category"] = message.category
        if message.emergency and not tracker.get_slot("emergency"):
            slots["emergency"] = True
            if kind_of(slots.get("category") or "") != "incident":
                slots["category"] = message.incident_category or "incident.safety"
            numbers = emergency_numbers(message.text, slots["category"], message.emergency_cues)
            dispatcher.utter_message(text=replies.emergency_advice(numbers))
        elif message.emergency_check and tracker.get_slot("danger") is None:
            slots["emergency_check"] = True
            slots["incident_category"] = message.incident_category
        place = _place_from(tracker)
        if place and not tracker.get_slot("location"):
            slots["location"] = place
            slots.update(await place_facts(place))
        return slots

    # -- where -----------------------------------------------------------------
    async def extract_location(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                               domain: DomainDict) -> dict[str, Any]:
        if self.requested(tracker) != "location":
            return {}
        message = said(tracker)
        place = _place_from(tracker)
        if place is None and message.intent not in NOT_CONTENT:
            place = normalize_place(message.text[:200])
        if not place:
            return {}
        return {"location": place, **(await place_facts(place))}

    async def extract_community(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> dict[str, Any]:
        message = said(tracker)
        if self.requested(tracker) != "community":
            return {}
        if dont_know(message.text):
            # the office that takes unplaced reports sorts it out: no second asking
            return {"community": replies.COMMUNITY_UNKNOWN}
        if message.intent in NOT_CONTENT:
            return {}
        community = normalize_place(message.longest("location") or message.text[:100])
        if not community:
            return {}
        location = with_community(tracker.get_slot("location"), community)
        facts = await place_facts(location)
        if facts["area_code"] is None and facts["area_matched"] is False:
            facts = {}  # still unknown: the service's fallback area takes it
        return {"community": community, "location": location, **facts}

    # -- how to reach them -----------------------------------------------------
    async def extract_contact(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                              domain: DomainDict) -> dict[str, Any]:
        message = said(tracker)
        if self.requested(tracker) != "contact":
            return {}
        if message.intent in ("check_status", "request_human", "bot_challenge", *MEDIA_INTENTS):
            return {}
        answer = contact_answer(message.text, message.intent, message.first("phone"),
                                is_phone_caller(tracker))
        if answer is None:
            return {}
        kind, phone = answer
        return {"contact": kind, "phone": phone}

    # -- the read-back ---------------------------------------------------------
    async def extract_confirmed(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> dict[str, Any]:
        message = said(tracker)
        if self.requested(tracker) != "confirmed" or message.intent in NOT_AN_ANSWER:
            return {}
        if drops_report(message.text):
            return {}  # the rule for cancel_report drops the report
        correction = await self._correction(tracker)
        if correction:
            return {**correction, "confirmed": None, "correcting": False}
        answer = yes_no(message.text, message.intent)
        if answer is True:
            return {"confirmed": True, "correcting": False, **(await self._duplicate(tracker))}
        if answer is False:
            return {"confirmed": None, "correcting": True}
        return {}

    async def _correction(self, tracker: Tracker) -> dict[str, Any]:
        """The changed fields if the message corrects the report, else {}."""
        message = said(tracker)
        correcting = bool(tracker.get_slot("correcting"))
        target = correction_target(message.text)
        if target is None:
            if message.first("phone"):
                target = "contact"
            elif message.longest("location") and not message.is_report:
                target = "location"
            elif message.is_report and len(message.text) > 6:
                target = "description"
            elif correcting and message.intent == "inform":
                target = "location"
            elif correcting and message.intent not in ("affirm", "deny"):
                target = "description"
        if target is None:
            return {}
        value = correction_value(message.text)
        if target == "location":
            named = correction_target(message.text) == "location"
            place = (normalize_place(value) if named else None) or _place_from(tracker)
            if not place:
                return {}
            return {"location": place, "community": None, **(await place_facts(place))}
        if target == "contact":
            answer = contact_answer(value, None, message.first("phone"), is_phone_caller(tracker))
            if answer is None:
                return {}
            return {"contact": answer[0], "phone": answer[1]}
        if yes_no(value, None) is not None and len(value) <= 2:
            return {}
        changes: dict[str, Any] = {"description": strip_preamble(value)[:MAX_DESCRIPTION]}
        if is_category(message.category):
            changes["category"] = message.category
        return changes

    async def _duplicate(self, tracker: Tracker) -> dict[str, Any]:
        """An open order of the same incident at the same place, or the resident's own
        open order of the same dispute there, if the service knows one."""
        category, area = tracker.get_slot("category"), tracker.get_slot("area_code")
        location = tracker.get_slot("location")
        if not (category and area and location) or kind_of(category) not in SAME_MATTER_KINDS:
            return {}
        try:
            existing = await client().find_duplicate(category, area, location,
                                                     own_only(tracker, category))
        except WorkOrderServiceError as error:
            logger.warning("duplicate check failed: %s", error)
            return {}
        return {"duplicate_number": existing["number"]} if existing else {}

    # -- the same matter? -------------------------------------------------------
    async def extract_same_matter(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> dict[str, Any]:
        message = said(tracker)
        if self.requested(tracker) != "same_matter" or message.intent in NOT_AN_ANSWER:
            return {}
        answer = yes_no(message.text, message.intent)
        return {} if answer is None else {"same_matter": answer}


# ---------------------------------------------------------------- questions


class AskDanger(Action):
    def name(self) -> str:
        return "action_ask_danger"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text=replies.ASK_DANGER,
                                 buttons=replies.buttons(replies.DANGER_BUTTONS))
        return []


class AskDescription(Action):
    def name(self) -> str:
        return "action_ask_description"

    async def run(self, dispatcher, tracker, domain):
        text = (replies.ASK_REQUEST if is_request(tracker.get_slot("category"))
                else replies.ASK_DESCRIPTION)
        if opened_by_latest_message(tracker, "report_form"):  # a report started by a photo or location
            text = {"share_photo": replies.PHOTO_STARTS_REPORT,
                    "share_location": replies.LOCATION_STARTS_REPORT}.get(said(tracker).intent, text)
        dispatcher.utter_message(text=text)
        return []


class AskLocation(Action):
    def name(self) -> str:
        return "action_ask_location"

    async def run(self, dispatcher, tracker, domain):
        if tracker.get_slot("latitude") is not None:  # a shared location: the place's name is still needed
            located_now = said(tracker).intent == "share_location"
            dispatcher.utter_message(
                text=replies.LOCATION_ASK_PLACE if located_now else replies.ASK_PLACE_BESIDES_LOCATION)
            return []
        urgent = bool(tracker.get_slot("emergency"))
        if (not urgent and tracker.get_slot("requested_slot") == "location"
                and dont_know(said(tracker).text)):
            # "不知道" to "where?": a rough place is enough
            dispatcher.utter_message(text=replies.ASK_LOCATION_ROUGHLY)
            return []
        dispatcher.utter_message(text=replies.ASK_LOCATION_URGENT if urgent else replies.ASK_LOCATION)
        return []


class AskCommunity(Action):
    def name(self) -> str:
        return "action_ask_community"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text=replies.ASK_COMMUNITY)
        return []


class AskContact(Action):
    def name(self) -> str:
        return "action_ask_contact"

    async def run(self, dispatcher, tracker, domain):
        if is_phone_caller(tracker):  # the phone line: answered by voice or key
            dispatcher.utter_message(text=replies.ASK_CONTACT_CALLER,
                                     buttons=replies.buttons(replies.CALLER_CONTACT_BUTTONS))
        elif is_request(tracker.get_slot("category")):
            dispatcher.utter_message(text=replies.ASK_CONTACT_FOR_ANSWER,
                                     buttons=replies.buttons(replies.CONTACT_BUTTONS[:1]))
        else:
            dispatcher.utter_message(text=replies.ASK_CONTACT,
                                     buttons=replies.buttons(replies.CONTACT_BUTTONS))
        return []


class AskConfirmed(Action):
    def name(self) -> str:
        return "action_ask_confirmed"

    async def run(self, dispatcher, tracker, domain):
        if tracker.get_slot("correcting"):
            dispatcher.utter_message(text=replies.ASK_CORRECTION)
            return []
        category = tracker.get_slot("category")
        if is_request(category):
            dispatcher.utter_message(text=replies.readback_request(
                category, tracker.get_slot("description") or "", tracker.get_slot("location"),
                tracker.get_slot("contact"), tracker.get_slot("phone"),
                asked_contact=not channel_carries_answers(tracker),
                photos=len(tracker.get_slot("attachment_ids") or []),
            ), buttons=replies.buttons(replies.CONFIRM_BUTTONS))
            return []
        dispatcher.utter_message(text=replies.readback(
            category_name(category),
            tracker.get_slot("description") or "",
            tracker.get_slot("location") or "",
            tracker.get_slot("contact"),
            tracker.get_slot("phone"),
            photos=len(tracker.get_slot("attachment_ids") or []),
            located=tracker.get_slot("latitude") is not None,
        ), buttons=replies.buttons(replies.CONFIRM_BUTTONS))
        return []


class AskSameMatter(Action):
    def name(self) -> str:
        return "action_ask_same_matter"

    async def run(self, dispatcher, tracker, domain):
        number = tracker.get_slot("duplicate_number")
        category = tracker.get_slot("category") or ""
        own = own_only(tracker, category)
        label = "正在办理"
        try:
            existing = await client().find_duplicate(
                category, tracker.get_slot("area_code"), tracker.get_slot("location"), own)
            if existing and existing.get("number") == number:
                label = existing.get("label") or label
        except WorkOrderServiceError as error:
            logger.warning("duplicate lookup failed: %s", error)
        ask = replies.ask_same_own_matter if own else replies.ask_same_matter
        dispatcher.utter_message(text=ask(number, label),
                                 buttons=replies.buttons(replies.SAME_MATTER_BUTTONS))
        return []
