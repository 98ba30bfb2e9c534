"""What every resident message passes before its handler: the rate limit, and reachability."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Message

from . import texts
from .outgoing import send_text
from .ratelimit import RateLimiter
from .store import ChannelStore


class ResidentGate(BaseMiddleware):
    """A burst beyond the chat's allowance is answered once with a polite note and not relayed.

    A message from a chat once marked unreachable (it had blocked the bot) shows
    that it can be reached again, so the mark is cleared and notifications resume.
    """

    def __init__(self, limiter: RateLimiter, store: ChannelStore) -> None:
        self._limiter = limiter
        self._store = store

    async def __call__(
        self,
        handler: Callable[[Message, dict[str, Any]], Awaitable[Any]],
        event: Message,
        data: dict[str, Any],
    ) -> Any:
        bot = data["bot"]
        chat_id = event.chat.id
        decision = self._limiter.check((bot.id, chat_id))
        if not decision.allowed:
            if decision.warn:
                await send_text(bot, chat_id, texts.TOO_FAST)
            return None
        if await asyncio.to_thread(self._store.is_unreachable, bot.id, str(chat_id)):
            await asyncio.to_thread(self._store.clear_unreachable, bot.id, str(chat_id))
        return await handler(event, data)
