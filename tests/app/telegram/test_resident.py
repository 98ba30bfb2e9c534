"""The residents' bot: what reaches Rasa's REST channel and what the resident sees.

Real aiogram Bot and Dispatcher (the product's resident router, rate limit
and inbox) against the Bot API emulator; the work-order API is the real one
over HTTP (photos are stored there). Rasa is a small REST-channel double here
that records what it was sent and answers from a script; the real Rasa is
exercised by tests/app/e2e/test_telegram.py.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher
from aiohttp import web
from sqlalchemy import select

from integrations.rasa_rest import RasaRelay
from integrations.telegram import texts
from integrations.telegram.app import make_bot, reachable
from integrations.telegram.inbox import UpdateProcessor
from integrations.telegram.middlewares import ResidentGate
from integrations.telegram.outgoing import Keyboards
from integrations.telegram.ratelimit import RateLimiter
from integrations.telegram.resident import build_router
from integrations.telegram.settings import TelegramSettings
from integrations.telegram.store import ChannelStore
from integrations.telegram.workorders import ChannelServiceClient
from integrations.workorders.adapters.orm import Attachment
from tests.app.image_samples import JPEG
from tests.app.telegram.channel_support import TELEGRAM_TOKEN, live_api
from tests.app.world import World
from tests.telegram_emulator import BotApiEmulator

TOKEN = "515151:resident-test-secret-abcdef"
CHAT = 6001


class FakeRasa:
    """Rasa's REST channel as far as the relay sees it: records messages, answers from ``replies``."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = [{"text": "好的，请问在哪里？"}]
        self.down = False
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def webhook(request: web.Request) -> web.Response:
            if self.down:
                return web.Response(status=503)
            body = await request.json()
            self.received.append(body)
            return web.json_response([{"recipient_id": body["sender"], **r} for r in self.replies])

        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", webhook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def messages(self) -> list[str]:
        return [m["message"] for m in self.received]


class Resident:
    """The resident side wired as app.py wires it, one update at a time through the inbox."""

    def __init__(self, emu: BotApiEmulator, bot: Bot, processor: UpdateProcessor) -> None:
        self.emu, self.bot, self.processor = emu, bot, processor

    async def sends(self, text: str | None = None, chat_id: int = CHAT, **media: Any) -> None:
        update_id = self.emu.user_sends(TOKEN, chat_id, text, **media)
        await self.take(update_id)

    async def take(self, update_id: int) -> None:
        from aiogram.types import Update
        raw = self.emu.update(TOKEN, update_id)
        await self.processor.accept([Update.model_validate(raw, context={"bot": self.bot})])
        await self.processor.drain(10)

    def seen(self, chat_id: int = CHAT) -> list[str]:
        return [c.text or "" for c in self.emu.sent(TOKEN, chat_id, "sendMessage") if c.ok]

    def markups(self, chat_id: int = CHAT) -> list[dict | None]:
        return [c.params.get("reply_markup") for c in self.emu.sent(TOKEN, chat_id, "sendMessage")
                if c.ok]


@pytest.fixture
def world(sqlite_db) -> World:
    return World(sqlite_db)


@pytest_asyncio.fixture
async def rasa():
    fake = FakeRasa()
    await fake.start()
    yield fake
    await fake.stop()


@pytest_asyncio.fixture
async def resident(world, rasa):
    with live_api(world) as api_url:
        async with BotApiEmulator() as emu, httpx.AsyncClient() as http:
            emu.add_bot(TOKEN)
            bot = make_bot(TOKEN, emu.base_url)
            settings = TelegramSettings(
                telegram_bot_token=TOKEN, telegram_api_base=emu.base_url, rasa_url=rasa.url,
                workorders_api_url=api_url, workorders_telegram_token=TELEGRAM_TOKEN,
                workorders_database_url=world.db.url, telegram_rate_burst=6,
                telegram_rate_per_second=0.2, telegram_max_photo_bytes=4096,
            )
            store = ChannelStore(world.db.session_factory)
            router = build_router()
            router.message.outer_middleware(ResidentGate(RateLimiter(6, 0.2)))
            dp = reachable(Dispatcher(relay=RasaRelay(rasa.url, http, backoff=0.01), settings=settings,
                            service=ChannelServiceClient(api_url, TELEGRAM_TOKEN, http),
                            store=store, keyboards=Keyboards()))
            dp.include_router(router)
            try:
                yield Resident(emu, bot, UpdateProcessor(dp, bot, store))
            finally:
                await bot.session.close()


@pytest.mark.asyncio
async def test_start_greets_without_asking_rasa(resident, rasa):
    await resident.sends("/start")
    assert resident.seen() == [texts.GREETING]
    assert rasa.received == []


@pytest.mark.asyncio
async def test_text_is_relayed_as_the_chat_and_buttons_become_a_keyboard(resident, rasa):
    rasa.replies = [{"text": "我核对一下：……对吗？",
                     "buttons": [{"title": "对", "payload": "对"}, {"title": "不对", "payload": "不对"}]}]
    await resident.sends("幸福里小区3号楼门口的路灯坏了")
    assert rasa.received == [{"sender": f"tg:{CHAT}", "message": "幸福里小区3号楼门口的路灯坏了"}]
    assert resident.seen() == ["我核对一下：……对吗？"]
    keyboard = resident.markups()[-1]
    assert [b["text"] for row in keyboard["keyboard"] for b in row] == ["对", "不对"]
    assert keyboard["one_time_keyboard"] is True

    rasa.replies = [{"text": "已为您登记，工单号 12345678。"}]
    await resident.sends("对")
    assert rasa.messages()[-1] == "对"
    assert resident.markups()[-1] == {"remove_keyboard": True}


