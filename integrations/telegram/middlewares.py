"""What every resident message passes before its handler: the rate limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Message, TelegramObject

from . import texts
from .outgoing import send_text
from .ratelimit import RateLimiter


class ResidentGate(BaseMiddleware):
    """A burst beyond the chat's allowance is answered once with a polite note and not relayed."""

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if not isinstance(event, Message):  # registered for messages only
            return await handler(event, data)
        bot = data["bot"]
        chat_id = event.chat.id
        decision = self._limiter.check((bot.id, chat_id))
        if not decision.allowed:
            if decision.warn:
                await send_text(bot, chat_id, texts.TOO_FAST)
            return None
        return await handler(event, data)
