"""The Telegram Bot API emulator, driven by a real aiogram Bot over HTTP.

Other tests trust the emulator to behave like Telegram as aiogram sees it:
these check that each method answers what aiogram validates, and that updates,
faults, webhooks and the recording work in the event loop, from a thread and
as a separate process.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.methods import SendMessage
from aiogram.types import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from tests.telegram_emulator import BotApiEmulator

TOKEN = "123456:TEST-resident-bot"
OTHER_TOKEN = "654321:TEST-handler-bot"
CHAT = 42
ROOT = Path(__file__).resolve().parents[3]


def make_bot(emu: BotApiEmulator, token: str = TOKEN) -> Bot:
    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url)))


@pytest_asyncio.fixture
async def emu() -> AsyncIterator[BotApiEmulator]:
    async with BotApiEmulator(webhook_retry_delay=0.05) as emulator:
        emulator.add_bot(TOKEN)
        yield emulator


@pytest_asyncio.fixture
async def bot(emu: BotApiEmulator) -> AsyncIterator[Bot]:
    client = make_bot(emu)
    yield client
    await client.session.close()


def confirm_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text="确认", callback_data="confirm"),
        InlineKeyboardButton(text="取消", callback_data="cancel"),
    ]])


@pytest.mark.asyncio
async def test_get_me_unknown_token_and_unknown_method(emu: BotApiEmulator, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (123456, True, "community_bot")

    stranger = make_bot(emu, "999:not-registered")
    with pytest.raises(TelegramUnauthorizedError):
        await stranger.get_me()
    await stranger.session.close()

    async with httpx.AsyncClient() as client:
        resp = await client.post(f"{emu.base_url}/bot{TOKEN}/sendTelepathy", data={"x": "1"})
    assert resp.status_code == 404
    assert resp.json() == {"ok": False, "error_code": 404,
                           "description": "Not Found: method not found"}


@pytest.mark.asyncio
async def test_send_message_records_decoded_keyboards(emu: BotApiEmulator, bot: Bot) -> None:
    first = await bot.send_message(CHAT, "请确认您的报修信息", reply_markup=confirm_keyboard())
    reply_keyboard = ReplyKeyboardMarkup(keyboard=[[
        KeyboardButton(text="发送位置", request_location=True)]], resize_keyboard=True)
    second = await bot.send_message(CHAT, "请发送您的位置", reply_markup=reply_keyboard)

    assert (first.message_id, second.message_id) == (1, 2)
    assert first.chat.id == CHAT and first.from_user.id == 123456 and first.text == "请确认您的报修信息"
    buttons = first.reply_markup.inline_keyboard[0]
    assert [(b.text, b.callback_data) for b in buttons] == [("确认", "confirm"), ("取消", "cancel")]
    assert second.reply_markup is None  # a Message shows inline keyboards only

    calls = emu.sent(TOKEN, chat_id=CHAT, method="sendMessage")
    assert [c.message_id for c in calls] == [1, 2] and all(c.status == 200 for c in calls)
    assert calls[0].params["reply_markup"] == {"inline_keyboard": [[
        {"text": "确认", "callback_data": "confirm"}, {"text": "取消", "callback_data": "cancel"}]]}
    assert calls[1].params["reply_markup"] == {
        "keyboard": [[{"text": "发送位置", "request_location": True}]], "resize_keyboard": True}
    assert calls[0].text == "请确认您的报修信息" and calls[0].chat_id == CHAT

    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(CHAT, "")
    assert await bot.send_chat_action(CHAT, "typing") is True
    assert await bot.set_my_commands([BotCommand(command="report", description="报修")])
    assert emu.sent(method="setMyCommands")[0].params["commands"] == [
        {"command": "report", "description": "报修"}]


@pytest.mark.asyncio
async def test_get_updates_and_offset_confirmation(emu: BotApiEmulator, bot: Bot) -> None:
    update_id = emu.user_sends(TOKEN, CHAT, "楼道灯坏了")

    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [update_id]
    message = updates[0].message
    assert message.text == "楼道灯坏了" and message.chat.id == CHAT
    assert message.from_user.first_name == "张三"
    assert update_id in emu.update_times

    assert [u.update_id for u in await bot.get_updates()] == [update_id]  # not confirmed yet
    assert await bot.get_updates(offset=update_id + 1) == []
    assert emu.confirmed_offset(TOKEN) == update_id + 1
    assert await bot.get_updates() == []  # dropped for good
    assert emu.get_updates_calls == 4
    assert emu.sent(method="getUpdates") == []  # successful polls are counted, not recorded

    located = emu.user_sends(TOKEN, CHAT, location=(31.23, 121.47))
    sticker = emu.user_sends(TOKEN, CHAT, sticker=True)
    command = emu.user_sends(TOKEN, CHAT, "/start")
    updates = await bot.get_updates(offset=update_id + 1, limit=2)
    assert [u.update_id for u in updates] == [located, sticker]
    assert updates[0].message.location.latitude == pytest.approx(31.23)
    assert updates[1].message.sticker.emoji == "👍"
    updates = await bot.get_updates(offset=sticker + 1, allowed_updates=["message"])
    assert updates[0].update_id == command and updates[0].message.entities[0].type == "bot_command"


@pytest.mark.asyncio
async def test_long_poll_returns_when_an_update_arrives(emu: BotApiEmulator, bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert time.monotonic() - started >= 0.9

    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.3)
    assert not poll.done()
    injected_at = time.monotonic()
    update_id = emu.user_sends(TOKEN, CHAT, "有人在吗")
    updates = await asyncio.wait_for(poll, 5)
    assert [u.update_id for u in updates] == [update_id]
    assert time.monotonic() - injected_at < 1.0


@pytest.mark.asyncio
async def test_retry_after_and_other_faults(emu: BotApiEmulator, bot: Bot) -> None:
    emu.fail_next("sendMessage", 429, retry_after=3)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(CHAT, "您好")
    assert caught.value.retry_after == 3
    assert "Too Many Requests: retry after 3" in str(caught.value)
    await bot.send_message(CHAT, "您好")  # only the next call failed

    emu.fail_next("sendMessage", 400, chat_id=7, times=2, description="Bad Request: chat not found")
    await bot.send_message(CHAT, "别的会话不受影响")
    for _ in range(2):
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.send_message(7, "您好")
    await bot.send_message(7, "您好")

    assert [(c.chat_id, c.status) for c in emu.sent(method="sendMessage")] == [
        (CHAT, 429), (CHAT, 200), (CHAT, 200), (7, 400), (7, 400), (7, 200)]
    assert emu.sent(method="sendMessage")[0].description == "Too Many Requests: retry after 3"


@pytest.mark.asyncio
async def test_blocked_chat_answers_forbidden(emu: BotApiEmulator, bot: Bot) -> None:
    emu.block(TOKEN, CHAT)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(CHAT, "您的工单已受理")
    await bot.send_message(CHAT + 1, "其他居民照常收到")
    emu.unblock(TOKEN, CHAT)
    await bot.send_message(CHAT, "您的工单已受理")
    assert [c.status for c in emu.sent(chat_id=CHAT)] == [403, 200]


@pytest.mark.asyncio
async def test_photo_get_file_and_download(emu: BotApiEmulator, bot: Bot) -> None:
    photo = os.urandom(20_000)
    emu.user_sends(TOKEN, CHAT, "墙面渗水", photo=photo,
                   document=("报修单.pdf", b"%PDF-1.4 test"))
    [update] = await bot.get_updates()
    message = update.message
    assert message.caption == "墙面渗水"
    thumbnail, full = message.photo
    assert thumbnail.file_size < full.file_size == len(photo)
    assert message.document.file_name == "报修单.pdf"
    assert message.document.mime_type == "application/pdf"

    file = await bot.get_file(full.file_id)
    assert file.file_size == len(photo) and file.file_path
    downloaded = await bot.download(full.file_id)
    assert downloaded.getvalue() == photo
    assert (await bot.download(message.document.file_id)).getvalue() == b"%PDF-1.4 test"
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("no-such-file")


@pytest.mark.asyncio
async def test_callback_query_round_trip_and_edits(emu: BotApiEmulator, bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "确认提交吗？", reply_markup=confirm_keyboard())
    update_id = emu.user_presses(TOKEN, CHAT, sent.message_id, "confirm")
    [update] = await bot.get_updates()
    query = update.callback_query
    assert update.update_id == update_id and query.data == "confirm"
    assert query.message.message_id == sent.message_id and query.from_user.id == CHAT
    assert query.id == emu.update(TOKEN, update_id)["callback_query"]["id"]

    assert await bot.answer_callback_query(query.id, text="已提交") is True
    [answer] = emu.sent(method="answerCallbackQuery")
    assert (answer.chat_id, answer.message_id, answer.status) == (CHAT, sent.message_id, 200)
    assert answer.params == {"callback_query_id": query.id, "text": "已提交"}
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_callback_query(query.id)

    edited = await bot.edit_message_text("已提交，谢谢！", chat_id=CHAT, message_id=sent.message_id)
    assert edited.text == "已提交，谢谢！" and edited.reply_markup is None
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("已提交，谢谢！", chat_id=CHAT, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_reply_markup(chat_id=CHAT, message_id=99,
                                            reply_markup=confirm_keyboard())
    assert await bot.delete_message(CHAT, sent.message_id) is True
    with pytest.raises(ValueError, match="no message"):
        emu.user_presses(TOKEN, CHAT, sent.message_id, "confirm")


@pytest.mark.asyncio
async def test_redeliver_hands_out_the_same_update_again(emu: BotApiEmulator, bot: Bot) -> None:
    update_id = emu.user_sends(TOKEN, CHAT, "你好")
    assert [u.update_id for u in await bot.get_updates()] == [update_id]
    assert await bot.get_updates(offset=update_id + 1) == []

    assert emu.redeliver(TOKEN, update_id) == update_id
    [again] = await bot.get_updates(offset=update_id + 1)
    assert again.update_id == update_id and again.message.text == "你好"
    assert await bot.get_updates(offset=update_id + 1) == []

    newer = emu.user_sends(TOKEN, CHAT, "再见")
    emu.redeliver(TOKEN, update_id)  # handed out in id order, as Telegram would
    assert [u.update_id for u in await bot.get_updates(offset=update_id + 1)] == [update_id, newer]
    assert await bot.get_updates(offset=newer + 1) == []


@pytest.mark.asyncio
async def test_wait_sent_and_its_timeout_dump(emu: BotApiEmulator, bot: Bot) -> None:
    async def reply_later() -> None:
        await asyncio.sleep(0.2)
        await bot.send_message(CHAT, "收到，我们会尽快处理")

    task = asyncio.create_task(reply_later())
    [call] = await emu.wait_sent(lambda c: "尽快" in (c.text or ""), chat_id=CHAT, timeout=5)
    await task
    assert call.method == "sendMessage" and call.at >= min(emu.update_times.values(), default=0)
    with pytest.raises(TimeoutError, match=r"(?s)sendMessage chat=42 status=200.*尽快处理"):
        await emu.wait_sent(2, method="sendMessage", timeout=0.2)


@pytest.mark.asyncio
async def test_webhook_mode_posts_with_secret_and_retries(emu: BotApiEmulator, bot: Bot) -> None:
    received: list[tuple[str | None, dict]] = []

    async def receiver(request: web.Request) -> web.Response:
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"),
                         await request.json()))
        if len(received) == 1:
            return web.Response(status=500)  # Telegram retries
        if len(received) == 2:  # a webhook may answer with a method call
            return web.json_response({"method": "sendMessage", "chat_id": CHAT, "text": "收到"})
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/telegram/123456", receiver)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        url = f"http://127.0.0.1:{port}/telegram/123456"
        assert await bot.set_webhook(url, secret_token="s3cret")
        update_id = emu.user_sends(TOKEN, CHAT, "水管漏水")
        [reply] = await emu.wait_sent(1, method="sendMessage", timeout=5)
        assert reply.text == "收到" and reply.chat_id == CHAT
        assert [(secret, body["update_id"]) for secret, body in received] == [
            ("s3cret", update_id), ("s3cret", update_id)]
        assert received[1][1]["message"]["text"] == "水管漏水"
        assert update_id in emu.update_times

        info = await bot.get_webhook_info()
        assert info.url == url and info.pending_update_count == 0
        assert "500" in info.last_error_message
        with pytest.raises(TelegramConflictError):
            await bot.get_updates()

        assert await bot.delete_webhook()
        later = emu.user_sends(TOKEN, CHAT, "还在漏")
        assert [u.update_id for u in await bot.get_updates()] == [later]
        assert len(received) == 2
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
async def test_aiogram_dispatcher_polling_and_a_second_poller(emu: BotApiEmulator,
                                                              bot: Bot) -> None:
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.answer(f"收到：{message.text}")

    polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False,
                                                           polling_timeout=2))
    try:
        update_ids = [emu.user_sends(TOKEN, 100 + i, f"第{i}条") for i in range(5)]
        calls = await emu.wait_sent(5, method="sendMessage", timeout=10)
        assert sorted(c.text for c in calls) == [f"收到：第{i}条" for i in range(5)]
        handed_out = {100 + i: emu.update_times[u] for i, u in enumerate(update_ids)}
        assert all(c.at >= handed_out[c.chat_id] for c in calls)
        await asyncio.sleep(0.5)  # the dispatcher is long-polling again
        assert await bot.get_updates() == []  # a second instance: as on Telegram,
        [conflict] = await emu.wait_sent(1, method="getUpdates", timeout=2)  # older poll: 409
        assert conflict.status == 409 and "only one bot instance" in conflict.description
    finally:
        await dispatcher.stop_polling()
        await polling
    assert emu.confirmed_offset(TOKEN) == update_ids[-1] + 1


@pytest.mark.asyncio
async def test_aiogram_webhook_answering_with_a_method(emu: BotApiEmulator, bot: Bot) -> None:
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def reply(message: Message) -> SendMessage:
        return SendMessage(chat_id=message.chat.id, text="已收到您的报修")

    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, handle_in_background=False,
                         secret_token="s3cret").register(app, path="/telegram/123456")
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/telegram/123456"
        await bot.set_webhook(url, secret_token="s3cret")
        emu.user_sends(TOKEN, CHAT, "电梯停了")
        [call] = await emu.wait_sent(1, method="sendMessage", timeout=5)
        assert (call.chat_id, call.text, call.status) == (CHAT, "已收到您的报修", 200)
    finally:
        await runner.cleanup()


def test_thread_mode_from_sync_code() -> None:
    with BotApiEmulator().start_in_thread() as emu:
        assert emu.add_bot(TOKEN) == 123456
        emu.add_bot(OTHER_TOKEN, "handler_bot")
        update_id = emu.user_sends(TOKEN, CHAT, "你好")

        async def resident_bot() -> None:
            client = make_bot(emu)
            try:
                [update] = await client.get_updates()
                assert update.update_id == update_id
                await asyncio.sleep(0.2)
                await client.send_message(update.message.chat.id, "您好，请问有什么可以帮您？")
            finally:
                await client.session.close()

        errors: list[BaseException] = []
        worker = threading.Thread(target=lambda: _run_collecting(resident_bot(), errors))
        worker.start()
        [call] = emu.wait_sent_sync(1, token=TOKEN, method="sendMessage", timeout=10)
        worker.join(10)
        assert errors == []
        assert call.chat_id == CHAT and call.message_id == 2  # the resident's was 1
        assert call.at > emu.update_times[update_id]
        assert emu.sent(token=OTHER_TOKEN) == []
        with pytest.raises(TimeoutError, match="您好，请问有什么可以帮您"):
            emu.wait_sent_sync(2, method="sendMessage", timeout=0.1)


def test_control_endpoints_drive_another_process_style() -> None:
    with BotApiEmulator().start_in_thread() as emu, httpx.Client(base_url=emu.base_url) as http:
        emu.add_bot(TOKEN)
        api = f"/bot{TOKEN}"
        photo = os.urandom(3000)
        injected = http.post("/_emu/updates", json={
            "token": TOKEN, "chat_id": CHAT, "text": "看图", "photo_b64":
            base64.b64encode(photo).decode()}).json()["result"]
        [update] = http.post(f"{api}/getUpdates", data={"timeout": "1"}).json()["result"]
        assert update["update_id"] == injected and update["message"]["caption"] == "看图"
        file = http.post(f"{api}/getFile",
                         data={"file_id": update["message"]["photo"][-1]["file_id"]}).json()
        assert http.get(f"/file/bot{TOKEN}/{file['result']['file_path']}").content == photo

        assert http.post("/_emu/faults", json={"method": "sendMessage", "error_code": 429,
                                               "retry_after": 2}).json()["ok"]
        limited = http.post(f"{api}/sendMessage", data={"chat_id": CHAT, "text": "您好"})
        assert limited.status_code == 429 and limited.json()["parameters"] == {"retry_after": 2}
        assert http.post("/_emu/block", json={"token": TOKEN, "chat_id": CHAT}).json()["ok"]
        assert http.post(f"{api}/sendMessage",
                         data={"chat_id": CHAT, "text": "您好"}).status_code == 403
        http.post("/_emu/block", json={"token": TOKEN, "chat_id": CHAT, "blocked": False})
        ok = http.post(f"{api}/sendMessage", json={"chat_id": CHAT, "text": "您好"}).json()
        assert ok["result"]["message_id"] == 2  # after the resident's message 1
        missing = http.post(f"{api}/sendMessage", data={"text": "您好"})
        assert missing.status_code == 400 and "chat_id is empty" in missing.json()["description"]

        sent = http.get("/_emu/sent", params={"chat_id": CHAT, "method": "sendMessage"}).json()
        assert [c["status"] for c in sent["result"]] == [429, 403, 200]
        stats = http.get("/_emu/stats").json()["result"]
        assert stats["confirmed_offsets"] == {TOKEN: 0} and str(injected) in stats["update_times"]
        assert http.post("/_emu/updates", json={"token": TOKEN}).status_code == 400


def test_standalone_process() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.telegram_emulator", "--port", "0", "--bot", TOKEN],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, line
        base_url = line.rsplit(" ", 1)[1].strip()
        me = httpx.post(f"{base_url}/bot{TOKEN}/getMe").json()
        assert me["result"]["id"] == 123456
        assert httpx.post(f"{base_url}/bot1:x/getMe").status_code == 401
    finally:
        process.terminate()
        assert process.wait(10) == 0


def _run_collecting(coroutine, errors: list[BaseException]) -> None:
    try:
        asyncio.run(coroutine)
    except BaseException as exc:  # noqa: BLE001 (reported by the test)
        errors.append(exc)

