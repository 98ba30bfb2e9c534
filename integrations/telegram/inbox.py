"""Every update is written to the channel's inbox before Telegram is told it arrived.

Then it is handled (one chat's updates in order, different chats at once) and
marked handled once its replies are out. What cannot be handled now (Rasa or
the service down) stays in the inbox and is tried again with backoff; after a
crash or restart, unhandled updates are taken up first. An update id already
in the inbox is a duplicate (a redelivery) and is not handled again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Sequence
from datetime import UTC, datetime, timedelta

from aiogram import Bot, Dispatcher
from aiogram.types import Update

from . import texts
from .outgoing import ChatUnreachable, send_text
from .store import ChannelStore

log = logging.getLogger(__name__)

RETRY_BASE_S = 5.0
RETRY_CAP_S = 300.0
#: Updates still failing after this long are given up (the resident is asked to send again).
GIVE_UP_AFTER = timedelta(hours=12)
#: How long an update may be handled before another start of the process takes it up again.
LEASE_S = 120.0
DUE_BATCH = 50


def utc_now() -> datetime:
    return datetime.now(UTC)


def chat_of(update: Update) -> int | None:
    """The chat an update belongs to (its handling is serialized per chat)."""
    if update.message is not None:
        return update.message.chat.id
    if update.edited_message is not None:
        return update.edited_message.chat.id
    if update.callback_query is not None:
        message = update.callback_query.message
        return message.chat.id if message is not None else update.callback_query.from_user.id
    return None


def retry_delay(attempts: int) -> float:
    return min(RETRY_CAP_S, RETRY_BASE_S * 2 ** max(0, attempts - 1))


class UpdateProcessor:
    """Takes updates for one bot into the inbox and handles them through an aiogram Dispatcher."""

    def __init__(self, dp: Dispatcher, bot: Bot, store: ChannelStore, *, concurrency: int = 32,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self._dp = dp
        self._bot = bot
        self._store = store
        self._clock = clock
        self._gate = asyncio.Semaphore(concurrency)
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self.handled = 0
        self.duplicates = 0
        self.deferred = 0

    @property
    def bot_id(self) -> int:
        return self._bot.id

    # ---------------------------------------------------------------- intake

    async def accept(self, updates: Sequence[Update]) -> int:
        """Store the new ones in the inbox and start handling them; returns how many were new.

        When this returns, the updates are safe in the database: the caller may
        acknowledge them to Telegram (the next getUpdates offset, or HTTP 200).
        """
        fresh = [u for u in updates if u.update_id not in self._inflight]
        if not fresh:
            self.duplicates += len(updates)
            return 0
        rows = [(u.update_id, u.model_dump(mode="json", exclude_none=True)) for u in fresh]
        new_ids = await asyncio.to_thread(
            self._store.receive_updates, self.bot_id, rows, self._clock(), LEASE_S)
        self.duplicates += len(updates) - len(new_ids)
        for update in fresh:
            if update.update_id in new_ids:
                self._spawn(update, attempts=0)
            else:
                log.info("update %s of bot %s was already received: not handled again",
                         update.update_id, self.bot_id)
        return len(new_ids)

    async def take_up_due(self) -> int:
        """Start handling inbox updates that are due again (failed earlier, or left by a crash)."""
        due = await asyncio.to_thread(self._store.due_updates, self.bot_id, self._clock(), DUE_BATCH)
        started = 0
        for item in due:
            if item.update_id in self._inflight:
                continue
            try:
                update = Update.model_validate(item.payload, context={"bot": self._bot})
            except ValueError:
                log.error("inbox update %s of bot %s cannot be read; dropped", item.update_id, self.bot_id)
                await asyncio.to_thread(self._store.finish_update, self.bot_id, item.update_id, self._clock())
                continue
            self._spawn(update, attempts=item.attempts, received_at=item.received_at)
            started += 1
        return started

    async def recover(self) -> int:
        """At start-up: make every unhandled update of this bot due now, and take them up."""
        await asyncio.to_thread(self._store.release_updates, self.bot_id, self._clock())
        return await self.take_up_due()

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait for the updates being handled; False if some were still running at ``timeout``."""
        tasks = list(self._inflight.values())
        if not tasks:
            return True
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        return not pending

    # -------------------------------------------------------------- handling

    def _spawn(self, update: Update, attempts: int, received_at: datetime | None = None) -> None:
        task = asyncio.create_task(self._handle(update, attempts, received_at or self._clock()))
        uid = update.update_id
        self._inflight[uid] = task
        task.add_done_callback(lambda _t: self._inflight.pop(uid, None))

    async def _lock_for(self, key: Hashable) -> asyncio.Lock:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        return lock

    def _unlock(self, key: Hashable) -> None:
        lock, users = self._locks[key]
        if users <= 1:
            del self._locks[key]
        else:
            self._locks[key] = (lock, users - 1)

    async def _handle(self, update: Update, attempts: int, received_at: datetime) -> None:
        chat = chat_of(update)
        key: Hashable = chat if chat is not None else ("update", update.update_id)
        lock = await self._lock_for(key)
        try:
            async with lock, self._gate:
                await self._handle_once(update, chat, attempts, received_at)
        finally:
            self._unlock(key)

    async def _handle_once(self, update: Update, chat: int | None, attempts: int,
                           received_at: datetime) -> None:
        store, bot_id = self._store, self.bot_id
        try:
            await self._dp.feed_update(self._bot, update)
        except ChatUnreachable:
            log.info("chat of update %s blocked the bot: marked unreachable", update.update_id)
            if chat is not None:
                await asyncio.to_thread(store.mark_unreachable, bot_id, str(chat),
                                        "blocked the bot", self._clock())
        except Exception as exc:  # Rasa or the service down, Telegram failing: try again later
            await self._defer(update, chat, attempts, received_at, exc)
            return
        await asyncio.to_thread(store.finish_update, bot_id, update.update_id, self._clock())
        self.handled += 1

    async def _defer(self, update: Update, chat: int | None, attempts: int,
                     received_at: datetime, exc: Exception) -> None:
        store, bot_id, now = self._store, self.bot_id, self._clock()
        attempts += 1
        if now - received_at > GIVE_UP_AFTER:
            log.error("update %s of bot %s given up after %s attempts: %s",
                      update.update_id, bot_id, attempts, exc)
            await asyncio.to_thread(store.finish_update, bot_id, update.update_id, now)
            await self._tell(chat, texts.GAVE_UP)
            return
        delay = retry_delay(attempts)
        log.warning("update %s of bot %s failed (%s: %s); trying again in %.0f s",
                    update.update_id, bot_id, type(exc).__name__, exc, delay)
        await asyncio.to_thread(store.defer_update, bot_id, update.update_id,
                                now + timedelta(seconds=delay), f"{type(exc).__name__}: {exc}"[:200])
        self.deferred += 1
        if attempts == 1 and update.message is not None:
            await self._tell(chat, texts.BUSY_WILL_ANSWER)

    async def _tell(self, chat: int | None, text: str) -> None:
        if chat is None:
            return
        try:
            await send_text(self._bot, chat, text)
        except Exception as exc:  # telling is a courtesy; the update's fate is already recorded
            log.warning("could not tell chat about a delayed update: %s", exc)


async def retry_forever(processors: Sequence[UpdateProcessor], stop: asyncio.Event,
                        interval_s: float = 2.0) -> None:
    """Take up due inbox updates every ``interval_s`` until ``stop``."""
    while not stop.is_set():
        for processor in processors:
            try:
                await processor.take_up_due()
            except Exception:
                log.exception("taking up due inbox updates failed; trying again")
        try:
            await asyncio.wait_for(stop.wait(), interval_s)
        except TimeoutError:
            pass
