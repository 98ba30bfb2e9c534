"""The Telegram channel's own state, on the work-order database (same ``Base`` metadata).

The tables belong to the channel (``integrations/telegram``, ``store.ChannelStore``
reads and writes them); they live here so that Alembic creates them with the
rest of the schema. Several bots may share one database: every key starts
with the bot's numeric id.

- ``telegram_updates``: updates received (``update_id``), and when their
  handling finished; an update received again after it was handled is
  skipped, one whose handling never finished (a crash) is handled again.
  Used as an inbox, a row also keeps the update itself (``payload``, until
  it is handled) and when it is due (again): ``next_attempt_at`` (also the
  lease of the process handling it), ``attempts``, ``last_error``.
- ``telegram_pending_inputs``: a chat's next message answers a question the
  bot asked (a decline reason, a resolve or progress note for an order).
- ``telegram_unreachable``: chats the bot cannot write to (blocked, deleted).
"""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime

__all__ = ["TelegramPendingInput", "TelegramUnreachable", "TelegramUpdate"]


class TelegramUpdate(Base):
    """One update a bot received; ``handled_at`` None: not (yet) fully handled."""

    __tablename__ = "telegram_updates"

    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    handled_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    #: the update as Telegram sent it (inbox use), dropped once handled
    payload: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    #: failed attempts to handle it
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: unhandled: when it is due (again); None: nobody is to take it up from the inbox
    next_attempt_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    last_error: Mapped[Optional[str]] = mapped_column(String(200))

    __table_args__ = (
        # pruning: old updates are deleted by age
        Index("ix_telegram_updates_received_at", "received_at"),
        # the inbox: a bot's unhandled updates that are due
        Index("ix_telegram_updates_due", "bot_id", "handled_at", "next_attempt_at"),
    )


class TelegramPendingInput(Base):
    """The question a chat's next message answers (at most one per chat and bot)."""

    __tablename__ = "telegram_pending_inputs"

    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: decline | resolve | progress
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    order_number: Mapped[str] = mapped_column(String(8), nullable=False)
    #: the bot's message that asked (to edit or answer it)
    message_id: Mapped[Optional[int]] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class TelegramUnreachable(Base):
    """A chat the bot cannot write to, since when and why (e.g. the user blocked the bot)."""

    __tablename__ = "telegram_unreachable"

    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    reason: Mapped[str] = mapped_column(String(200), nullable=False)
