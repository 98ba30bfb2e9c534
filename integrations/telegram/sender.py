"""The notifier's Telegram sender: outbox messages to residents' and staff chats.

``TelegramSender`` implements the notifier's ``Sender`` protocol
(``integrations/shared/delivery.py``). The chat is
``payload["chat_id"]``; residents hear from the residents' bot, handlers,
dispatchers and supervisors from the handlers' bot (the same bot in one-bot
mode). Texts and buttons come from ``tickets.render_delivery``.

Outcomes, by what Telegram answered:

    sent                          delivered
    429 Too Many Requests         TransientError(retry_after = Telegram's)
    403 blocked / deactivated     the chat is marked unreachable; PermanentError
    400 chat not found, other 400 PermanentError (sending again cannot help)
    network, timeout, 5xx         TransientError (the notifier backs off)

A chat marked unreachable for that bot is not even tried (PermanentError at
once) until the mark is cleared: the chat writes to the bot again, or links
anew.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)

from integrations.shared.delivery import Delivery, PermanentError, TransientError
from integrations.shared.privacy import redact

from .settings import TelegramSettings
from .store import ChannelStore
from .tickets import render_delivery

__all__ = ["RESIDENT", "TelegramSender", "build_telegram_sender"]

log = logging.getLogger(__name__)

RESIDENT = "resident"
_REASON_CHARS = 200
#: Longest a Bot API call may take; the notifier's own per-send limit is 20 s by default.
DEFAULT_TIMEOUT_S = 15.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


def chat_of(message: Delivery) -> int | str:
    """The chat to write to: ``payload["chat_id"]`` (numeric ids as int, as the Bot API wants)."""
    raw = message.payload.get("chat_id")
    text = str(raw).strip() if raw is not None else ""
    if not text:
        raise PermanentError(f"outbox message {message.id} has no chat_id")
    try:
        return int(text)
    except ValueError:
        return text  # a @channel username


class TelegramSender:
    """Sends outbox messages with the residents' bot or the handlers' bot."""

    def __init__(self, resident_bot: Bot, handler_bot: Bot, store: ChannelStore,
                 clock: Callable[[], datetime] = _utc_now) -> None:
        self._resident_bot = resident_bot
        self._handler_bot = handler_bot
        self._store = store
        self._clock = clock

    def __repr__(self) -> str:  # never a token
        return f"<TelegramSender bots={self._resident_bot.id},{self._handler_bot.id}>"

    def bot_for(self, message: Delivery) -> Bot:
        return self._resident_bot if message.recipient_kind == RESIDENT else self._handler_bot

    async def send(self, message: Delivery) -> None:
        chat_id = chat_of(message)
        bot = self.bot_for(message)
        chat_key = str(chat_id)
        if await asyncio.to_thread(self._store.is_unreachable, bot.id, chat_key):
            raise PermanentError(f"chat marked unreachable for bot {bot.id}; not sent")
        try:
            text, markup = render_delivery(message)
        except ValueError as exc:
            raise PermanentError(str(exc)) from exc
        try:
            await bot.send_message(chat_id=chat_id, text=text, reply_markup=markup)
        except TelegramRetryAfter as exc:
            raise TransientError(f"Telegram flood control: retry after {exc.retry_after} s",
                                 retry_after=float(exc.retry_after)) from exc
        except TelegramForbiddenError as exc:
            reason = redact(exc.message)[:_REASON_CHARS]
            await asyncio.to_thread(self._store.mark_unreachable, bot.id, chat_key, reason,
                                    self._clock())
            raise PermanentError(f"Telegram refused the chat: {reason}") from exc
        except (TelegramBadRequest, TelegramNotFound) as exc:
            # "chat not found", a message Telegram will never take: sending again cannot help.
            raise PermanentError(f"Telegram rejected the message: {redact(exc.message)}") from exc
        except (TelegramNetworkError, TelegramServerError) as exc:
            raise TransientError(f"Telegram unavailable ({type(exc).__name__})") from exc
        except TelegramAPIError as exc:  # 401 (a wrong token), 409, restarting: fixable
            raise TransientError(f"Telegram API error {type(exc).__name__}: "
                                 f"{redact(exc.message)}") from exc
        except (TimeoutError, OSError) as exc:
            raise TransientError(f"Telegram unreachable ({type(exc).__name__})") from exc


@asynccontextmanager
async def build_telegram_sender(
    settings: TelegramSettings,
    session_factory: Callable[[], Any],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> AsyncIterator[TelegramSender]:
    """The sender with its bot(s) on ``settings.telegram_api_base``; closes them on exit.

    ``async with build_telegram_sender(settings, session_factory) as sender:``
    One bot serves both sides unless a separate handlers' token is set.
    """
    if not settings.enabled:
        raise ValueError("the Telegram sender needs TELEGRAM_BOT_TOKEN")
    assert settings.telegram_bot_token is not None and settings.handler_token is not None
    api = TelegramAPIServer.from_base(settings.telegram_api_base)
    sessions: list[AiohttpSession] = []

    def make_bot(token: str) -> Bot:
        session = AiohttpSession(api=api, timeout=timeout_s)
        sessions.append(session)
        return Bot(token, session=session)

    resident_bot = make_bot(settings.telegram_bot_token)
    handler_bot = resident_bot if settings.one_bot else make_bot(settings.handler_token)
    try:
        yield TelegramSender(resident_bot, handler_bot, ChannelStore(session_factory))
    finally:
        for session in sessions:
            await session.close()
