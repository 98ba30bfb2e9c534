"""A real stack for the handlers' side of the Telegram channel, in one test process.

- the work-order API (``create_app``) served by uvicorn over HTTP on
  127.0.0.1, on the test's SQLite database, its clock the world's clock;
- the Bot API emulator (``tests/telegram_emulator.py``) in the test's event loop;
- real aiogram Bots, a Dispatcher with the handlers' router, the channel's
  service client and store, and the notifier's ``TelegramSender``.

Updates are fed as Telegram would hand them out: the emulator queues what a
user sends or presses, and ``Channel.feed`` passes that exact update to
``Dispatcher.feed_update``.

The world (``Seeded``):

    h1  王调解 (mediator, grid qy-dz-01), chat 700: gets the first dispute
    h2  李调解 (mediator, grid qy-dz-01), chat 701
    dispatcher  staff account for 东镇 (township:qy-dz), no chat until linked
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import uvicorn
from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Update

from integrations.shared.paths import DEFAULT_TAXONOMY_PATH
from integrations.shared.privacy import EXAMPLE_KEY
from integrations.telegram.app import reachable
from integrations.telegram.categories import load_categories
from integrations.telegram.handler_bot import build_router
from integrations.telegram.sender import TelegramSender
from integrations.telegram.settings import TelegramSettings
from integrations.telegram.store import ChannelStore
from integrations.telegram.workorders import ChannelServiceClient
from integrations.workorders.api import create_app
from integrations.workorders.api.config import ApiSettings
from integrations.workorders.api.deps import get_now
from integrations.workorders.bootstrap import App
from integrations.workorders.notifier import Counts, LogSender, SenderRegistry, drain
from integrations.workorders.service import create_staff_user
from tests.app.world import World
from tests.telegram_emulator import BotApiEmulator, SentCall

TELEGRAM_TOKEN = "telegram-token-telegram-0123456789"
RESIDENT_TOKEN = "111111:resident-secret-abcdefghij"
HANDLER_TOKEN = "222222:handler-secret-abcdefghij"
DISPATCHER_TOKEN = "token-dispatcher-telegram-0123456789"
H1_CHAT, H2_CHAT, DISPATCHER_CHAT = 700, 701, 800
RESIDENT_CHAT = 5001


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------- the world


@dataclass
class Seeded:
    world: World
    h1: int
    h2: int


def seed(world: World) -> Seeded:
    h1 = world.handler("王调解", telegram_chat_id=str(H1_CHAT))
    h2 = world.handler("李调解", telegram_chat_id=str(H2_CHAT))
    create_staff_user(world.uow(), "dispatcher", "dispatcher", DISPATCHER_TOKEN, world.clock,
                      areas=["township:qy-dz"])
    return Seeded(world, h1, h2)


# ---------------------------------------------------------------- the live API


@contextmanager
def live_api(world: World) -> Iterator[str]:
    """The work-order API over HTTP on 127.0.0.1 (its base URL); ``now`` is the world's clock."""
    db = world.db
    settings = ApiSettings(database_url=db.url, telegram_token=TELEGRAM_TOKEN,
                           secret_key=EXAMPLE_KEY, development=True)
    wiring = App(settings=settings, engine=db.engine, session_factory=db.session_factory,
                 config=db.config)
    app = create_app(settings, app_state=wiring)

    async def clock() -> datetime:
        return world.clock

    app.dependency_overrides[get_now] = clock
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, name="workorder-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the work-order API did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


# ------------------------------------------------------------------ the channel


