"""The handlers' side of the Telegram channel: linking a chat, tickets, buttons.

``build_router(one_bot)`` returns the router the runtime includes first (before
the residents' router when one bot serves both), with this module's handlers
registered on it. Every handler is a module-level function whose parameters
name what it needs, as aiogram injects it: the dispatcher's workflow data
(``service``: ``ChannelServiceClient``, ``store``: ``ChannelStore``,
``categories``: what 转类 offers), aiogram's own ``bot``, and the router's data
(``RouterData``: ``one_bot``, ``clock``, ``pending_ttl``).

Commands: ``/link <code>``, ``/unlink``, ``/orders``, ``/queue`` (dispatchers);
in a separate handlers' bot also ``/start``, ``/help`` and a bare 8-digit
code. Ticket buttons (``tickets.parse_callback``):

    接单   accept; the ticket shows its new status and 处理中 / 已办结
    拒单   asks for a reason (ForceReply); the chat's next text declines
    处理中 the first time: progress with a default note; on an order already
           being handled: asks for a note (the resident reads it)
    已办结 asks what was done (for a request, 其他诉求: the answer, sent to the
           resident as written); the next text resolves the order
    转类   the ticket shows the other categories; one of them reclassifies the
           order (it leaves this chat and is dispatched again), 返回 goes back

A reason or note is a *pending input* (``ChannelStore``), kept until it is used,
until a command or another button cancels it, or for ``PENDING_TTL``; while the
service is unavailable it stays, so nothing typed is lost. In one-bot mode the
router takes text only from chats with a pending input (``HasPendingInput``);
everything else falls through to the residents' router.

Failures are handled by type in the error handlers at the end, and every button
press is answered, whatever happens. A stale button (the order was reassigned,
or is done) changes nothing: the ticket then shows the order as it is now, or
loses its buttons if the order is no longer this chat's.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiogram import BaseMiddleware, Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, CommandObject, CommandStart, ExceptionTypeFilter, Filter
from aiogram.types import CallbackQuery, ErrorEvent, ForceReply, Message, TelegramObject

from . import tickets
from .categories import Category
from .store import ChannelStore, PendingInput
from .tickets import ACCEPT, BACK, DECLINE, PROGRESS, RECLASSIFY, RESOLVE, TO
from .workorders import (
    ChannelServiceClient,
    ChannelServiceError,
    Link,
    NotLinked,
    RateLimited,
    Rejected,
    ServiceUnavailable,
    StaleOrder,
)

__all__ = ["PENDING_TTL", "HasPendingInput", "MarkReachable", "RouterData", "Texts", "build_router",
           "utc_now"]

log = logging.getLogger(__name__)

#: How long a reason or note is waited for after its button was pressed.
PENDING_TTL = timedelta(minutes=30)
#: Pending input kinds (``ChannelStore.set_pending``'s ``kind``).
KIND_DECLINE, KIND_PROGRESS, KIND_RESOLVE = "decline", "progress", "resolve"
#: The note of a one-tap 处理中 (the resident reads it as the latest note).
DEFAULT_PROGRESS_NOTE = "处理人员已开始处理。"
#: The kind whose resolve note is the answer the resident receives (其他诉求).
ANSWERED_KIND = "request"
#: The statuses an assignee may reclassify in (the ticket shows 转类).
RECLASSIFIABLE = ("assigned", "accepted", "in_progress")
#: Longest reason or note taken (the service's limit for notes).
MAX_NOTE_CHARS = 1000

LINK_CODE = re.compile(r"\s*(\d{8})\s*")
MY_COMMANDS = ("link", "unlink", "orders", "queue")


class Texts:
    """What the handlers' bot says. Short, polite Simplified Chinese."""

    LINKED_HANDLER = "绑定成功。新工单会发到这里，请点按钮签收或拒单。"
    LINKED_DISPATCHER = "绑定成功。待派单的工单和回拨请求会发到这里，发送 /queue 可查看待派单工单。"
    LINKED_STAFF = "绑定成功。需要您关注的工单消息会发到这里。"
    LINK_USAGE = "请在 /link 后面加上8位绑定码，例如：/link 12345678"
    BAD_CODE = "绑定码无效或已过期，请向管理员重新获取。"
    UNLINKED = "已解除绑定，这里不会再收到工单消息。"
    NOT_LINKED = "请先发送绑定码完成绑定。"
    NOT_LINKED_ONE_BOT = "请先发送“/link 绑定码”完成绑定。"
    NO_ORDERS = "您目前没有待办工单。"
    NO_QUEUE = "目前没有待派单的工单。"
    QUEUE_REFUSED = "抱歉，待派单列表仅供调度员查看。"
    HELP = (
        "您好，这里是工单助手。请发送管理员给您的8位绑定码完成绑定；"
        "绑定后新工单会发到这里，点按钮即可签收、拒单或办结；"
        "工单类别不对时，点“转类”选择实际类别。"
        "发送 /orders 查看待办工单，调度员发送 /queue 查看待派单工单。"
    )
    FALLBACK = "请发送8位绑定码完成绑定，或发送 /orders 查看待办工单。"
    ASK_DECLINE_REASON = "请简要说明拒单原因："
    ASK_PROGRESS_NOTE = "请简要填写处理进展（居民会看到）："
    ASK_RESOLVE_NOTE = "请简要填写办结情况（居民会看到）："
    ASK_ANSWER = "请填写给居民的答复（将原文发送给居民）："
    ACCEPTED = "已签收。"
    PROGRESSED = "已更新为处理中。"
    PROGRESS_NOTED = "处理进展已记录。"
    DECLINED = "已拒单，工单将另行派发。"
    RESOLVED = "已办结，系统将向居民回访。"
    ANSWERED = "已办结，答复已发送给居民，系统将向居民回访。"
    PICK_CATEGORY = "请选择该工单实际所属的类别。"
    RECLASSIFIED = "已转为「{}」，工单将另行派发，您无需继续处理。"
    EXPIRED = "操作已超时，请重新点按钮。"
    EMPTY_NOTE = "内容不能为空，请简要填写。"
    TOO_LONG = f"内容太长了，请控制在{MAX_NOTE_CHARS}字以内。"
    STALE = "该工单已改派或已办结，无需操作。"
    REFRESHED = "该工单状态已更新，请按最新状态操作。"
    BUSY_BUTTON = "系统繁忙，请稍后再点一次。"
    BUSY_TEXT = "系统繁忙，请稍后再发送一次，您填写的内容还在。"
    BUSY = "系统繁忙，请稍后再试。"
    BAD_BUTTON = "该按钮已失效。"


