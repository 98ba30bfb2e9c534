"""Sending the bot's replies to a resident: keyboards, Telegram's flood limits, blocked chats."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiogram import Bot
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import KeyboardButton, ReplyKeyboardMarkup, ReplyKeyboardRemove

from ..rasa_rest import Reply

log = logging.getLogger(__name__)

#: Longest wait for Telegram's flood control before the reply is given up to the caller.
MAX_RETRY_AFTER_S = 30.0
RETRIES = 3
BUTTONS_PER_ROW = 3


class ChatUnreachable(Exception):
    """The resident blocked the bot (403): nothing more can be sent to this chat."""


@dataclass
class Keyboards:
    """The reply keyboard each chat currently shows: button title -> payload to relay."""

    _open: dict[int, dict[str, str]] = field(default_factory=dict)

    def shown(self, chat_id: int, buttons: dict[str, str]) -> None:
        self._open[chat_id] = buttons

    def closed(self, chat_id: int) -> bool:
        """Forget the chat's keyboard; True if it had one (so it must be removed on screen)."""
        return self._open.pop(chat_id, None) is not None

    def payload_for(self, chat_id: int, text: str) -> str | None:
        return self._open.get(chat_id, {}).get(text)


def reply_keyboard(titles: Sequence[str]) -> ReplyKeyboardMarkup:
    rows = [
        [KeyboardButton(text=title) for title in titles[i:i + BUTTONS_PER_ROW]]
        for i in range(0, len(titles), BUTTONS_PER_ROW)
    ]
    return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, one_time_keyboard=True)


async def send_text(bot: Bot, chat_id: int, text: str, reply_markup=None) -> None:
    """One message, waiting out Telegram's 429 ``retry_after`` a few times; 403 → ``ChatUnreachable``."""
    for attempt in range(RETRIES + 1):
        try:
            await bot.send_message(chat_id, text, reply_markup=reply_markup)
            return
        except TelegramRetryAfter as exc:
            if attempt == RETRIES or exc.retry_after > MAX_RETRY_AFTER_S:
                raise
            log.warning("Telegram flood control: waiting %s s before sending again", exc.retry_after)
            await asyncio.sleep(exc.retry_after)
        except TelegramForbiddenError as exc:
            raise ChatUnreachable(str(exc)) from exc


async def send_replies(bot: Bot, chat_id: int, replies: Sequence[Reply], keyboards: Keyboards) -> int:
    """Send Rasa's replies in order; the last one's buttons become the chat's keyboard.

    Returns how many messages were sent.
    """
    sent = 0
    replies = [r for r in replies if r.text]  # custom payloads are for other channels
    for index, reply in enumerate(replies):
        markup: ReplyKeyboardMarkup | ReplyKeyboardRemove | None = None
        last = index == len(replies) - 1
        if reply.buttons and last:
            keyboards.shown(chat_id, {b.title: b.payload for b in reply.buttons})
            markup = reply_keyboard([b.title for b in reply.buttons])
        elif last and keyboards.closed(chat_id):
            markup = ReplyKeyboardRemove()
        await send_text(bot, chat_id, reply.text, markup)
        sent += 1
    return sent
