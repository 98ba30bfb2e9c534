"""Webhook mode: Telegram (here the Bot API emulator) POSTs updates to /telegram/<bot id>
with the secret token it was given; anything without that token is refused; an update
is answered 200 once it is in the inbox, and handled once even if posted twice."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher, F, Router
from aiogram.types import Message
from aiohttp import web
from aiohttp.test_utils import TestServer

from integrations.telegram import webhook
from integrations.telegram.app import make_bot
from integrations.telegram.inbox import UpdateProcessor
from integrations.telegram.outgoing import send_text
from integrations.telegram.store import ChannelStore
from tests.telegram_emulator import BotApiEmulator

TOKEN = "626262:webhook-test-secret-abcdefg"
SECRET = "s3cret-token_for-the-webhook"


@pytest_asyncio.fixture
async def served(sqlite_db):
    """The emulator, a bot, and the channel's webhook app on 127.0.0.1 (real HTTP)."""
    seen: list[str] = []
    router = Router()

    @router.message(F.text)
    async def echo(message: Message, bot: Bot) -> None:
        seen.append(message.text)
        await send_text(bot, message.chat.id, f"收到：{message.text}")

    async with BotApiEmulator() as emu:
        emu.add_bot(TOKEN)
        bot = make_bot(TOKEN, emu.base_url)
        dp = Dispatcher()
        dp.include_router(router)
        processor = UpdateProcessor(dp, bot, ChannelStore(sqlite_db.session_factory))
        server = TestServer(webhook.build_app({bot.id: (bot, processor)}, SECRET),
                            host="127.0.0.1")
        await server.start_server()
        try:
            yield emu, bot, processor, server, seen
        finally:
            await server.close()
            await bot.session.close()


@pytest.mark.asyncio
async def test_updates_posted_with_the_secret_are_handled_once(served):
    emu, bot, processor, server, seen = served
    await webhook.register(bot, str(server.make_url("")), SECRET)
    update_id = emu.user_sends(TOKEN, 71, "小区门口的井盖丢了")
    await emu.wait_sent(lambda c: c.text == "收到：小区门口的井盖丢了", token=TOKEN,
                        method="sendMessage", timeout=10)
    emu.redeliver(TOKEN, update_id)  # Telegram posts it again (e.g. it missed our 200)
    emu.user_sends(TOKEN, 71, "谢谢")
    await emu.wait_sent(lambda c: c.text == "收到：谢谢", token=TOKEN, method="sendMessage",
                        timeout=10)
    await processor.drain(5)
    assert seen == ["小区门口的井盖丢了", "谢谢"]
    assert processor.duplicates == 1


@pytest.mark.asyncio
async def test_posts_without_the_secret_are_refused(served):
    emu, bot, processor, server, seen = served
    import aiohttp

    update = {"update_id": 5, "message": {"message_id": 1, "date": 1, "text": "伪造的消息",
                                          "chat": {"id": 9, "type": "private"},
                                          "from": {"id": 9, "is_bot": False, "first_name": "x"}}}
    url = server.make_url(webhook.webhook_path(bot.id))
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {webhook.SECRET_HEADER: "wrong"}):
            async with http.post(url, json=update, headers=headers) as response:
                assert response.status == 401
        async with http.post(server.make_url("/telegram/1"), json=update,
                             headers={webhook.SECRET_HEADER: SECRET}) as response:
            assert response.status == 404  # not one of our bots
        async with http.post(url, data=b"not json", headers={webhook.SECRET_HEADER: SECRET}) as response:
            assert response.status == 400
    await asyncio.sleep(0.1)
    assert seen == []


def test_webhook_mode_needs_a_secret():
    with pytest.raises(ValueError):
        webhook.build_app({}, "")
    assert isinstance(webhook.build_app({}, SECRET), web.Application)
