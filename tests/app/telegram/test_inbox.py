"""The inbox and long polling: nothing acknowledged before it is stored, nothing handled twice,
failures retried, a crash in the middle taken up at the next start, one chat in order.

Real aiogram Bots and Dispatchers against the Bot API emulator on 127.0.0.1,
the channel's store on SQLite; the routers here are test doubles that record
what they were given (the real routers have their own tests)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

from integrations.telegram import texts
from integrations.telegram.inbox import UpdateProcessor
from integrations.telegram.outgoing import send_text
from integrations.telegram.polling import poll
from integrations.telegram.store import ChannelStore
from integrations.telegram.tables import TelegramUpdate
from tests.telegram_emulator import BotApiEmulator

TOKEN = "424242:inbox-test-secret-abcdefgh"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Recorder:
    """A router that records each text, answers it, and can fail or hold on command."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.failures = 0
        self.hold: asyncio.Event | None = None
        self.router = Router()

        @self.router.message(F.text)
        async def on_text(message: Message, bot: Bot) -> None:
            self.seen.append(message.text)
            if self.hold is not None:
                await self.hold.wait()
            if self.failures:
                self.failures -= 1
                raise ConnectionError("Rasa is down")
            await asyncio.sleep(0.05 if message.text.startswith("slow") else 0)
            await send_text(bot, message.chat.id, f"收到：{message.text}")


@pytest_asyncio.fixture
async def emu():
    async with BotApiEmulator() as emulator:
        emulator.add_bot(TOKEN)
        yield emulator


@pytest_asyncio.fixture
async def bot(emu):
    client = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url)))
    yield client
    await client.session.close()


@pytest.fixture
def store(sqlite_db) -> ChannelStore:
    return ChannelStore(sqlite_db.session_factory)


def processor_for(recorder: Recorder, bot: Bot, store: ChannelStore, clock=None) -> UpdateProcessor:
    dp = Dispatcher()
    dp.include_router(recorder.router)
    return UpdateProcessor(dp, bot, store, clock=clock or Clock())


async def run_poll(bot: Bot, processor: UpdateProcessor, until, timeout: float = 10.0) -> None:
    """Poll until ``until()`` holds, then stop the loop."""
    stop = asyncio.Event()
    task = asyncio.create_task(poll(bot, processor, stop))
    deadline = asyncio.get_running_loop().time() + timeout
    while not until():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        assert not task.done(), task.exception()
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, 5)


def texts_to(emu: BotApiEmulator, chat_id: int) -> list[str]:
    return [c.text for c in emu.sent(TOKEN, chat_id, "sendMessage") if c.ok]


@pytest.mark.asyncio
async def test_polled_updates_are_handled_once_and_acknowledged(emu, bot, store, sqlite_db):
    recorder = Recorder()
    processor = processor_for(recorder, bot, store)
    first = emu.user_sends(TOKEN, 11, "路灯坏了")
    emu.user_sends(TOKEN, 12, "楼道堆满杂物")
    await run_poll(bot, processor, lambda: len(texts_to(emu, 11)) + len(texts_to(emu, 12)) == 2)
    await processor.drain(5)
    assert sorted(recorder.seen) == ["楼道堆满杂物", "路灯坏了"]
    assert texts_to(emu, 11) == ["收到：路灯坏了"]
    # acknowledged: the next getUpdates offset is past both
    assert emu.confirmed_offset(TOKEN) > first + 1

    # Telegram sends the first one again (e.g. after a timeout on its side): not handled twice
    emu.redeliver(TOKEN, first)
    await run_poll(bot, processor, lambda: processor.duplicates >= 1)
    await processor.drain(5)
    assert recorder.seen.count("路灯坏了") == 1
    assert texts_to(emu, 11) == ["收到：路灯坏了"]
    with sqlite_db.session_factory() as session:
        rows = session.query(TelegramUpdate).all()
        assert {r.update_id for r in rows if r.handled_at is not None} == {first, first + 1}
        assert all(r.payload is None for r in rows)  # residents' messages are not kept


