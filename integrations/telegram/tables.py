"""The Telegram channel's own tables (its own metadata), in the work-order database.

``store.ChannelStore`` reads and writes them. They are declared here, on the
channel's ``ChannelBase.metadata``, not on the service's; the project's Alembic
environment includes both metadatas, so one migration chain creates every
table of the database. Several bots may share one database: every key starts
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
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Index, Integer, MetaData, String, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from integrations.shared.sql import NAMING, UTCDateTime

__all__ = ["ChannelBase", "TelegramPendingInput", "TelegramUnreachable", "TelegramUpdate"]


class ChannelBase(DeclarativeBase):
    """The channel's tables; ``ChannelBase.metadata`` is Alembic's second target."""

    metadata = MetaData(naming_convention=NAMING)
    # every subclass is mapped to a Table (DeclarativeBase types it as FromClause)
    __table__: ClassVar[Table]


class TelegramUpdate(ChannelBase):
    """One update a bot received; ``handled_at`` None: not (yet) fully handled."""

    __tablename__ = "telegram_updates"

    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the update as Telegram sent it (inbox use), dropped once handled
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: failed attempts to handle it
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: unhandled: when it is due (again); None: nobody is to take it up from the inbox
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        # pruning: old updates are deleted by age
        Index("ix_telegram_updates_received_at", "received_at"),
        # the inbox: a bot's unhandled updates that are due
        Index("ix_telegram_updates_due", "bot_id", "handled_at", "next_attempt_at"),
    )


class TelegramPendingInput(ChannelBase):
    """The question a chat's next message answers (at most one per chat and bot)."""

    __tablename__ = "telegram_pending_inputs"

    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: decline | resolve | progress
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    order_number: Mapped[str] = mapped_column(String(8), nullable=False)
    #: the bot's message that asked (to edit or answer it)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class TelegramUnreachable(ChannelBase):
    """A chat the bot cannot write to, since when and why (e.g. the user blocked the bot)."""

    __tablename__ = "telegram_unreachable"

    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    reason: Mapped[str] = mapped_column(String(200), nullable=False)
