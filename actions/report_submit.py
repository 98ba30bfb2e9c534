"""Opening the order (or adding the report to the same matter's order), and
keeping the report when the service cannot be reached so "再试一次" sends it
without retyping."""
from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from . import replies
from .answers import THIS_PHONE
from .conversation import caller_token, reporter_ref
from .report_form import place_facts
from .service import client
from .taxonomy import is_category, is_request
from .workorders_client import NotFound, Rejected, ServiceUnavailable

logger = logging.getLogger(__name__)

REPORT_SLOTS = ("description", "location", "community", "contact", "confirmed", "same_matter",
                "category", "emergency", "emergency_cues", "emergency_check", "danger",
                "incident_category", "area_code", "area_matched", "phone",
                "correcting", "duplicate_number", "report_key",
                "latitude", "longitude", "attachment_ids")
#: the place of a question or suggestion that names none
NO_PLACE = "未说明地点"


def cleared() -> list[dict[str, Any]]:
    """Events that forget the report just taken (kept reports stay in pending_reports)."""
    return [SlotSet(slot, None) for slot in REPORT_SLOTS]


def has_report(tracker: Tracker) -> bool:
    placed = tracker.get_slot("location") or is_request(tracker.get_slot("category"))
    return bool(tracker.get_slot("report_key") and placed and tracker.get_slot("description"))


def answer_reach(reporter: str, contact: str | None) -> str:
    """How the answer to a request reaches this resident (replies.ANSWER_REACHES)."""
    channel = reporter.partition(":")[0]
    if channel == "tg":
        return "chat"
    if channel == "voice":
        return "phone"
    return "contact" if contact == "phone" else "lookup"


def caller_contact(tracker: Tracker, contact: str | None, phone: str | None) -> dict[str, Any]:
    """A phone caller's number as the contact, when they accepted it ("可以" →
    THIS_PHONE) or were not asked (a question, an emergency): the gateway's
    encrypted token, which only the service can read."""
    token = caller_token(tracker)
    if token and (contact is None or (contact == "phone" and phone == THIS_PHONE)):
        return {"caller_token": token}
    return {}


def frozen_report(tracker: Tracker) -> dict[str, Any]:
    """The report as it will be sent: kept as one value if the service is down."""
    contact = tracker.get_slot("contact")
    phone = tracker.get_slot("phone") if contact == "phone" else None
    number = tracker.get_slot("duplicate_number") if tracker.get_slot("same_matter") else None
    return {
        "key": tracker.get_slot("report_key"),
        "attach_to": number,
        "order": {
            "category": tracker.get_slot("category"),
            "description": tracker.get_slot("description"),
            "location_text": tracker.get_slot("location") or NO_PLACE,
            "area_code": tracker.get_slot("area_code"),
            "reporter_ref": reporter_ref(tracker),
            "priority": "urgent" if tracker.get_slot("emergency") else "normal",
            "reporter_contact": None if phone == THIS_PHONE else phone,
            "anonymous": contact == "anonymous",
            **caller_contact(tracker, contact, phone),
            **media_fields(tracker),
        },
    }


def media_fields(tracker: Tracker) -> dict[str, Any]:
    """The photos and the shared location of the report (only what there is,
    so a report without them reads as before)."""
    fields: dict[str, Any] = {}
    photos = [p for p in tracker.get_slot("attachment_ids") or [] if isinstance(p, str) and p]
    if photos:
        fields["attachment_ids"] = photos
    latitude, longitude = tracker.get_slot("latitude"), tracker.get_slot("longitude")
    if latitude is not None and longitude is not None:
        fields["latitude"], fields["longitude"] = float(latitude), float(longitude)
    return fields


