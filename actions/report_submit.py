"""Opening the order (or adding the report to the same matter's order), and
keeping the report when the service cannot be reached so "再试一次" sends it
without retyping."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from . import replies
from .conversation import reporter_ref
from .report_form import place_facts
from .service import client
from .taxonomy import is_category
from .workorders_client import Rejected, ServiceUnavailable

logger = logging.getLogger(__name__)

REPORT_SLOTS = ("description", "location", "community", "contact", "confirmed", "same_matter",
                "category", "emergency", "emergency_cues", "area_code", "area_matched", "phone",
                "correcting", "duplicate_number", "report_key")


def cleared() -> List[Dict[Text, Any]]:
    """Events that forget the report just taken (kept reports stay in pending_reports)."""
    return [SlotSet(slot, None) for slot in REPORT_SLOTS]


def has_report(tracker: Tracker) -> bool:
    return bool(tracker.get_slot("report_key") and tracker.get_slot("location")
                and tracker.get_slot("description"))


def frozen_report(tracker: Tracker) -> Dict[str, Any]:
    """The report as it will be sent: kept as one value if the service is down."""
    contact = tracker.get_slot("contact")
    number = tracker.get_slot("duplicate_number") if tracker.get_slot("same_matter") else None
    return {
        "key": tracker.get_slot("report_key"),
        "attach_to": number,
        "order": {
            "category": tracker.get_slot("category"),
            "description": tracker.get_slot("description"),
            "location_text": tracker.get_slot("location"),
            "area_code": tracker.get_slot("area_code"),
            "reporter_ref": reporter_ref(tracker),
            "priority": "urgent" if tracker.get_slot("emergency") else "normal",
            "reporter_contact": tracker.get_slot("phone") if contact == "phone" else None,
            "anonymous": contact == "anonymous",
        },
    }


async def send(report: Dict[str, Any]) -> str:
    """Open the order (or attach to the same matter's); the text for the resident.

    Raises ServiceUnavailable (keep the report) or Rejected (it cannot go in)."""
    order = dict(report["order"])
    if report.get("attach_to"):
        await client().attach(report["attach_to"], order["reporter_ref"], order["description"])
        return replies.report_attached(report["attach_to"])
    if not order.get("area_code"):
        facts = await place_facts(order["location_text"])
        if facts["area_matched"] is None:
            raise ServiceUnavailable("area lookup failed")
        if not facts["area_code"]:
            raise Rejected(422, "no area", "暂时无法确定所在社区。")
        order["area_code"] = facts["area_code"]
    if not is_category(order.get("category")):
        raise Rejected(422, "no category", "没能判断问题类别。")
    opened = await client().create_order(order, idempotency_key=report["key"])
    return replies.order_opened(opened)


async def send_all(reports: List[Dict[str, Any]]) -> tuple[List[Dict[str, Any]], List[str]]:
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

    def name(self) -> Text:
        return "action_submit_report"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
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

    def name(self) -> Text:
        return "action_abort_report"

    async def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text=replies.REPORT_ABORTED)
        return cleared()


def pending_note(tracker: Tracker) -> Optional[str]:
    """A reminder when an earlier report still waits for the service."""
    if tracker.get_slot("pending_reports"):
        return "您之前的反映还没提交成功，说“再试一次”我就帮您重新提交。"
    return None
