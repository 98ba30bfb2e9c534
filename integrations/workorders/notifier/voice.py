"""The phone line's notifications: status changes of a caller's order go to an SMS/callback gateway.

A phone caller (``voice:<number>``) cannot be pushed a chat message. Their
status changes are POSTed, signed like the webhook channel, to the operator's
SMS or outbound-call gateway (``WORKORDERS_VOICE_WEBHOOK_URL``), which texts
or rings the number. Body (UTF-8 JSON)::

    {"dedupe_key", "topic", "phone", "order_number", "text", "spoken", "sent_at"}

``text`` is for an SMS; ``spoken`` is the same with the order number read
digit by digit, for a text-to-speech call. Same headers and outcomes as
``WebhookSender`` (``X-Timestamp``, ``X-Signature``, ``Idempotency-Key``);
a sender id without a usable phone number is a permanent failure.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from .senders import Delivery, PermanentError, WebhookSender

_PHONE = re.compile(r"^\+?\d{5,15}$")
_DIGITS = "零幺二三四五六七八九"


def phone_of(recipient_ref: str) -> str | None:
    """The number of ``voice:<number>``; None for anything else (e.g. an unknown caller)."""
    channel, _, ident = recipient_ref.partition(":")
    ident = ident.replace("-", "").replace(" ", "")
    return ident if channel == "voice" and _PHONE.match(ident) else None


def digit_by_digit(text: str, number: str | None) -> str:
    """``text`` with the order number spoken one digit at a time (幺 for 1, as on phone lines)."""
    if not number:
        return text
    return text.replace(number, " ".join(_DIGITS[int(d)] for d in number))


class VoiceSender(WebhookSender):
    """POSTs a caller's notification with their phone number to the SMS/callback gateway."""

    def body(self, message: Delivery, now_s: float) -> dict[str, Any]:
        phone = phone_of(message.recipient_ref)
        if phone is None:
            raise PermanentError("no phone number to reach this caller")
        return {
            "dedupe_key": message.dedupe_key,
            "topic": message.topic,
            "phone": phone,
            "order_number": message.order_number,
            "text": message.text,
            "spoken": digit_by_digit(message.text, message.order_number),
            "sent_at": datetime.fromtimestamp(now_s, timezone.utc).isoformat(timespec="seconds"),
        }

    def __repr__(self) -> str:  # never the secret
        return f"<VoiceSender url={self._url!r}>"