def utc_now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _chat(chat_id: int) -> str:
    """A chat id as the store and the service keep it."""
    return str(chat_id)


def _command_name(text: str) -> str | None:
    """``orders`` of ``/orders@SomeBot now``; None if ``text`` is no command."""
    if not text.startswith("/") or len(text) < 2:
        return None
    return text[1:].split(maxsplit=1)[0].split("@")[0].lower()


def _link_text(link: Link) -> str:
    if link.kind == "handler" or link.role == "handler":
        return Texts.LINKED_HANDLER
    if link.is_dispatcher:
        return Texts.LINKED_DISPATCHER
    return Texts.LINKED_STAFF


class HasPendingInput(Filter):
    """Passes a text message from a chat that owes a reason or note; gives it as ``pending``."""

    async def __call__(self, message: Message, bot: Bot,
                       store: ChannelStore) -> bool | dict[str, Any]:
        if message.text is None:
            return False
        pending = await asyncio.to_thread(store.get_pending, bot.id, _chat(message.chat.id))
        return {"pending": pending} if pending is not None else False


class MarkReachable(BaseMiddleware):
    """A chat that writes to the bot or presses its buttons can be written to again:
    its unreachable mark (set when it had blocked the bot) is cleared, so tickets resume."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        store: ChannelStore | None = data.get("store")
        chat_id: int | None = None
        if isinstance(event, Message):
            chat_id = event.chat.id
        elif isinstance(event, CallbackQuery):
            chat_id = event.message.chat.id if event.message is not None else event.from_user.id
        if store is not None and chat_id is not None:
            bot_id, chat = data["bot"].id, _chat(chat_id)
            if await asyncio.to_thread(store.is_unreachable, bot_id, chat):
                await asyncio.to_thread(store.clear_unreachable, bot_id, chat)
        return await handler(event, data)


class RouterData(BaseMiddleware):
    """Gives the handlers of one router values by name, as the dispatcher's workflow
    data does for all (``one_bot``, ``clock``, ``pending_ttl``); they win over the
    dispatcher's. Registered as an outer middleware, so filters get them too."""

    def __init__(self, **values: Any) -> None:
        self.values = values

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        return await handler(event, {**data, **self.values})


