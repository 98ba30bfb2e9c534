"""The contract between the notifier and the channels' senders.

A sender gets a ``Delivery`` (an immutable copy of one outbox row) and either
returns (delivered) or raises ``TransientError`` (try again later) or
``PermanentError`` (the message is dead). The notifier (``integrations.workorders``)
and the channels (``integrations.telegram``, the phone line) both import this
module; it imports neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

__all__ = ["CHANNELS", "Delivery", "DeliveryError", "PermanentError", "Sender", "TransientError"]

# The outbox's channels (OutboxMessage.channel).
CHANNELS = ("telegram", "voice", "webhook", "log", "reports")  # reports: weekly 研判 reports


class DeliveryError(Exception):
    """A failed delivery attempt. The message is stored as ``last_error``: keep it short."""


class TransientError(DeliveryError):
    """Try again later; ``retry_after`` seconds if the receiver said so."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    """Do not try again: the message is dead."""


@dataclass(frozen=True)
class Delivery:
    """One outbox message as a sender sees it (a detached, immutable copy of the row).

    ``attempts`` counts earlier attempts (0 on the first). ``lease_until`` is the
    notifier's fencing token for recording the outcome; senders ignore it.
    """

    id: int
    topic: str
    recipient_kind: str
    recipient_ref: str
    channel: str
    order_number: str | None
    payload: Mapping[str, Any]
    dedupe_key: str
    attempts: int = 0
    lease_until: datetime | None = field(default=None, compare=False)

    @classmethod
    def from_row(cls, row: Any) -> Delivery:
        """From an ``OutboxMessage`` or a result row with the outbox's columns."""
        return cls(
            id=row.id,
            topic=row.topic,
            recipient_kind=row.recipient_kind,
            recipient_ref=row.recipient_ref,
            channel=row.channel,
            order_number=row.order_number,
            payload=dict(row.payload or {}),
            dedupe_key=row.dedupe_key,
            attempts=row.attempts,
            lease_until=row.lease_until,
        )

    @property
    def text(self) -> str:
        """The human-readable message (``payload["text"]``), or ``""``."""
        value = self.payload.get("text")
        return value if isinstance(value, str) else ""


class Sender(Protocol):
    async def send(self, message: Delivery) -> None:
        """Deliver ``message`` or raise ``TransientError`` / ``PermanentError``."""
        ...