@pytest.mark.asyncio
async def test_typed_text_can_never_be_an_intent_payload(resident, rasa):
    await resident.sends('/share_photo{"attachment_id": "somebody-elses"}')
    assert rasa.messages() == ['share_photo{"attachment_id": "somebody-elses"}']


@pytest.mark.asyncio
async def test_a_shared_location_becomes_the_location_payload(resident, rasa):
    await resident.sends(location=(31.2304163, 121.4737012))
    assert rasa.messages() == ['/share_location{"latitude":31.230416,"longitude":121.473701}']


@pytest.mark.asyncio
async def test_a_photo_is_stored_by_the_service_then_given_to_rasa_by_id(resident, rasa, world):
    await resident.sends("这个井盖破了", photo=JPEG)
    with world.db.session_factory() as session:
        stored = session.scalars(select(Attachment)).all()
    assert len(stored) == 1 and stored[0].reporter_ref == f"tg:{CHAT}"
    assert stored[0].content_type == "image/jpeg" and stored[0].order_id is None
    payload = f'/share_photo{{"attachment_id":"{stored[0].public_id}"}}'
    assert rasa.messages() == [payload, "这个井盖破了"]  # the caption follows as text


@pytest.mark.asyncio
async def test_a_photo_too_big_is_refused_politely(resident, rasa, world):
    await resident.sends(photo=JPEG + bytes(100_000))  # even its thumbnail is over the limit
    assert resident.seen() == [texts.PHOTO_TOO_BIG]
    assert rasa.received == []
    with world.db.session_factory() as session:
        assert session.scalars(select(Attachment)).all() == []


@pytest.mark.asyncio
async def test_over_the_staged_photo_quota_the_resident_hears_the_services_reason(
        resident, rasa, world):
    from datetime import datetime

    from integrations.workorders.service import upload_attachment
    from tests.app.image_samples import png

    now = datetime.now(UTC)
    for seed in range(world.db.config.max_staged_photos):
        upload_attachment(world.uow(), f"tg:{CHAT}", png(seed), "image/png", now)
    await resident.sends(photo=JPEG)
    assert resident.seen() == ["您已发送的照片较多，还没有提交。"
                               "请先完成反映，或稍后再发送新照片，谢谢。"]
    assert rasa.received == []


@pytest.mark.asyncio
async def test_stickers_and_voice_messages_get_a_polite_answer(resident, rasa):
    await resident.sends(sticker=True)
    await resident.sends(voice=b"OggS....")
    assert resident.seen() == [texts.UNSUPPORTED_MEDIA, texts.VOICE_MESSAGE]
    assert rasa.received == []


@pytest.mark.asyncio
async def test_a_burst_is_rate_limited_with_one_note(resident, rasa):
    for i in range(9):
        await resident.sends(f"第{i}条")
    assert len(rasa.received) == 6
    assert resident.seen().count(texts.TOO_FAST) == 1
    await resident.sends("另一位居民", chat_id=CHAT + 1)
    assert rasa.messages()[-1] == "另一位居民"


@pytest.mark.asyncio
async def test_telegram_flood_control_is_waited_out(resident, rasa):
    resident.emu.fail_next("sendMessage", 429, retry_after=1, chat_id=CHAT)
    await resident.sends("你好")
    calls = resident.emu.sent(TOKEN, CHAT, "sendMessage")
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 0.9


@pytest.mark.asyncio
async def test_a_blocked_chat_is_marked_unreachable_and_cleared_when_it_writes(resident, rasa, world):
    store = ChannelStore(world.db.session_factory)
    resident.emu.block(TOKEN, CHAT)
    await resident.sends("你好")
    assert store.is_unreachable(resident.bot.id, CHAT)
    assert resident.processor.deferred == 0  # nothing to retry: nobody to answer
    resident.emu.unblock(TOKEN, CHAT)
    await resident.sends("我又回来了")
    assert not store.is_unreachable(resident.bot.id, CHAT)
    assert resident.seen()[-1] == "好的，请问在哪里？"


@pytest.mark.asyncio
async def test_rasa_down_keeps_the_message_and_tells_the_resident(resident, rasa):
    rasa.down = True
    await resident.sends("楼上漏水")
    assert resident.seen() == [texts.BUSY_WILL_ANSWER]
    assert resident.processor.deferred == 1


@pytest.mark.asyncio
async def test_group_chats_are_not_served(resident, rasa):
    update_id = resident.emu.push_update(TOKEN, {"message": {
        "message_id": 1, "date": 1, "text": "大家好",
        "chat": {"id": -100, "type": "group", "title": "业主群"},
        "from": {"id": 7, "is_bot": False, "first_name": "王"}}})
    await resident.take(update_id)
    assert rasa.received == [] and resident.seen(-100) == []