# ------------------------------------------------------------------- tickets


async def clear_pending(bot: Bot, store: ChannelStore, chat_id: int) -> None:
    await asyncio.to_thread(store.clear_pending, bot.id, _chat(chat_id))


async def drop_keyboard(bot: Bot, chat_id: int, message_id: int | None) -> None:
    if message_id is None:
        return
    try:
        await bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id,
                                            reply_markup=None)
    except TelegramBadRequest:  # already without buttons, or deleted
        pass


async def show_ticket(bot: Bot, chat_id: int, message_id: int | None,
                      order: dict[str, Any]) -> None:
    """Rewrite a ticket message for the order's new status and buttons."""
    if message_id is None:
        return
    text, markup = tickets.order_summary(order)
    try:
        await bot.edit_message_text(text=text, chat_id=chat_id, message_id=message_id,
                                    reply_markup=markup)
    except TelegramBadRequest as exc:  # "message is not modified", or gone
        log.info("ticket %s of chat not updated: %s", message_id, exc.message)


async def settle_ticket(bot: Bot, service: ChannelServiceClient, chat_id: int,
                        message_id: int | None, number: str) -> bool:
    """After a stale action: show the ticket as the order is now (its buttons, if
    any are left) or, if the order is no longer this chat's, just drop its buttons.
    True if something is still to be done (e.g. a second tap on 接单)."""
    try:
        order = await service.order(chat_id, number)
    except ChannelServiceError:  # not this chat's any more (or unknown now)
        await drop_keyboard(bot, chat_id, message_id)
        return False
    await show_ticket(bot, chat_id, message_id, order)
    return tickets.keyboard_for(str(order.get("status")), number) is not None


# ------------------------------------------------------------------- linking


async def link(message: Message, bot: Bot, service: ChannelServiceClient, store: ChannelStore,
               code: str) -> None:
    chat_id = message.chat.id
    await clear_pending(bot, store, chat_id)
    try:
        linked = await service.link(code, chat_id)
    except Rejected as exc:
        await message.answer(Texts.BAD_CODE if exc.status in (404, 422) else exc.reason_zh)
        return
    await message.answer(_link_text(linked))


async def link_command(message: Message, command: CommandObject, bot: Bot,
                       service: ChannelServiceClient, store: ChannelStore) -> None:
    code = (command.args or "").strip()
    if not code:
        await clear_pending(bot, store, message.chat.id)
        await message.answer(Texts.LINK_USAGE)
        return
    await link(message, bot, service, store, code)


async def bare_code(message: Message, bot: Bot, service: ChannelServiceClient,
                    store: ChannelStore, code: re.Match[str]) -> None:
    await link(message, bot, service, store, code.group(1))


async def unlink_command(message: Message, bot: Bot, service: ChannelServiceClient,
                         store: ChannelStore) -> None:
    await clear_pending(bot, store, message.chat.id)
    await service.unlink(message.chat.id)
    await message.answer(Texts.UNLINKED)


# --------------------------------------------------------------------- lists


async def orders_command(message: Message, bot: Bot, service: ChannelServiceClient,
                         store: ChannelStore) -> None:
    await clear_pending(bot, store, message.chat.id)
    orders = await service.my_orders(message.chat.id)
    if not orders:
        await message.answer(Texts.NO_ORDERS)
        return
    for order in orders:
        text, markup = tickets.order_summary(order)
        await message.answer(text, reply_markup=markup)


