"""Photos and locations the resident shares in the chat.

The chat adapter turns them into payload messages (they bypass the NLU):
``/share_photo{"attachment_id": "..."}`` once it has staged the photo with
the work-order service, ``/share_location{"latitude": ..., "longitude": ...}``.

- While a report is being taken they go with it (``attachment_ids``, at most
  ``MAX_PHOTOS``; ``latitude``/``longitude``) and the form asks on.
- Otherwise they belong to the resident's latest open order if it was opened
  less than ``RECENT`` ago; if there is none, they start a report (the rule
  runs the report form next, whose first question acknowledges them). If the
  service cannot be asked, they are kept with a new report, so nothing is lost.
"""
from __future__ import annotations

import logging
import math
import uuid
from abc import ABCMeta, abstractmethod
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from . import replies
from .conversation import reporter_ref
from .report_submit import cleared
from .service import client
from .workorders_client import NotFound, Rejected, WorkOrderServiceError

logger = logging.getLogger(__name__)

MAX_PHOTOS = 5
RECENT = timedelta(minutes=30)
MAX_ATTACHMENT_ID = 64
REPORT_FORM = "report_form"
Events = list[dict[str, Any]]


# ------------------------------------------------------------------ reading payloads


def _payload_value(tracker: Tracker, entity: str) -> Any:
    for found in (tracker.latest_message or {}).get("entities") or []:
        if found.get("entity") == entity:
            return found.get("value")
    return None


def shared_photo(tracker: Tracker) -> str | None:
    """The staged attachment id of the photo just shared, if the payload holds one."""
    value = _payload_value(tracker, "attachment_id")
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if 0 < len(value) <= MAX_ATTACHMENT_ID else None


def _coordinate(value: Any, bound: float) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and -bound <= number <= bound else None


def shared_location(tracker: Tracker) -> tuple[float, float] | None:
    """(latitude, longitude) of the location just shared, if both are valid."""
    latitude = _coordinate(_payload_value(tracker, "latitude"), 90)
    longitude = _coordinate(_payload_value(tracker, "longitude"), 180)
    if latitude is None or longitude is None:
        return None
    return latitude, longitude


# ------------------------------------------------------------------ the order it belongs to


def created_recently(order: dict[str, Any], now: datetime) -> bool:
    """Whether the order was opened less than RECENT before ``now``."""
    value = order.get("created_at")
    if not isinstance(value, str):
        return False
    try:
        created = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return now - created < RECENT


async def recent_order(tracker: Tracker, now: datetime) -> str | None:
    """The number of the sender's latest open order if it was opened less than
    RECENT before ``now``. Raises WorkOrderServiceError when the service cannot tell."""
    order = await client().latest_order(reporter_ref(tracker))
    if order and created_recently(order, now):
        return order["number"]
    return None


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def new_report(tracker: Tracker) -> Events:
    """A report started by a photo or a location (nothing said yet)."""
    return cleared() + [
        SlotSet("report_key", f"{reporter_ref(tracker)}:{uuid.uuid4().hex}"),
        SlotSet("category", None),
        SlotSet("emergency", False),
        SlotSet("emergency_cues", []),
    ]


# ------------------------------------------------------------------ the actions


class ReceiveMedia(Action, metaclass=ABCMeta):
    """What a photo and a location have in common: during the report form
    they are kept; otherwise added to a recent order or they start a report."""

    what = ""  # 照片 / 定位, in the resident's texts
    unreadable = ""  # the text when the payload holds nothing usable

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock  # rasa_sdk builds actions without arguments; tests pass a clock

    @abstractmethod
    def name(self) -> str:
        """action_receive_<photo|location>"""

    @abstractmethod
    def read(self, tracker: Tracker) -> Any:
        """The shared value from the payload, None if it is unusable."""

    @abstractmethod
    def keep(self, tracker: Tracker, value: Any) -> tuple[str | None, Events]:
        """During the report form: what to tell, and the slot events."""

    @abstractmethod
    async def add_to(self, number: str, reporter: str, value: Any) -> str:
        """Add the value to the resident's order; the text for them."""

    @abstractmethod
    def slots(self, value: Any) -> Events:
        """The slot events that keep the value with a new report."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> Events:
        value = self.read(tracker)
        during_report = tracker.active_loop_name == REPORT_FORM
        if value is None:
            dispatcher.utter_message(text=self.unreadable)
            return [] if during_report else [FollowupAction("action_listen")]
        if during_report:
            text, events = self.keep(tracker, value)
            if text:
                dispatcher.utter_message(text=text)
            return events
        return await self._outside_a_report(dispatcher, tracker, value)

    async def _outside_a_report(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                value: Any) -> Events:
        # the rule opens the report form next; staying with an existing order
        # ends the turn here instead
        listen = [FollowupAction("action_listen")]
        number: str | None = None
        try:
            number = await recent_order(tracker, self._clock())
            if number:
                dispatcher.utter_message(text=await self.add_to(number, reporter_ref(tracker), value))
                return listen
        except NotFound:
            pass  # the order is not theirs (any more): a new report
        except Rejected as error:
            if number is not None:  # closed meanwhile, or it has all the photos it may carry
                logger.info("%s: not added: %s", self.name(), error)
                dispatcher.utter_message(
                    text=replies.media_not_added(self.what, number, error.reason_zh))
                return listen
            logger.warning("%s: kept with a new report: %s", self.name(), error)
            dispatcher.utter_message(text=replies.media_kept_while_down(self.what))
        except WorkOrderServiceError as error:
            logger.warning("%s: kept with a new report: %s", self.name(), error)
            dispatcher.utter_message(text=replies.media_kept_while_down(self.what))
        # the form's first question acknowledges the photo or location
        return new_report(tracker) + self.slots(value)


class ActionReceivePhoto(ReceiveMedia):
    what = "照片"
    unreadable = replies.PHOTO_UNREADABLE

    def name(self) -> str:
        return "action_receive_photo"

    def read(self, tracker: Tracker) -> str | None:
        return shared_photo(tracker)

    def keep(self, tracker: Tracker, value: str) -> tuple[str | None, Events]:
        photos = [p for p in tracker.get_slot("attachment_ids") or [] if isinstance(p, str)]
        if value in photos:
            return replies.PHOTO_KEPT, []
        if len(photos) >= MAX_PHOTOS:
            return replies.too_many_photos(MAX_PHOTOS), []
        return replies.PHOTO_KEPT, [SlotSet("attachment_ids", photos + [value])]

    async def add_to(self, number: str, reporter: str, value: str) -> str:
        await client().add_attachment(number, reporter, value)
        return replies.photo_added(number)

    def slots(self, value: str) -> Events:
        return [SlotSet("attachment_ids", [value])]


class ActionReceiveLocation(ReceiveMedia):
    what = "定位"
    unreadable = replies.LOCATION_UNREADABLE

    def name(self) -> str:
        return "action_receive_location"

    def read(self, tracker: Tracker) -> tuple[float, float] | None:
        return shared_location(tracker)

    def keep(self, tracker: Tracker, value: tuple[float, float]) -> tuple[str | None, Events]:
        # asked for the place right now: the form's question says it received
        # the location (action_ask_location), so it is not said twice
        text = None if tracker.get_slot("requested_slot") == "location" else replies.LOCATION_KEPT
        return text, self.slots(value)

    async def add_to(self, number: str, reporter: str, value: tuple[float, float]) -> str:
        await client().set_location(number, reporter, *value)
        return replies.location_added(number)

    def slots(self, value: tuple[float, float]) -> Events:
        return [SlotSet("latitude", value[0]), SlotSet("longitude", value[1])]
