"""The notifier's Telegram sender: real aiogram bots against the Bot API emulator, the
outbox on SQLite, the notifier's own ``drain`` with an injected clock."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from aiogram import Bot

from integrations.notifier import telegram_channel
from integrations.telegram.sender import TelegramSender, build_telegram_sender
from integrations.telegram.settings import TelegramSettings
from integrations.telegram.store import ChannelStore
from integrations.workorders.adapters.outbox_table import DEAD, DELIVERED, PENDING
from integrations.workorders.notifier import (
    Delivery,
    LogSender,
    PermanentError,
    SenderRegistry,
    TransientError,
    drain,
)
from integrations.workorders.notifier.process import build_registry
from integrations.workorders.service import accept
from integrations.workorders.settings import Settings
from tests.app.telegram.channel_support import (
    H1_CHAT,
    HANDLER_TOKEN,
    RESIDENT_CHAT,
    RESIDENT_TOKEN,
    bot,
    free_port,
    seed,
)
from tests.app.world import REPO_ROOT, World
from tests.telegram_emulator import BotApiEmulator


@pytest.fixture
def world(sqlite_db) -> World:
    return World(sqlite_db)


def run(coro):
    return asyncio.run(coro)


class Bots:
    """The emulator with both bots, and a sender on the world's database."""

    def __init__(self, emu: BotApiEmulator, world: World) -> None:
        self.emu = emu
        self.world = world
        self.resident = bot(RESIDENT_TOKEN, emu.base_url)
        self.handler = bot(HANDLER_TOKEN, emu.base_url)
        self.store = ChannelStore(world.db.session_factory)
        self.sender = TelegramSender(self.resident, self.handler, self.store,
                                     clock=lambda: world.clock)

    async def close(self) -> None:
        await self.resident.session.close()
        await self.handler.session.close()

    async def drain(self):
        registry = SenderRegistry({"telegram": self.sender}, fallback=LogSender())
        return await drain(self.world.db.session_factory, registry, lambda: self.world.clock,
                           "test")


async def with_bots(world: World, scenario):
    async with BotApiEmulator() as emu:
        emu.add_bot(RESIDENT_TOKEN)
        emu.add_bot(HANDLER_TOKEN)
        bots = Bots(emu, world)
        try:
            return await scenario(bots)
        finally:
            await bots.close()


def message(topic: str = "order.withdrawn", kind: str = "handler", chat_id: str | None = "700",
            **payload) -> Delivery:
    body = {"text": "工单 12345674 已改派他人，您无需继续处理。", "number": "12345674", **payload}
    if chat_id is not None:
        body["chat_id"] = chat_id
    return Delivery(id=1, topic=topic, recipient_kind=kind, recipient_ref="1",
                    channel="telegram", order_number="12345674", payload=body,
                    dedupe_key="12345674:3:handler:1")


# ---------------------------------------------------------------- which bot


def test_residents_hear_the_resident_bot_and_staff_the_handler_bot(world):
    seeded = seed(world)
    order = world.order(reporter_ref=f"tg:{RESIDENT_CHAT}")

    async def scenario(bots: Bots):
        counts = await bots.drain()
        assert (counts.delivered, counts.dead, counts.retried) == (1, 0, 0)
        (ticket,) = bots.emu.sent(chat_id=H1_CHAT, method="sendMessage")
        assert ticket.token == HANDLER_TOKEN and order.number in ticket.text
        assert [b["text"] for b in ticket.params["reply_markup"]["inline_keyboard"][0]] == [
            "接单", "拒单"]

        accept(world.uow(), order.number, seeded.h1, world.clock)
        counts = await bots.drain()
        assert counts.delivered == 1
        (status,) = bots.emu.sent(chat_id=RESIDENT_CHAT, method="sendMessage")
        assert status.token == RESIDENT_TOKEN and "已签收" in status.text

    run(with_bots(world, scenario))
    assert {row.status for row in world.outbox(order.number)} == {DELIVERED}