async def queue_command(message: Message, bot: Bot, service: ChannelServiceClient,
                        store: ChannelStore) -> None:
    await clear_pending(bot, store, message.chat.id)
    try:
        orders = await service.pending_queue(message.chat.id)
    except Rejected as exc:
        if exc.status != 403:
            raise
        await message.answer(Texts.QUEUE_REFUSED)
        return
    if not orders:
        await message.answer(Texts.NO_QUEUE)
        return
    for order in orders:
        await message.answer(tickets.ticket_text(order))


async def help_command(message: Message, bot: Bot, store: ChannelStore) -> None:
    await clear_pending(bot, store, message.chat.id)
    await message.answer(Texts.HELP)


async def anything_else(message: Message) -> None:
    await message.answer(Texts.FALLBACK)


# ------------------------------------------------------------------- buttons


@dataclass(frozen=True)
class Press:
    """One pressed ticket button, with what its action needs."""

    query: CallbackQuery
    bot: Bot
    service: ChannelServiceClient
    store: ChannelStore
    chat_id: int
    message_id: int | None
    number: str
    category: str | None
    clock: Callable[[], datetime]

    async def ask(self, kind: str, prompt: str) -> None:
        """The chat's next text answers ``kind`` for the order (ForceReply)."""
        await asyncio.to_thread(self.store.set_pending, self.bot.id, _chat(self.chat_id), kind,
                                self.number, self.message_id, self.clock())
        await self.bot.send_message(self.chat_id, f"工单 {self.number}：{prompt}",
                                    reply_markup=ForceReply(force_reply=True))
        await self.query.answer()


async def _accept(press: Press, categories: Sequence[Category]) -> None:
    order = await press.service.accept(press.chat_id, press.number)
    await show_ticket(press.bot, press.chat_id, press.message_id, order)
    await press.query.answer(Texts.ACCEPTED)


async def _decline(press: Press, categories: Sequence[Category]) -> None:
    await press.ask(KIND_DECLINE, Texts.ASK_DECLINE_REASON)


async def _resolve(press: Press, categories: Sequence[Category]) -> None:
    current = await press.service.order(press.chat_id, press.number)
    await press.ask(KIND_RESOLVE, Texts.ASK_ANSWER if current.get("kind") == ANSWERED_KIND
                    else Texts.ASK_RESOLVE_NOTE)


async def _progress(press: Press, categories: Sequence[Category]) -> None:
    current = await press.service.order(press.chat_id, press.number)
    status = current.get("status")
    if status == "in_progress":  # already being handled: a note worth reading
        await press.ask(KIND_PROGRESS, Texts.ASK_PROGRESS_NOTE)
    elif status == "accepted":
        order = await press.service.progress(press.chat_id, press.number, DEFAULT_PROGRESS_NOTE)
        await show_ticket(press.bot, press.chat_id, press.message_id, order)
        await press.query.answer(Texts.PROGRESSED)
    else:
        raise StaleOrder(f"progress on order {press.number} in status {status}")


async def _reclassify(press: Press, categories: Sequence[Category]) -> None:
    current = await press.service.order(press.chat_id, press.number)
    if current.get("status") not in RECLASSIFIABLE:
        raise StaleOrder(f"reclassify order {press.number} in status {current.get('status')}")
    if press.message_id is not None:
        await press.bot.edit_message_reply_markup(
            chat_id=press.chat_id, message_id=press.message_id,
            reply_markup=tickets.category_keyboard(categories, press.number,
                                                   current.get("category")))
    await press.query.answer(Texts.PICK_CATEGORY)


async def _back(press: Press, categories: Sequence[Category]) -> None:
    await settle_ticket(press.bot, press.service, press.chat_id, press.message_id, press.number)
    await press.query.answer()


async def _to_category(press: Press, categories: Sequence[Category]) -> None:
    if press.category is None:
        return
    order = await press.service.reclassify(press.chat_id, press.number, press.category)
    name = str(order.get("category_name") or press.category)
    done = Texts.RECLASSIFIED.format(name)
    if press.message_id is not None:
        try:
            await press.bot.edit_message_text(text=f"工单 {press.number}：{done}",
                                              chat_id=press.chat_id,
                                              message_id=press.message_id, reply_markup=None)
        except TelegramBadRequest as exc:
            log.info("ticket %s of chat not updated: %s", press.message_id, exc.message)
    await press.query.answer(done)


