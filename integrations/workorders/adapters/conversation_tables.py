"""Conversation analytics tables (migration 0014): the Rasa events the analytics
consumer received and the facts folded from them per conversation.

``conversation_events`` keeps only what the facts need: names (intent, action,
slot), times, confidences, the form question (``requested_slot``) and the order
number. Resident text (message text, entity values) is never stored. A
redelivered broker event is a no-op: ``event_key`` (sha256 of sender, timestamp,
type and name) is unique.

``conversations`` holds one row per Rasa session of a sender (``started_at`` is
the session start); the consumer refolds it from the stored events whenever
events of that sender arrive, and marks drop-outs by silence periodically.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime


class ConversationEvent(Base):
    __tablename__ = "conversation_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_key: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    sender_id: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    ts: Mapped[float] = mapped_column(Float, nullable=False)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    #: intent, action or slot name
    name: Mapped[str | None] = mapped_column(String(128))
    #: requested_slot's value or the order number; never resident text
    value: Mapped[str | None] = mapped_column(String(128))
    confidence: Mapped[float | None] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(128), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    #: sender prefix before ':' ('web', 'tg', 'voice', ...)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    #: started_at's date in the service's time zone
    day: Mapped[date] = mapped_column(Date, nullable=False)
    last_event_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    turns: Mapped[int] = mapped_column(Integer, nullable=False)
    #: JSON list of the distinct intent names, in the order first seen
    intents: Mapped[str] = mapped_column(Text, nullable=False)
    fallbacks: Mapped[int] = mapped_column(Integer, nullable=False)
    report_started: Mapped[bool] = mapped_column(Boolean, nullable=False)
    report_opened: Mapped[bool] = mapped_column(Boolean, nullable=False)
    order_number: Mapped[str | None] = mapped_column(String(32))
    seconds_to_order: Mapped[float | None] = mapped_column(Float)
    handed_off: Mapped[bool] = mapped_column(Boolean, nullable=False)
    #: the form question a started, unopened report stopped at (after >= 30 min silence)
    dropped_at: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        UniqueConstraint("sender_id", "started_at", name="uq_conversations_sender_started"),
        Index("ix_conversations_day_channel", "day", "channel"),
        Index("ix_conversations_last_event_at", "last_event_at"),
    )
