"""Webhook mode: Telegram POSTs updates to ``/telegram/<bot id>``.

The secret token given to ``setWebhook`` must come back in
``X-Telegram-Bot-Api-Secret-Token``; anything else is refused. An update is
answered 200 once it is in the inbox (handling continues in the background);
if it could not be stored the answer is 500, so Telegram sends it again.
"""

from __future__ import annotations

import hmac
import logging

from aiogram import Bot
from aiogram.types import Update
from aiohttp import web

from .inbox import UpdateProcessor
from .polling import ALLOWED_UPDATES

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def webhook_path(bot_id: int) -> str:
    return f"/telegram/{bot_id}"


def build_app(processors: dict[int, tuple[Bot, UpdateProcessor]], secret: str) -> web.Application:
    if not secret:
        raise ValueError("webhook mode needs TELEGRAM_WEBHOOK_SECRET")
    expected = secret.encode()

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            return web.json_response({"error": "bad secret token"}, status=401)
        try:
            bot, processor = processors[int(request.match_info["bot_id"])]
        except (KeyError, ValueError):
            return web.json_response({"error": "unknown bot"}, status=404)
        try:
            update = Update.model_validate(await request.json(), context={"bot": bot})
        except ValueError:
            return web.json_response({"error": "not a Telegram update"}, status=400)
        try:
            await processor.accept([update])
        except Exception:
            log.exception("could not store update %s; Telegram will send it again", update.update_id)
            return web.json_response({"error": "try again"}, status=500)
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/telegram/{bot_id}", receive)
    return app


async def register(bot: Bot, public_base: str, secret: str) -> None:
    await bot.set_webhook(
        url=public_base.rstrip("/") + webhook_path(bot.id),
        secret_token=secret,
        allowed_updates=ALLOWED_UPDATES,
        drop_pending_updates=False,
    )
