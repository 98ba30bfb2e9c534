"""The residents' chat: relay to Rasa's REST channel as ``tg:<chat id>`` and send the replies.

Texts go to Rasa as typed (a leading "/" removed, so nobody can inject an
intent payload); a pressed keyboard button sends its payload. A shared
location and a photo become the intent payloads ``/share_location{...}`` and
``/share_photo{"attachment_id": ...}`` after the photo is stored by the
work-order service. Other media get a polite answer. Only private chats are
served: a resident's reports are theirs alone.

Every handler is a module-level function registered by ``build_router``; its
dependencies arrive by name from the dispatcher's workflow data: ``relay``
(RasaRelay), ``service`` (ChannelServiceClient), ``settings``
(TelegramSettings), ``keyboards`` (Keyboards).
"""

from __future__ import annotations

import io
import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Document, Message, PhotoSize

from ..rasa_rest import RasaRelay, as_typed_text, intent_payload
from . import texts
from .outgoing import Keyboards, send_replies, send_text
from .settings import TelegramSettings
from .workorders import ChannelServiceClient, Rejected

log = logging.getLogger(__name__)

#: Image types the service stores, by Telegram's document MIME type.
IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp"}


def reporter_ref(chat_id: int) -> str:
    """The resident's sender id in Rasa and on their orders."""
    return f"tg:{chat_id}"


async def relay_and_answer(message: Message, bot: Bot, relay: RasaRelay, keyboards: Keyboards,
                           text: str) -> None:
    chat_id = message.chat.id
    replies = await relay.send(reporter_ref(chat_id), text)
    await send_replies(bot, chat_id, replies, keyboards)


def largest_photo(sizes: list[PhotoSize], limit: int) -> PhotoSize | None:
    """The biggest size of the photo that fits ``limit`` bytes (Telegram lists several)."""
    fitting = [s for s in sizes if s.file_size is None or s.file_size <= limit]
    if not fitting:
        return None
    return max(fitting, key=lambda s: (s.width * s.height, s.file_size or 0))


async def _store_photo(message: Message, bot: Bot, service: ChannelServiceClient,
                       settings: TelegramSettings, file_id: str, content_type: str) -> str | None:
    """Download the file and hand it to the service; the attachment id, or None (resident told)."""
    buffer = io.BytesIO()
    await bot.download(file_id, destination=buffer)
    data = buffer.getvalue()
    if len(data) > settings.telegram_max_photo_bytes:
        await send_text(bot, message.chat.id, texts.PHOTO_TOO_BIG)
        return None
    try:
        return await service.upload_photo(reporter_ref(message.chat.id), data, content_type)
    except Rejected as exc:  # the service refused this file (type, size, quota): say so, keep going
        log.info("photo refused by the service: %s", exc)
        # 409: too many photos waiting for a report; the service's reason says what to do
        await send_text(bot, message.chat.id,
                        exc.reason_zh if exc.status == 409 else texts.PHOTO_FAILED)
        return None


async def _photo(message: Message, bot: Bot, relay: RasaRelay, service: ChannelServiceClient,
                 settings: TelegramSettings, keyboards: Keyboards, file_id: str,
                 content_type: str) -> None:
    attachment_id = await _store_photo(message, bot, service, settings, file_id, content_type)
    if attachment_id is not None:
        await relay_and_answer(message, bot, relay, keyboards,
                               intent_payload("share_photo", {"attachment_id": attachment_id}))
    caption = as_typed_text(message.caption or "")
    if caption:
        await relay_and_answer(message, bot, relay, keyboards, caption)


async def greet(message: Message, bot: Bot) -> None:
    await send_text(bot, message.chat.id, texts.GREETING)


async def relay_text(message: Message, bot: Bot, relay: RasaRelay, keyboards: Keyboards) -> None:
    typed = message.text or ""
    payload = keyboards.payload_for(message.chat.id, typed.strip())
    outgoing = payload if payload is not None else as_typed_text(typed)
    if not outgoing:
        await send_text(bot, message.chat.id, texts.EMPTY)
        return
    await relay_and_answer(message, bot, relay, keyboards, outgoing)


async def relay_location(message: Message, bot: Bot, relay: RasaRelay,
                         keyboards: Keyboards) -> None:
    assert message.location is not None
    payload = intent_payload("share_location", {
        "latitude": round(message.location.latitude, 6),
        "longitude": round(message.location.longitude, 6),
    })
    await relay_and_answer(message, bot, relay, keyboards, payload)


async def relay_photo(message: Message, bot: Bot, relay: RasaRelay, service: ChannelServiceClient,
                      settings: TelegramSettings, keyboards: Keyboards) -> None:
    size = largest_photo(message.photo or [], settings.telegram_max_photo_bytes)
    if size is None:
        await send_text(bot, message.chat.id, texts.PHOTO_TOO_BIG)
        return
    await _photo(message, bot, relay, service, settings, keyboards, size.file_id, "image/jpeg")


async def relay_image_document(message: Message, bot: Bot, relay: RasaRelay,
                               service: ChannelServiceClient, settings: TelegramSettings,
                               keyboards: Keyboards) -> None:
    document: Document = message.document  # type: ignore[assignment]
    if document.file_size is not None and document.file_size > settings.telegram_max_photo_bytes:
        await send_text(bot, message.chat.id, texts.PHOTO_TOO_BIG)
        return
    await _photo(message, bot, relay, service, settings, keyboards, document.file_id,
                 document.mime_type or "image/jpeg")


async def voice_message(message: Message, bot: Bot) -> None:
    await send_text(bot, message.chat.id, texts.VOICE_MESSAGE)


async def anything_else(message: Message, bot: Bot) -> None:
    await send_text(bot, message.chat.id, texts.UNSUPPORTED_MEDIA)


def build_router() -> Router:
    """The residents' router, this module's handlers registered on it (first match wins)."""
    router = Router(name="resident")
    router.message.filter(F.chat.type == "private")
    router.message.register(greet, CommandStart())
    router.message.register(greet, Command("help"))
    router.message.register(relay_text, F.text)
    router.message.register(relay_location, F.location)
    router.message.register(relay_photo, F.photo)
    router.message.register(relay_image_document, F.document.mime_type.in_(IMAGE_TYPES))
    router.message.register(voice_message, F.voice | F.audio | F.video_note)
    router.message.register(anything_else)
    return router