def test_a_message_without_a_chat_is_dead_at_once(world):
    async def scenario(bots: Bots):
        with pytest.raises(PermanentError):
            await bots.sender.send(message(chat_id=None))
        assert bots.emu.sent(method="sendMessage") == []

    run(with_bots(world, scenario))


# ---------------------------------------------------------------------- 429


def test_flood_control_is_retried_when_telegram_says(world):
    seed(world)
    order = world.order(reporter_ref=f"tg:{RESIDENT_CHAT}")

    async def scenario(bots: Bots):
        bots.emu.fail_next("sendMessage", 429, retry_after=3)
        with pytest.raises(TransientError) as caught:
            await bots.sender.send(message())
        assert caught.value.retry_after == 3

        bots.emu.fail_next("sendMessage", 429, retry_after=7)
        counts = await bots.drain()
        assert (counts.retried, counts.delivered) == (1, 0)
        (row,) = world.outbox(order.number)
        assert row.status == PENDING and row.attempts == 1
        assert row.next_attempt_at == world.clock + timedelta(seconds=7)
        assert "retry after 7" in row.last_error

        world.tick(seconds=6)
        counts = await bots.drain()  # not due yet: nothing is tried
        assert counts.claimed == 0
        world.tick(seconds=1)
        counts = await bots.drain()
        assert counts.delivered == 1
        ok = [c for c in bots.emu.sent(chat_id=H1_CHAT, method="sendMessage") if c.ok]
        assert len(ok) == 1 and order.number in ok[0].text

    run(with_bots(world, scenario))
    (row,) = world.outbox(order.number)
    assert (row.status, row.attempts, row.last_error) == (DELIVERED, 2, None)


# ---------------------------------------------------------------------- 403


def test_a_blocked_chat_is_marked_and_not_tried_again(world):
    seeded = seed(world)
    first = world.order(reporter_ref=f"tg:{RESIDENT_CHAT}")

    async def scenario(bots: Bots):
        bots.emu.block(HANDLER_TOKEN, H1_CHAT)
        counts = await bots.drain()
        assert (counts.dead, counts.delivered) == (1, 0)
        assert await asyncio.to_thread(bots.store.is_unreachable, bots.handler.id, str(H1_CHAT))
        # the resident bot may still write to that chat: the mark is per bot
        assert not await asyncio.to_thread(bots.store.is_unreachable, bots.resident.id,
                                           str(H1_CHAT))
        attempts = len(bots.emu.sent(chat_id=H1_CHAT))

        second = world.order(reporter_ref="tg:5002")  # by workload: 李调解
        third = world.order(reporter_ref="tg:5003")  # 王调解 again
        assert world.row(third.number).assignee_id == seeded.h1
        counts = await bots.drain()
        assert (counts.dead, counts.delivered) == (1, 1)
        assert len(bots.emu.sent(chat_id=H1_CHAT)) == attempts  # not even attempted
        return second, third

    second, third = run(with_bots(world, scenario))
    assert world.outbox(first.number)[0].status == DEAD
    assert "blocked" in world.outbox(first.number)[0].last_error
    assert world.outbox(second.number)[0].status == DELIVERED
    assert world.outbox(third.number)[0].status == DEAD
    assert "unreachable" in world.outbox(third.number)[0].last_error


def test_a_chat_telegram_does_not_know_is_permanent(world):
    async def scenario(bots: Bots):
        bots.emu.fail_next("sendMessage", 400, description="Bad Request: chat not found")
        with pytest.raises(PermanentError, match="chat not found"):
            await bots.sender.send(message())

    run(with_bots(world, scenario))


# ---------------------------------------------------------------- transient


@pytest.mark.parametrize("code", [500, 502])
def test_server_errors_are_transient(world, code):
    async def scenario(bots: Bots):
        bots.emu.fail_next("sendMessage", code)
        with pytest.raises(TransientError):
            await bots.sender.send(message())
        await bots.sender.send(message())  # the next one goes through
        assert [c.status for c in bots.emu.sent(method="sendMessage")] == [code, 200]

    run(with_bots(world, scenario))


