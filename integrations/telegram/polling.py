"""Long polling (no public address needed): fetch, put in the inbox, then acknowledge.

Telegram is told an update arrived (the next ``getUpdates`` offset) only after
the inbox holds it, so a crash at any point loses nothing; handling goes on in
the background, so a slow reply to one chat never holds up the others.
"""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from aiogram.exceptions import (
    TelegramConflictError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import GetUpdates

from .inbox import UpdateProcessor

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query"]
POLL_TIMEOUT_S = 25
BACKOFF_CAP_S = 30.0


async def _fetch(bot: Bot, offset: int | None, stop: asyncio.Event):
    """``getUpdates``, or None if ``stop`` was set first (the request is then abandoned)."""
    request = asyncio.ensure_future(bot(GetUpdates(
        offset=offset, timeout=POLL_TIMEOUT_S, allowed_updates=ALLOWED_UPDATES,
    ), request_timeout=POLL_TIMEOUT_S + 10))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({request, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if request not in done:
        request.cancel()
        return None
    return request.result()


async def poll(bot: Bot, processor: UpdateProcessor, stop: asyncio.Event) -> None:
    """Poll until ``stop``. A wrong token stops with ``TelegramUnauthorizedError``."""
    await bot.delete_webhook(drop_pending_updates=False)
    offset: int | None = None
    failures = 0
    log.info("polling for updates of bot %s", bot.id)
    while not stop.is_set():
        try:
            updates = await _fetch(bot, offset, stop)
        except TelegramUnauthorizedError:
            raise
        except TelegramRetryAfter as exc:
            await _pause(stop, float(exc.retry_after))
            continue
        except (TelegramNetworkError, TelegramServerError, TelegramConflictError, OSError) as exc:
            failures += 1
            delay = min(BACKOFF_CAP_S, 0.5 * 2 ** failures)
            log.warning("getUpdates failed (%s: %s); again in %.1f s", type(exc).__name__, exc, delay)
            await _pause(stop, delay)
            continue
        if updates is None:
            break
        failures = 0
        if not updates:
            continue
        try:
            await processor.accept(updates)
        except Exception:
            # Not in the inbox: do not acknowledge; Telegram sends them again.
            log.exception("could not store %s updates; they will be fetched again", len(updates))
            await _pause(stop, 1.0)
            continue
        offset = max(u.update_id for u in updates) + 1
    if offset is not None:
        # Acknowledge what the inbox already holds, so a restart is not sent it again.
        try:
            await bot(GetUpdates(offset=offset, timeout=0, limit=1, allowed_updates=ALLOWED_UPDATES))
        except Exception as exc:
            log.info("could not acknowledge the last updates (%s); they are duplicates next time", exc)
    log.info("stopped polling bot %s", bot.id)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
