"""A form validation base whose extract methods may fill helper slots too.

rasa_sdk keeps only the slots a form requires from what ``extract_<slot>``
returns; the report form also records side facts (the area a place belongs
to, the phone number behind ``contact``, whether a correction is under way),
so those are passed through here."""
from __future__ import annotations

from abc import abstractmethod
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction


class FormWithSideSlots(FormValidationAction):
    @abstractmethod
    def name(self) -> str:
        """Subclasses name themselves (validate_<form>)."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        extraction_events = await self.get_extraction_events(dispatcher, tracker, domain)
        tracker.add_slots(extraction_events)
        validation_events = await self._extract_validation_events(dispatcher, tracker, domain)
        validated = {event["name"] for event in validation_events if event.get("event") == "slot"}
        side = [event for event in extraction_events if event["name"] not in validated]
        return side + validation_events

    def __getattr__(self, attribute: str) -> Any:
        # the logic lives in extract_<slot>; validation passes values through
        if attribute.startswith("validate_") and attribute != "validate_":
            slot = attribute[len("validate_"):]

            def passthrough(value: Any, *_: Any) -> dict[str, Any]:
                return {slot: value}

            return passthrough
        raise AttributeError(attribute)

    @staticmethod
    def requested(tracker: Tracker) -> Any:
        return tracker.get_slot("requested_slot")