def test_an_unreachable_api_is_transient(world):
    async def scenario():
        resident = bot(RESIDENT_TOKEN, f"http://127.0.0.1:{free_port()}")
        try:
            sender = TelegramSender(resident, resident, ChannelStore(world.db.session_factory))
            with pytest.raises(TransientError):
                await sender.send(message())
        finally:
            await resident.session.close()

    run(scenario())


# ------------------------------------------------------------ the notifier's wiring


def settings_for(emu: BotApiEmulator, world: World, handler_token: str | None) -> TelegramSettings:
    return TelegramSettings(telegram_bot_token=RESIDENT_TOKEN,
                            telegram_handler_bot_token=handler_token,
                            telegram_api_base=emu.base_url, workorders_database_url=world.db.url)


@pytest.mark.parametrize("handler_token", [HANDLER_TOKEN, None])
def test_the_notifier_registers_the_sender_and_closes_its_bots(world, handler_token):
    async def scenario():
        async with BotApiEmulator() as emu:
            emu.add_bot(RESIDENT_TOKEN)
            emu.add_bot(HANDLER_TOKEN)
            settings = settings_for(emu, world, handler_token)
            open_senders = telegram_channel(settings)
            assert open_senders is not None
            async with open_senders(world.db.session_factory, 20.0) as senders:
                sender = senders["telegram"]
                assert isinstance(sender, TelegramSender)
                registry = build_registry(Settings(), None, 20.0, senders)
                assert registry.sender_for("telegram") is sender
                await sender.send(message())
                staff_bot: Bot = sender.bot_for(message())
                assert (staff_bot is sender.bot_for(message(kind="resident"))) == (
                    handler_token is None)
            assert staff_bot.session._session is None or staff_bot.session._session.closed
            (call,) = emu.sent(method="sendMessage")
            assert call.token == (handler_token or RESIDENT_TOKEN)

            assert telegram_channel(TelegramSettings(telegram_bot_token=None)) is None

    run(scenario())


def test_building_a_sender_without_a_token_is_refused(world):
    async def scenario():
        with pytest.raises(ValueError):
            async with build_telegram_sender(TelegramSettings(telegram_bot_token=None),
                                             world.db.session_factory):
                pass

    run(scenario())


# ------------------------------------------------------- the notifier process


def _notifier(env_extra: dict[str, str], db_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WORKORDERS_", "TELEGRAM_"))}
    env.update(PYTHONPATH=str(REPO_ROOT), WORKORDERS_DATABASE_URL=db_url, **env_extra)
    return subprocess.run([sys.executable, "-m", "integrations.notifier", "--once"],
                          cwd=REPO_ROOT, env=env, capture_output=True, timeout=120, text=True)


def test_the_notifier_process_sends_telegram_messages(world):
    seed(world)
    order = world.order(reporter_ref=f"tg:{RESIDENT_CHAT}")
    with BotApiEmulator().start_in_thread() as emu:
        emu.add_bot(RESIDENT_TOKEN)
        emu.add_bot(HANDLER_TOKEN)
        proc = _notifier({"TELEGRAM_BOT_TOKEN": RESIDENT_TOKEN,
                          "TELEGRAM_HANDLER_BOT_TOKEN": HANDLER_TOKEN,
                          "TELEGRAM_API_BASE": emu.base_url}, world.db.url)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["delivered"] == 1
        (ticket,) = emu.sent(chat_id=H1_CHAT, method="sendMessage")
        assert ticket.token == HANDLER_TOKEN and order.number in ticket.text
    assert "channel 'telegram' has no sender" not in proc.stderr
    assert RESIDENT_TOKEN.split(":")[1] not in proc.stderr
    assert world.outbox(order.number)[0].status == DELIVERED


def test_the_notifier_refuses_a_malformed_token_without_printing_it(world):
    proc = _notifier({"TELEGRAM_BOT_TOKEN": "not-a-token-secret-value"}, world.db.url)
    assert proc.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in proc.stderr
    assert "secret-value" not in proc.stderr
