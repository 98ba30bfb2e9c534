"""The outbox: notifications written in the same transaction as the change
they announce, delivered later by the notifier (at least once; the dedupe key
lets a receiver see each one once in effect)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime

# status values
PENDING = "pending"        # waiting for its first or next attempt
DELIVERED = "delivered"
DEAD = "dead"              # permanent failure or attempts exhausted: needs an operator


class OutboxMessage(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # what happened, e.g. "order.assigned", "order.status", "order.escalated"
    topic: Mapped[str] = mapped_column(String(64), nullable=False)
    # who hears it: handler | resident | dispatcher | supervisor | webhook
    recipient_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    # handler id, a channel sender id ("tg:123", "voice:1391234..."), an area code
    recipient_ref: Mapped[str] = mapped_column(String(128), nullable=False)
    # how to deliver: telegram | voice | webhook | log
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    order_number: Mapped[str | None] = mapped_column(String(16))
    # {"text": "<Chinese message>", ...structured fields for the channel}
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    # unique per (event, recipient): a redelivery carries the same key
    dedupe_key: Mapped[str] = mapped_column(String(160), nullable=False, unique=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # a notifier process claims a row until lease_until; a crashed one's
    # claims expire and another process delivers them
    leased_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        # delivery in order per order and recipient; pruning of delivered rows
        Index("ix_outbox_order_recipient", "order_number", "recipient_ref", "status"),
        Index("ix_outbox_status_delivered", "status", "delivered_at"),
    )
