"""The phone line's notifications: status changes of a caller's order go to an SMS/callback gateway.

A phone caller (``voice:h:<keyed hash>``) cannot be pushed a chat message,
and their sender id does not hold their number. The outbox row carries the
order's contact encrypted (``payload["phone_enc"]``, ``outbox.PHONE_CONTEXT``);
this sender decrypts it and POSTs, signed like the webhook channel, to the
operator's SMS or outbound-call gateway (``WORKORDERS_VOICE_WEBHOOK_URL``),
which texts or rings the number. Body (UTF-8 JSON)::

    {"dedupe_key", "topic", "phone", "order_number", "text", "spoken", "sent_at"}

``text`` is for an SMS; ``spoken`` is the same with the order number read
digit by digit, for a text-to-speech call. Same headers and outcomes as
``WebhookSender`` (``X-Timestamp``, ``X-Signature``, ``Idempotency-Key``);
a row without a number that decrypts is a permanent failure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from integrations.shared.delivery import Delivery, PermanentError
from integrations.shared.privacy import DecryptionError, Vault

from ..service.outbox import PHONE_CONTEXT
from .senders import WebhookSender

_DIGITS = "零幺二三四五六七八九"


def phone_of(vault: Vault, message: Delivery) -> str | None:
    """The number in the row's ``phone_enc``; None if there is none or it does not decrypt."""
    token = message.payload.get("phone_enc")
    if not isinstance(token, str):
        return None
    try:
        return vault.decrypt(token, context=PHONE_CONTEXT)
    except DecryptionError:
        return None


def digit_by_digit(text: str, number: str | None) -> str:
    """``text`` with the order number spoken one digit at a time (幺 for 1, as on phone lines)."""
    if not number:
        return text
    return text.replace(number, " ".join(_DIGITS[int(d)] for d in number))


class VoiceSender(WebhookSender):
    """POSTs a caller's notification with their phone number to the SMS/callback gateway."""

    def __init__(self, url: str, secret: str, client: httpx.AsyncClient, vault: Vault,
                 **kwargs: Any) -> None:
        super().__init__(url, secret, client, **kwargs)
        self._vault = vault

    def body(self, message: Delivery, now_s: float) -> dict[str, Any]:
        phone = phone_of(self._vault, message)
        if phone is None:
            raise PermanentError("no phone number to reach this caller")
        return {
            "dedupe_key": message.dedupe_key,
            "topic": message.topic,
            "phone": phone,
            "order_number": message.order_number,
            "text": message.text,
            "spoken": digit_by_digit(message.text, message.order_number),
            "sent_at": datetime.fromtimestamp(now_s, UTC).isoformat(timespec="seconds"),
        }

    def __repr__(self) -> str:  # never the secret
        return f"<VoiceSender url={self._url!r}>"
