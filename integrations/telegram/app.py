"""The Telegram channel process: bots, dispatchers, inbox, polling or webhook, wired once.

``run(settings, stop)`` serves until ``stop`` is set: the residents' bot (and
the handlers' bot when it is a separate one), each with its own Dispatcher
and inbox processor; the handlers' router comes first in a shared bot, so a
handler's buttons and pending answers never reach Rasa.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web

from integrations.shared.sql import make_engine, make_session_factory

from ..rasa_rest import RasaRelay
from . import handler_bot, resident, webhook
from .categories import Category, load_categories
from .inbox import UpdateProcessor, retry_forever
from .middlewares import ResidentGate
from .outgoing import Keyboards
from .polling import poll
from .ratelimit import RateLimiter
from .settings import TelegramSettings
from .store import ChannelStore
from .workorders import ChannelServiceClient

log = logging.getLogger(__name__)

DRAIN_TIMEOUT_S = 20.0
PRUNE_EVERY_S = 3600.0
KEEP_UPDATES_DAYS = 7


def make_bot(token: str, api_base: str) -> Bot:
    """An aiogram Bot talking to ``api_base`` (Telegram, a local Bot API server or an emulator)."""
    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api_base)))


@dataclass
class Served:
    bot: Bot
    dispatcher: Dispatcher
    processor: UpdateProcessor
    role: str  # "residents", "handlers" or "residents+handlers"


def reachable(dp: Dispatcher) -> Dispatcher:
    """Any message or button press clears the chat's unreachable mark (once per update)."""
    dp.message.outer_middleware(handler_bot.MarkReachable())
    dp.callback_query.outer_middleware(handler_bot.MarkReachable())
    return dp


def build_dispatchers(settings: TelegramSettings, store: ChannelStore, relay: RasaRelay,
                      service: ChannelServiceClient, resident_bot: Bot,
                      handlers_bot: Bot, categories: Sequence[Category]) -> list[Served]:
    deps: dict[str, Any] = dict(relay=relay, service=service, store=store, settings=settings,
                                keyboards=Keyboards(), categories=categories)
    limiter = RateLimiter(settings.telegram_rate_burst, settings.telegram_rate_per_second)
    residents = resident.build_router()
    residents.message.outer_middleware(ResidentGate(limiter))

    resident_dp = reachable(Dispatcher(**deps))
    if settings.one_bot:
        resident_dp.include_router(handler_bot.build_router(one_bot=True))
    resident_dp.include_router(residents)
    served = [Served(resident_bot, resident_dp,
                     UpdateProcessor(resident_dp, resident_bot, store,
                                     concurrency=settings.telegram_concurrency),
                     "residents+handlers" if settings.one_bot else "residents")]
    if not settings.one_bot:
        handler_dp = reachable(Dispatcher(**deps))
        handler_dp.include_router(handler_bot.build_router(one_bot=False))
        served.append(Served(handlers_bot, handler_dp,
                             UpdateProcessor(handler_dp, handlers_bot, store,
                                             concurrency=settings.telegram_concurrency),
                             "handlers"))
    return served


async def _prune(store: ChannelStore, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            older = datetime.now(UTC) - timedelta(days=KEEP_UPDATES_DAYS)
            removed = await asyncio.to_thread(store.prune_updates, older)
            if removed:
                log.info("pruned %s handled updates older than %s days", removed, KEEP_UPDATES_DAYS)
        except Exception:
            log.exception("pruning handled updates failed")
        try:
            await asyncio.wait_for(stop.wait(), PRUNE_EVERY_S)
        except TimeoutError:
            pass


async def run(settings: TelegramSettings, stop: asyncio.Event) -> None:
    if not settings.enabled:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    assert settings.telegram_bot_token is not None and settings.handler_token is not None
    categories = load_categories(settings.workorders_taxonomy_path)  # what 转类 offers
    engine = make_engine(settings.workorders_database_url)
    store = ChannelStore(make_session_factory(engine))
    async with AsyncExitStack() as stack:
        stack.callback(engine.dispose)
        http = await stack.enter_async_context(httpx.AsyncClient(
            limits=httpx.Limits(max_connections=settings.telegram_concurrency * 2,
                                max_keepalive_connections=settings.telegram_concurrency),
            headers={"User-Agent": "community-telegram/1"},
        ))
        relay = RasaRelay(settings.rasa_url, http, token=settings.channel_token_telegram)
        service = ChannelServiceClient(settings.workorders_api_url,
                                       settings.workorders_telegram_token or "", http)
        resident_bot = make_bot(settings.telegram_bot_token, settings.telegram_api_base)
        stack.push_async_callback(resident_bot.session.close)
        handlers_bot = resident_bot
        if not settings.one_bot:
            handlers_bot = make_bot(settings.handler_token, settings.telegram_api_base)
            stack.push_async_callback(handlers_bot.session.close)
        served = build_dispatchers(settings, store, relay, service, resident_bot, handlers_bot,
                                   categories)

        for item in served:
            me = await item.bot.me()  # a wrong token fails here, loudly
            log.info("bot @%s (%s) serves %s", me.username, item.bot.id, item.role)
            recovered = await item.processor.recover()
            if recovered:
                log.info("took up %s updates left unhandled by the last run", recovered)

        tasks = [asyncio.create_task(retry_forever([s.processor for s in served], stop)),
                 asyncio.create_task(_prune(store, stop))]
        runner: web.AppRunner | None = None
        if settings.telegram_mode == "webhook":
            if not settings.telegram_webhook_url:
                raise ValueError("webhook mode needs TELEGRAM_WEBHOOK_URL")
            secret = settings.telegram_webhook_secret or ""
            app = webhook.build_app({s.bot.id: (s.bot, s.processor) for s in served}, secret)
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, settings.telegram_webhook_host,
                              settings.telegram_webhook_port).start()
            for item in served:
                await webhook.register(item.bot, settings.telegram_webhook_url, secret)
            log.info("webhook listening on %s:%s", settings.telegram_webhook_host,
                     settings.telegram_webhook_port)
        else:
            tasks += [asyncio.create_task(poll(s.bot, s.processor, stop)) for s in served]
        print("telegram channel ready", flush=True)
        try:
            stopper = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                error = None if task is stopper else task.exception()
                if error is not None:
                    raise error  # e.g. the token was revoked
        finally:
            stop.set()
            if runner is not None:
                await runner.cleanup()
            await asyncio.gather(*tasks, return_exceptions=True)
            for item in served:
                if not await item.processor.drain(DRAIN_TIMEOUT_S):
                    log.warning("updates still being handled at shutdown stay in the inbox for next time")