#: What each ticket button does (``tickets.ACTIONS``).
BUTTONS: dict[str, Callable[[Press, Sequence[Category]], Awaitable[None]]] = {
    ACCEPT: _accept, DECLINE: _decline, RESOLVE: _resolve, PROGRESS: _progress,
    RECLASSIFY: _reclassify, BACK: _back, TO: _to_category,
}


async def ticket_button(query: CallbackQuery, bot: Bot, service: ChannelServiceClient,
                        store: ChannelStore, categories: Sequence[Category],
                        clock: Callable[[], datetime]) -> None:
    try:
        pressed = tickets.parse_callback(query.data)
    except ValueError:
        await query.answer(Texts.BAD_BUTTON)
        return
    message = query.message
    chat_id = message.chat.id if message is not None else query.from_user.id
    message_id = message.message_id if message is not None else None
    # Another button: whatever reason or note was asked for before is no longer awaited.
    await clear_pending(bot, store, chat_id)
    action = BUTTONS.get(pressed.action)
    if action is None:
        return
    await action(Press(query=query, bot=bot, service=service, store=store, chat_id=chat_id,
                       message_id=message_id, number=pressed.number, category=pressed.category,
                       clock=clock), categories)


# ------------------------------------------------------- reasons and notes


async def pending_input(message: Message, bot: Bot, service: ChannelServiceClient,
                        store: ChannelStore, pending: PendingInput,
                        clock: Callable[[], datetime], pending_ttl: timedelta) -> None:
    chat_id = message.chat.id
    text = (message.text or "").strip()
    if text.startswith("/"):  # any other command cancels what was asked
        await clear_pending(bot, store, chat_id)
        raise SkipHandler()
    if clock() - _aware(pending.created_at) > pending_ttl:
        await clear_pending(bot, store, chat_id)
        await message.answer(Texts.EXPIRED)
        return
    if not text:
        await message.answer(Texts.EMPTY_NOTE)
        return
    if len(text) > MAX_NOTE_CHARS:
        await message.answer(Texts.TOO_LONG)
        return
    number, ticket_id = pending.order_number, pending.message_id
    try:
        if pending.kind == KIND_DECLINE:
            await service.decline(chat_id, number, text)
        elif pending.kind == KIND_RESOLVE:
            order = await service.resolve(chat_id, number, text)
        elif pending.kind == KIND_PROGRESS:
            order = await service.progress(chat_id, number, text)
        else:
            log.warning("unknown pending input kind %r dropped", pending.kind)
            await clear_pending(bot, store, chat_id)
            raise SkipHandler()
    except StaleOrder:
        await clear_pending(bot, store, chat_id)
        await settle_ticket(bot, service, chat_id, ticket_id, number)
        raise
    except NotLinked:
        await clear_pending(bot, store, chat_id)
        await drop_keyboard(bot, chat_id, ticket_id)
        raise
    # ServiceUnavailable, Rejected: the input stays pending, so it can be sent again.
    await clear_pending(bot, store, chat_id)
    if pending.kind == KIND_DECLINE:
        await drop_keyboard(bot, chat_id, ticket_id)
        await message.answer(Texts.DECLINED)
    elif pending.kind == KIND_RESOLVE:
        await show_ticket(bot, chat_id, ticket_id, order)
        await message.answer(Texts.ANSWERED if order.get("kind") == ANSWERED_KIND
                             else Texts.RESOLVED)
    else:
        await show_ticket(bot, chat_id, ticket_id, order)
        await message.answer(Texts.PROGRESS_NOTED)


# ------------------------------------------------------------ errors by type


async def owned(event: ErrorEvent, bot: Bot, store: ChannelStore, one_bot: bool) -> bool:
    """Whether the failed update is the handlers' side's (not the residents' router's)."""
    if isinstance(event.exception, (NotLinked, StaleOrder)) or not one_bot:
        return True
    update = event.update
    if update.callback_query is not None:
        return tickets.is_ticket_callback(update.callback_query.data)
    message = update.message
    if message is None or message.text is None:
        return False
    if _command_name(message.text) in MY_COMMANDS:
        return True
    pending = await asyncio.to_thread(store.get_pending, bot.id, _chat(message.chat.id))
    return pending is not None