@dataclass
class Channel:
    world: World
    emu: BotApiEmulator
    resident_bot: Bot
    handler_bot: Bot
    dp: Dispatcher
    service: ChannelServiceClient
    store: ChannelStore
    sender: TelegramSender
    http: httpx.AsyncClient
    one_bot: bool

    @property
    def handler_token(self) -> str:
        return RESIDENT_TOKEN if self.one_bot else HANDLER_TOKEN

    async def feed(self, update_id: int, **data: Any) -> Any:
        """Hand the queued update to the Dispatcher (``data`` overrides workflow data)."""
        raw = self.emu.update(self.handler_token, update_id)
        update = Update.model_validate(raw, context={"bot": self.handler_bot})
        return await self.dp.feed_update(self.handler_bot, update, **data)

    async def say(self, chat_id: int, text: str, **data: Any) -> Any:
        return await self.feed(self.emu.user_sends(self.handler_token, chat_id, text), **data)

    async def press(self, chat_id: int, message_id: int, data: str, **kw: Any) -> Any:
        return await self.feed(
            self.emu.user_presses(self.handler_token, chat_id, message_id, data), **kw)

    async def deliver(self, **kw: Any) -> Counts:
        """One notifier pass over the outbox (the world's clock), Telegram by the sender."""
        registry = SenderRegistry({"telegram": self.sender}, fallback=LogSender())
        return await drain(self.world.db.session_factory, registry, lambda: self.world.clock,
                           "test-notifier", **kw)

    def sent(self, chat_id: int | None = None, method: str | None = "sendMessage", *,
             token: str | None = None) -> list[SentCall]:
        return self.emu.sent(token, chat_id, method)

    def replies(self, chat_id: int) -> list[str]:
        """Texts the handlers' bot sent to the chat, oldest first."""
        return [c.text or "" for c in self.sent(chat_id, token=self.handler_token) if c.ok]

    def answers(self, chat_id: int) -> list[str | None]:
        """What the bot answered to button presses in the chat, oldest first."""
        return [c.params.get("text") for c in self.sent(chat_id, "answerCallbackQuery") if c.ok]

    def tickets(self, chat_id: int, number: str) -> list[SentCall]:
        """The ticket messages (with buttons) the handlers' bot sent about ``number``."""
        return [c for c in self.sent(chat_id, token=self.handler_token)
                if c.ok and number in (c.text or "") and c.params.get("reply_markup")]


def buttons(markup: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not markup:
        return []
    return [(b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", ())
            for b in row]


def bot(token: str, base_url: str) -> Bot:
    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)))


@asynccontextmanager
async def channel(world: World, api_url: str, *, one_bot: bool = False,
                  routers: Sequence[Router] = ()) -> AsyncIterator[Channel]:
    """The emulator, the bots, a Dispatcher with the handlers' router (then ``routers``)."""
    async with BotApiEmulator() as emu:
        emu.add_bot(RESIDENT_TOKEN, "community_bot")
        emu.add_bot(HANDLER_TOKEN, "community_handlers_bot")
        resident_bot = bot(RESIDENT_TOKEN, emu.base_url)
        handler_bot = resident_bot if one_bot else bot(HANDLER_TOKEN, emu.base_url)
        settings = TelegramSettings(
            telegram_bot_token=RESIDENT_TOKEN,
            telegram_handler_bot_token=None if one_bot else HANDLER_TOKEN,
            telegram_api_base=emu.base_url, workorders_api_url=api_url,
            workorders_telegram_token=TELEGRAM_TOKEN, workorders_database_url=world.db.url,
        )
        try:
            async with httpx.AsyncClient() as http:
                service = ChannelServiceClient(api_url, TELEGRAM_TOKEN, http)
                store = ChannelStore(world.db.session_factory)
                dp = reachable(Dispatcher(service=service, store=store, settings=settings,
                                          categories=load_categories(DEFAULT_TAXONOMY_PATH)))
                dp.include_router(build_router(one_bot, clock=lambda: world.clock))
                for router in routers:
                    dp.include_router(router)
                sender = TelegramSender(resident_bot, handler_bot, store,
                                        clock=lambda: world.clock)
                yield Channel(world, emu, resident_bot, handler_bot, dp, service, store, sender,
                              http, one_bot)
        finally:
            await resident_bot.session.close()
            if handler_bot is not resident_bot:
                await handler_bot.session.close()