@pytest.mark.asyncio
async def test_updates_not_stored_are_not_acknowledged(emu, bot, store):
    class FailingStore(ChannelStore):
        def receive_updates(self, *args, **kwargs):
            raise OSError("database is gone")

    recorder = Recorder()
    processor = processor_for(recorder, bot, FailingStore(store._session_factory))
    emu.user_sends(TOKEN, 21, "有人在小区里烧垃圾")
    await run_poll(bot, processor, lambda: emu.get_updates_calls >= 2)
    assert recorder.seen == []
    assert emu.confirmed_offset(TOKEN) == 0  # Telegram will hand it out again

    # with the database back, the same update is taken and handled
    recorder = Recorder()
    processor = processor_for(recorder, bot, store)
    await run_poll(bot, processor, lambda: texts_to(emu, 21) == ["收到：有人在小区里烧垃圾"])
    assert recorder.seen == ["有人在小区里烧垃圾"]


@pytest.mark.asyncio
async def test_a_failed_update_is_retried_later_and_the_resident_told_once(emu, bot, store):
    clock = Clock()
    recorder = Recorder()
    recorder.failures = 2
    processor = processor_for(recorder, bot, store, clock)
    emu.user_sends(TOKEN, 31, "井盖丢了")
    await run_poll(bot, processor, lambda: processor.deferred == 1)
    await processor.drain(5)
    assert texts_to(emu, 31) == [texts.BUSY_WILL_ANSWER]

    assert await processor.take_up_due() == 0  # not due yet
    clock.now += timedelta(seconds=6)
    assert await processor.take_up_due() == 1
    await processor.drain(5)
    assert processor.deferred == 2 and texts_to(emu, 31) == [texts.BUSY_WILL_ANSWER]  # told once
    clock.now += timedelta(seconds=11)
    assert await processor.take_up_due() == 1
    await processor.drain(5)
    assert texts_to(emu, 31) == [texts.BUSY_WILL_ANSWER, "收到：井盖丢了"]
    assert recorder.seen == ["井盖丢了"] * 3
    assert await processor.take_up_due() == 0


@pytest.mark.asyncio
async def test_an_update_cut_off_by_a_crash_is_handled_at_the_next_start(emu, bot, store):
    crashed = Recorder()
    crashed.hold = asyncio.Event()  # never set: the process "dies" while handling
    processor = processor_for(crashed, bot, store)
    update_id = emu.user_sends(TOKEN, 41, "下水道堵了")
    await run_poll(bot, processor, lambda: crashed.seen == ["下水道堵了"])
    assert texts_to(emu, 41) == []
    for task in list(processor._inflight.values()):
        task.cancel()
    await asyncio.sleep(0)

    restarted = Recorder()
    fresh = processor_for(restarted, bot, store)
    assert await fresh.recover() == 1
    await fresh.drain(5)
    assert restarted.seen == ["下水道堵了"]
    assert texts_to(emu, 41) == ["收到：下水道堵了"]
    # and a redelivery of it after the restart is a duplicate
    emu.redeliver(TOKEN, update_id)
    await run_poll(bot, fresh, lambda: fresh.duplicates >= 1)
    await fresh.drain(5)
    assert restarted.seen == ["下水道堵了"]


@pytest.mark.asyncio
async def test_one_chat_stays_in_order_while_chats_run_side_by_side(emu, bot, store):
    recorder = Recorder()
    processor = processor_for(recorder, bot, store)
    for text in ("slow 1", "2", "3"):
        emu.user_sends(TOKEN, 51, text)
    emu.user_sends(TOKEN, 52, "other")
    await run_poll(bot, processor, lambda: len(texts_to(emu, 51)) == 3 and texts_to(emu, 52))
    assert texts_to(emu, 51) == ["收到：slow 1", "收到：2", "收到：3"]
    sent = [c for c in emu.sent(TOKEN, method="sendMessage")]
    # the other chat did not wait for the slow one
    assert sent[0].chat_id == 52