def button_query(event: ErrorEvent) -> CallbackQuery | None:
    query = event.update.callback_query
    return query if query is not None and tickets.is_ticket_callback(query.data) else None


async def tell(event: ErrorEvent, button_text: str, message_text: str) -> None:
    """Answer the pressed button, or reply to the message, that failed."""
    query = button_query(event)
    if query is not None:
        try:
            await query.answer(button_text)
        except TelegramAPIError as exc:  # answered already, or too old
            log.info("callback query not answered: %s", exc)
        return
    if event.update.message is not None:
        await event.update.message.answer(message_text)


async def stale(event: ErrorEvent, bot: Bot, service: ChannelServiceClient) -> None:
    query = button_query(event)
    if query is not None and query.message is not None:
        number = tickets.parse_callback(query.data).number
        if await settle_ticket(bot, service, query.message.chat.id,
                               query.message.message_id, number):
            await tell(event, Texts.REFRESHED, Texts.REFRESHED)
            return
    await tell(event, Texts.STALE, Texts.STALE)


async def not_linked(event: ErrorEvent, one_bot: bool) -> None:
    await tell(event, Texts.NOT_LINKED, Texts.NOT_LINKED_ONE_BOT if one_bot else Texts.NOT_LINKED)


async def unavailable(event: ErrorEvent, bot: Bot, store: ChannelStore) -> None:
    message = event.update.message
    kept = message is not None and await asyncio.to_thread(
        store.get_pending, bot.id, _chat(message.chat.id)) is not None
    await tell(event, Texts.BUSY_BUTTON, Texts.BUSY_TEXT if kept else Texts.BUSY)


async def refused(event: ErrorEvent) -> None:
    """The service said no, in its own words (too many attempts, a note too long...)."""
    reason = getattr(event.exception, "reason_zh", None) or Texts.BUSY
    await tell(event, reason, reason)


async def unexpected_on_button(event: ErrorEvent) -> None:
    log.error("ticket button failed", exc_info=event.exception)
    await tell(event, Texts.BUSY_BUTTON, Texts.BUSY)


# ---------------------------------------------------------------- the router


def build_router(
    one_bot: bool,
    *,
    clock: Callable[[], datetime] = utc_now,
    pending_ttl: timedelta = PENDING_TTL,
) -> Router:
    """The handlers' router. ``one_bot``: residents talk to the same bot, so
    ``/start``, ``/help`` and ordinary text are left to the residents' router."""
    router = Router(name="handlers")
    data = RouterData(one_bot=one_bot, clock=clock, pending_ttl=pending_ttl)
    for observer in (router.message, router.callback_query, router.errors):
        observer.outer_middleware(data)
    router.message.filter(F.chat.type == "private")

    router.message.register(link_command, Command("link"))
    router.message.register(unlink_command, Command("unlink"))
    router.message.register(orders_command, Command("orders"))
    router.message.register(queue_command, Command("queue"))
    if not one_bot:
        router.message.register(help_command, CommandStart())
        router.message.register(help_command, Command("help"))
    router.callback_query.register(ticket_button, F.data.startswith("t:"))
    router.message.register(pending_input, HasPendingInput())
    if not one_bot:  # a separate bot: the rest is the handlers' too
        router.message.register(bare_code, F.text.func(LINK_CODE.fullmatch).as_("code"))
        router.message.register(anything_else)

    router.errors.register(stale, ExceptionTypeFilter(StaleOrder))
    router.errors.register(not_linked, ExceptionTypeFilter(NotLinked))
    router.errors.register(unavailable, ExceptionTypeFilter(ServiceUnavailable), owned)
    router.errors.register(refused, ExceptionTypeFilter(RateLimited, Rejected), owned)
    router.errors.register(unexpected_on_button,
                           F.update.callback_query.data.func(tickets.is_ticket_callback))
    return router