async def send(report: dict[str, Any]) -> str:
    """Open the order (or attach to the same matter's); the text for the resident.

    Raises ServiceUnavailable (keep the report) or Rejected (it cannot go in)."""
    order = dict(report["order"])
    if report.get("attach_to"):
        number = report["attach_to"]
        await client().attach(number, order["reporter_ref"], order["description"])
        text = replies.report_attached(number)
        failure = await _add_photos(number, order["reporter_ref"], order.get("attachment_ids") or [])
        return text + replies.photos_not_sent(failure) if failure else text
    if not order.get("area_code"):
        place = order["location_text"]
        facts = await place_facts(order["description"] if place == NO_PLACE else place)
        if facts["area_matched"] is None:
            raise ServiceUnavailable("area lookup failed")
        if not facts["area_code"]:
            raise Rejected(422, "no area", "暂时无法确定所在社区。")
        order["area_code"] = facts["area_code"]
    if not is_category(order.get("category")):
        raise Rejected(422, "no category", "没能判断问题类别。")
    try:
        opened = await client().create_order(order, idempotency_key=report["key"])
    except Rejected as error:
        if error.field != "attachment_ids" or not order.get("attachment_ids"):
            raise
        # photos that are gone must not stop the report: it goes in without them
        logger.warning("report sent without its photos: %s", error)
        del order["attachment_ids"]
        opened = await client().create_order(order, idempotency_key=report["key"])
        return (replies.order_opened(opened, reach=_reach(order))
                + replies.photos_not_sent(error.reason_zh))
    return replies.order_opened(opened, reach=_reach(order))


def _reach(order: dict[str, Any]) -> str:
    has_contact = order.get("reporter_contact") or order.get("caller_token")
    return answer_reach(order["reporter_ref"], "phone" if has_contact else None)


async def _add_photos(number: str, reporter: str, photos: list[str]) -> str | None:
    """Add the report's photos to the order it was added to; None if all went
    in, else why not (for the resident)."""
    failure = None
    for photo in photos:
        try:
            await client().add_attachment(number, reporter, photo)
        except NotFound as error:  # someone else's order: only its reporter adds photos
            logger.warning("photo not added to %s: %s", number, error)
            failure = failure or replies.PHOTOS_ONLY_BY_REPORTER
        except Rejected as error:
            logger.warning("photo not added to %s: %s", number, error)
            failure = failure or error.reason_zh or replies.PHOTOS_NOT_ADDED
        except ServiceUnavailable as error:
            logger.warning("photo not added to %s: %s", number, error)
            failure = failure or replies.PHOTOS_NOT_ADDED
    return failure


async def send_all(reports: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Send each report; returns the ones still kept and what to tell."""
    kept, texts = [], []
    for report in reports:
        try:
            texts.append(await send(report))
        except ServiceUnavailable as error:
            logger.warning("report kept for a retry: %s", error)
            kept.append(report)
        except Rejected as error:
            logger.warning("report rejected: %s", error)
            texts.append(replies.rejected(error.reason_zh))
    return kept, texts


class ActionSubmitReport(Action):
    """After the form: send the report taken, and any kept earlier; on
    "再试一次": send the kept ones."""

    def name(self) -> str:
        return "action_submit_report"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        reports = list(tracker.get_slot("pending_reports") or [])
        if has_report(tracker):
            reports.append(frozen_report(tracker))
        if not reports:
            dispatcher.utter_message(text=replies.NOTHING_TO_RETRY)
            return cleared()
        kept, texts = await send_all(reports)
        for text in texts:
            dispatcher.utter_message(text=text)
        if kept:
            dispatcher.utter_message(text=replies.SERVICE_DOWN)
        return cleared() + [SlotSet("pending_reports", kept or None)]


class ActionAbortReport(Action):
    """The resident drops the report ("算了，不报了")."""

    def name(self) -> str:
        return "action_abort_report"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text=replies.REPORT_ABORTED)
        return cleared()


def pending_note(tracker: Tracker) -> str | None:
    """A reminder when an earlier report still waits for the service."""
    if tracker.get_slot("pending_reports"):
        return "您之前的反映还没提交成功，说“再试一次”我就帮您重新提交。"
    return None
