"""The Telegram channel's state in the work-order database (its own ``tables``).

    store = ChannelStore(make_session_factory(engine))
    new = await asyncio.to_thread(store.receive_updates, bot_id, rows, now)
    ...handle them...
    await asyncio.to_thread(store.finish_update, bot_id, update_id, now)

Methods are synchronous (callers run them with ``asyncio.to_thread``), each
one short transaction, and safe when several tasks or processes call them at
once: on PostgreSQL every write is one ``INSERT ... ON CONFLICT`` / ``UPDATE``
/ ``DELETE ... RETURNING`` statement (claims lock with ``SKIP LOCKED``); on
SQLite a write transaction takes the database's write lock first (``BEGIN
IMMEDIATE``), so its reads and writes never interleave with another writer's.

Updates, as an inbox: ``receive_updates`` stores updates with their payload
before they are acknowledged to Telegram (an update seen before is not new),
``due_updates`` hands out those due (again) under a lease, ``defer_update``
schedules a retry, ``release_updates`` makes every unhandled one due at
start-up, ``finish_update`` ends it (and drops the payload): never again.

``prune_updates`` deletes rows received before a time (handled or given up).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from integrations.shared.sql import READ_ONLY

from .tables import TelegramPendingInput, TelegramUnreachable, TelegramUpdate

__all__ = ["DEFAULT_LEASE_S", "ChannelStore", "InboxUpdate", "PendingInput"]

#: How long an update handed out by ``due_updates`` belongs to its taker.
DEFAULT_LEASE_S = 120.0
MAX_REASON = 200
MAX_CHAT_ID = 64

SessionFactory = Callable[..., Session]


@dataclass(frozen=True)
class PendingInput:
    """The question a chat's next message answers."""

    bot_id: int
    chat_id: str
    #: decline | resolve | progress
    kind: str
    order_number: str
    message_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class InboxUpdate:
    """An unhandled update from the inbox, as ``due_updates`` hands it out."""

    update_id: int
    payload: dict[str, Any]
    attempts: int
    received_at: datetime


def _chat(chat_id: str | int) -> str:
    text = str(chat_id).strip()
    if not text or len(text) > MAX_CHAT_ID:
        raise ValueError(f"a chat id is 1 to {MAX_CHAT_ID} characters")
    return text


class ChannelStore:
    """Updates, pending inputs and unreachable chats of the channel's bots."""

    def __init__(self, session_factory: SessionFactory) -> None:
        self._session_factory = session_factory

    # ------------------------------------------------------------ transactions

    def _write(self) -> Session:
        return self._session_factory()

    def _read(self) -> Session:
        return self._session_factory(execution_options={READ_ONLY: True})

    @staticmethod
    def _begin_write(session: Session) -> str:
        """Start the transaction as a writer (SQLite: ``BEGIN IMMEDIATE``); the dialect name.

        Engines made by ``shared.sql.make_engine`` begin that way already; a
        plain SQLite engine would begin a deferred transaction, so it is begun
        here before the first statement.
        """
        connection = session.connection()
        name = connection.dialect.name
        if name == "sqlite":
            driver = connection.connection.driver_connection
            if driver is not None and getattr(driver, "in_transaction", True) is False:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
        return name

    @staticmethod
    def _insert(dialect: str, table: Any) -> postgresql.Insert | sqlite.Insert:
        """``INSERT`` with ``ON CONFLICT`` support for ``dialect``."""
        if dialect == "postgresql":
            return postgresql.insert(table)
        if dialect == "sqlite":
            return sqlite.insert(table)
        raise NotImplementedError(f"ChannelStore supports SQLite and PostgreSQL, not {dialect}")

    # ----------------------------------------------------------------- updates

    def finish_update(self, bot_id: int, update_id: int, now: datetime) -> None:
        """The update was handled: never again (its payload, if any, is dropped)."""
        t = TelegramUpdate.__table__
        with self._write() as session, session.begin():
            dialect = self._begin_write(session)
            done = {"handled_at": now, "payload": None, "next_attempt_at": None}
            stmt = (
                self._insert(dialect, t)
                .values(bot_id=bot_id, update_id=update_id, received_at=now, attempts=0, **done)
                .on_conflict_do_update(index_elements=[t.c.bot_id, t.c.update_id], set_=done)
            )
            session.execute(stmt)

    def prune_updates(self, older_than: datetime) -> int:
        """Delete the updates received before ``older_than``; how many went."""
        with self._write() as session, session.begin():
            self._begin_write(session)
            result = session.execute(
                delete(TelegramUpdate).where(TelegramUpdate.received_at < older_than)
            )
            return int(cast("CursorResult[Any]", result).rowcount or 0)

    # ------------------------------------------------------------------- inbox

    def receive_updates(
        self, bot_id: int, rows: Iterable[tuple[int, dict[str, Any]]], now: datetime,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> set[int]:
        """Keep the updates ``(update_id, payload)`` not seen before; their ids.

        The new ones belong to the caller for ``lease_s`` (``due_updates`` will
        not hand them out before, unless ``release_updates`` is called).
        """
        values = [
            {"bot_id": bot_id, "update_id": update_id, "received_at": now, "payload": payload,
             "attempts": 0, "next_attempt_at": now + timedelta(seconds=lease_s)}
            for update_id, payload in rows
        ]
        if not values:
            return set()
        t = TelegramUpdate.__table__
        with self._write() as session, session.begin():
            dialect = self._begin_write(session)
            new: set[int] = set()
            for value in values:  # one statement each: RETURNING of a multi-row upsert
                stmt = (
                    self._insert(dialect, t).values(**value)
                    .on_conflict_do_nothing(index_elements=[t.c.bot_id, t.c.update_id])
                    .returning(t.c.update_id)
                )
                new.update(session.execute(stmt).scalars())
            return new

    def due_updates(
        self, bot_id: int, now: datetime, limit: int = 50, lease_s: float = DEFAULT_LEASE_S
    ) -> list[InboxUpdate]:
        """Up to ``limit`` unhandled updates of the bot that are due, oldest first, leased
        to the caller for ``lease_s`` (nobody else gets them meanwhile)."""
        t = TelegramUpdate.__table__
        due = and_(t.c.bot_id == bot_id, t.c.handled_at.is_(None), t.c.payload.is_not(None),
                   t.c.next_attempt_at <= now)
        with self._write() as session, session.begin():
            dialect = self._begin_write(session)
            pick = select(t.c.update_id).where(due).order_by(t.c.update_id).limit(limit)
            if dialect == "postgresql":
                pick = pick.with_for_update(skip_locked=True)
            ids = list(session.execute(pick).scalars())
            if not ids:
                return []
            rows = session.execute(
                update(t)
                .where(t.c.bot_id == bot_id, t.c.update_id.in_(ids), t.c.handled_at.is_(None))
                .values(next_attempt_at=now + timedelta(seconds=lease_s))
                .returning(t.c.update_id, t.c.payload, t.c.attempts, t.c.received_at)
            ).all()
        items = [
            InboxUpdate(update_id=r.update_id, payload=r.payload, attempts=r.attempts,
                        received_at=r.received_at)
            for r in rows
        ]
        return sorted(items, key=lambda item: item.update_id)

    def defer_update(
        self, bot_id: int, update_id: int, next_attempt_at: datetime, error: str | None = None
    ) -> None:
        """Handling failed: one more attempt counted, due again at ``next_attempt_at``."""
        t = TelegramUpdate.__table__
        with self._write() as session, session.begin():
            self._begin_write(session)
            session.execute(
                update(t)
                .where(t.c.bot_id == bot_id, t.c.update_id == update_id,
                       t.c.handled_at.is_(None))
                .values(attempts=t.c.attempts + 1, next_attempt_at=next_attempt_at,
                        last_error=(error or "")[:MAX_REASON] or None)
            )

    def release_updates(self, bot_id: int, now: datetime) -> int:
        """Make every unhandled update of the bot due now (start-up after a crash); how many."""
        t = TelegramUpdate.__table__
        with self._write() as session, session.begin():
            self._begin_write(session)
            result = session.execute(
                update(t)
                .where(t.c.bot_id == bot_id, t.c.handled_at.is_(None), t.c.payload.is_not(None))
                .values(next_attempt_at=now)
            )
            return int(cast("CursorResult[Any]", result).rowcount or 0)

    # ---------------------------------------------------------- pending inputs

    def set_pending(
        self, bot_id: int, chat_id: str | int, kind: str, order_number: str,
        message_id: int | None, now: datetime,
    ) -> None:
        """The chat's next message answers ``kind`` for ``order_number`` (replacing any
        earlier question)."""
        t = TelegramPendingInput.__table__
        values = {"kind": kind, "order_number": order_number, "message_id": message_id,
                  "created_at": now}
        with self._write() as session, session.begin():
            dialect = self._begin_write(session)
            session.execute(
                self._insert(dialect, t)
                .values(bot_id=bot_id, chat_id=_chat(chat_id), **values)
                .on_conflict_do_update(index_elements=[t.c.bot_id, t.c.chat_id], set_=values)
            )

    def get_pending(self, bot_id: int, chat_id: str | int) -> PendingInput | None:
        with self._read() as session:
            row = session.get(TelegramPendingInput, (bot_id, _chat(chat_id)))
            return None if row is None else _pending(row)

    def pop_pending(self, bot_id: int, chat_id: str | int) -> PendingInput | None:
        """The chat's pending input, removed (only one caller gets it)."""
        with self._write() as session, session.begin():
            self._begin_write(session)
            row = session.scalars(
                delete(TelegramPendingInput)
                .where(TelegramPendingInput.bot_id == bot_id,
                       TelegramPendingInput.chat_id == _chat(chat_id))
                .returning(TelegramPendingInput)
            ).first()
            return None if row is None else _pending(row)

    def clear_pending(self, bot_id: int, chat_id: str | int) -> bool:
        """Forget the chat's pending input; True if there was one."""
        return self.pop_pending(bot_id, chat_id) is not None

    # ------------------------------------------------------- unreachable chats

    def mark_unreachable(self, bot_id: int, chat_id: str | int, reason: str,
                         now: datetime) -> None:
        """The bot cannot write to the chat (since the first time, with the latest reason)."""
        t = TelegramUnreachable.__table__
        reason = (reason or "unknown")[:MAX_REASON]
        with self._write() as session, session.begin():
            dialect = self._begin_write(session)
            session.execute(
                self._insert(dialect, t)
                .values(bot_id=bot_id, chat_id=_chat(chat_id), since=now, reason=reason)
                .on_conflict_do_update(index_elements=[t.c.bot_id, t.c.chat_id],
                                       set_={"reason": reason})
            )

    def is_unreachable(self, bot_id: int, chat_id: str | int) -> bool:
        with self._read() as session:
            return session.get(TelegramUnreachable, (bot_id, _chat(chat_id))) is not None

    def clear_unreachable(self, bot_id: int, chat_id: str | int) -> bool:
        """The chat answers again; True if it had been marked."""
        with self._write() as session, session.begin():
            self._begin_write(session)
            result = session.execute(
                delete(TelegramUnreachable).where(
                    TelegramUnreachable.bot_id == bot_id,
                    TelegramUnreachable.chat_id == _chat(chat_id),
                )
            )
            return bool(cast("CursorResult[Any]", result).rowcount)


def _pending(row: TelegramPendingInput) -> PendingInput:
    return PendingInput(bot_id=row.bot_id, chat_id=row.chat_id, kind=row.kind,
                        order_number=row.order_number, message_id=row.message_id,
                        created_at=row.created_at)
