"""End to end in Telegram: the real stack (Rasa, actions, work-order API, notifier, sweeper)
plus the Telegram channel process, whose aiogram bots talk over HTTP to the
Bot API emulator (tests/telegram_emulator.py) on 127.0.0.1.

A resident reports in the residents' bot and gets a number; the handler (who
linked their chat with a one-time code) receives the ticket in the handlers'
bot, presses 接单 then 已办结 with a note; the resident receives both status
changes and the satisfaction question with its keyboard, answers 不满意 and
the order reopens. Then Telegram's 429 and 403, a redelivered update, and
restarts of the bot process and of the notifier.
"""
from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest
from e2e_support import orders_for
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from telegram_stack import bot_emulator, stack_with_bots

from integrations.telegram.tables import TelegramUnreachable
from integrations.workorders.adapters.outbox_table import OutboxMessage
from tests.staff_accounts import create_staff
from tests.telegram_emulator import BotApiEmulator, SentCall
from tools.stack import Stack

pytestmark = pytest.mark.slow

RESIDENTS = "7300000001:e2e-residents-bot-secret"
HANDLERS = "7300000002:e2e-handlers-bot-secret"
HANDLER_CHAT_BASE = 730_000_000
WAIT_S = 60.0


@pytest.fixture(scope="module")
def emu() -> Iterator[BotApiEmulator]:
    with bot_emulator(RESIDENTS, HANDLERS, "e2e") as emulator:
        yield emulator


@pytest.fixture(scope="module")
def stack(emu, tmp_path_factory) -> Iterator[Stack]:
    with stack_with_bots(emu, tmp_path_factory.mktemp("e2e-telegram"), RESIDENTS, HANDLERS) as running:
        yield running


@pytest.fixture(scope="module")
def handler_chats(stack, emu) -> dict[int, int]:
    """Every demo handler links a chat in the handlers' bot with a one-time code."""
    admin = create_staff(stack.database_url, "e2e-tg-admin", "admin")
    api = httpx.Client(base_url=stack.api_url, timeout=10,
                       headers={"Authorization": f"Bearer {admin}"})
    chats = {}
    for handler in api.get("/api/v1/handlers").json():
        issued = api.post("/api/v1/telegram/link-codes", json={"handler_id": handler["id"]})
        assert issued.status_code == 201, issued.text
        chat = HANDLER_CHAT_BASE + handler["id"]
        emu.user_sends(HANDLERS, chat, f"/link {issued.json()['code']}")
        reply = wait_text(emu, HANDLERS, chat, "绑定成功")
        assert reply.ok
        chats[handler["id"]] = chat
    api.close()
    return chats


def wait_text(emu: BotApiEmulator, token: str, chat: int, needle: str, *,
              after: float = 0.0, timeout: float = WAIT_S) -> SentCall:
    """The first message the bot sent to ``chat`` (after ``after``) containing ``needle``."""
    [call, *_] = emu.wait_sent_sync(
        lambda c: c.ok and c.at >= after and needle in (c.text or ""),
        token=token, chat_id=chat, method="sendMessage", timeout=timeout)
    return call


def say(emu: BotApiEmulator, chat: int, text: str, needle: str) -> SentCall:
    """A resident's message and the bot's reply containing ``needle``."""
    before = time.monotonic()
    emu.user_sends(RESIDENTS, chat, text)
    return wait_text(emu, RESIDENTS, chat, needle, after=before)


def report(emu: BotApiEmulator, stack: Stack, chat: int, building: int) -> dict:
    say(emu, chat, f"幸福里小区{building}号楼门口的路灯坏了，晚上黑乎乎的", "手机号")
    say(emu, chat, "不用了", "对吗")
    opened = say(emu, chat, "对", "工单号")
    [order] = orders_for(stack.database_url, f"tg:{chat}")
    assert order["number"] in opened.text
    return order


def press(emu: BotApiEmulator, chat: int, ticket: SentCall, action: str, number: str) -> SentCall:
    before = time.monotonic()
    emu.user_presses(HANDLERS, chat, ticket.message_id, f"t:{action}:{number}")
    [answer, *_] = emu.wait_sent_sync(lambda c: c.at >= before, token=HANDLERS, chat_id=chat,
                                      method="answerCallbackQuery", timeout=WAIT_S)
    return answer


def status_of(stack: Stack, chat: int) -> str:
    [order] = orders_for(stack.database_url, f"tg:{chat}")
    return order["status"]


def outbox_rows(stack: Stack, chat: int) -> list[OutboxMessage]:
    engine = create_engine(stack.database_url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(OutboxMessage).where(
                OutboxMessage.recipient_ref == f"tg:{chat}").order_by(OutboxMessage.id)))
    finally:
        engine.dispose()


def test_report_ticket_accept_resolve_and_reopen_in_telegram(stack, emu, handler_chats):
    resident = 7_301_001
    order = report(emu, stack, resident, 31)
    number = order["number"]
    handler_chat = handler_chats[order["assignee_id"]]

    [ticket] = emu.wait_sent_sync(
        lambda c: c.ok and number in (c.text or "") and c.params.get("reply_markup"),
        token=HANDLERS, chat_id=handler_chat, method="sendMessage", timeout=WAIT_S)
    buttons = [b["text"] for row in ticket.params["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == ["接单", "拒单", "转类"]
    assert "幸福里小区31号楼" in ticket.text

    press(emu, handler_chat, ticket, "acc", number)
    wait_text(emu, RESIDENTS, resident, "已签收")
    assert status_of(stack, resident) == "accepted"

    press(emu, handler_chat, ticket, "res", number)
    wait_text(emu, HANDLERS, handler_chat, "办结情况")
    emu.user_sends(HANDLERS, handler_chat, "灯泡已更换")
    resolved = wait_text(emu, RESIDENTS, resident, "已办结")
    assert status_of(stack, resident) == "resolved"
    keyboard = resolved.params["reply_markup"]["keyboard"]
    assert [b["text"] for row in keyboard for b in row] == ["满意", "基本满意", "不满意"]

    say(emu, resident, "不满意", "哪里还不满意")  # the keyboard's button
    say(emu, resident, "灯还是一闪一闪的", "重新受理")
    assert status_of(stack, resident) not in ("resolved", "closed")


def test_a_question_is_answered_by_the_staff_in_telegram(stack, emu, handler_chats):
    """Other requests end to end: the resident asks in the residents' bot, the
    community's staff member gets the ticket in the handlers' bot and answers
    with 已办结; the answer itself reaches the resident, with the follow-up."""
    resident = 7_301_011
    say(emu, resident, "你好，咨询一下城乡居民养老保险一年交多少钱，在哪里交",
        "转给社区工作人员")
    opened = say(emu, resident, "对", "工单号")
    assert "答复会在这里发给您" in opened.text
    [order] = orders_for(stack.database_url, f"tg:{resident}")
    number = order["number"]
    assert (order["kind"], order["category"]) == ("request", "request.consult")
    staff_chat = handler_chats[order["assignee_id"]]

    [ticket] = emu.wait_sent_sync(
        lambda c: c.ok and number in (c.text or "") and c.params.get("reply_markup"),
        token=HANDLERS, chat_id=staff_chat, method="sendMessage", timeout=WAIT_S)
    press(emu, staff_chat, ticket, "acc", number)
    wait_text(emu, RESIDENTS, resident, "已签收")
    press(emu, staff_chat, ticket, "res", number)
    wait_text(emu, HANDLERS, staff_chat, "答复")
    answer = "城乡居民养老保险按年缴费，档次200元到3000元自选，可在社区服务中心或手机上的税务App缴纳。"
    emu.user_sends(HANDLERS, staff_chat, answer)
    answered = wait_text(emu, RESIDENTS, resident, "已有答复")
    assert answer.rstrip("。") in answered.text and number in answered.text
    assert status_of(stack, resident) == "resolved"
    say(emu, resident, "满意", "感谢")
    assert status_of(stack, resident) == "closed"


def test_flood_control_is_waited_out_and_a_redelivered_update_is_handled_once(stack, emu):
    chat = 7_301_002
    emu.fail_next("sendMessage", 429, retry_after=1, chat_id=chat, token=RESIDENTS)
    first = time.monotonic()
    update_id = emu.user_sends(RESIDENTS, chat, "你好")
    reply = wait_text(emu, RESIDENTS, chat, "", after=first)
    attempts = emu.sent(RESIDENTS, chat, "sendMessage")
    assert [c.status for c in attempts][:2] == [429, 200]
    assert reply.at - attempts[0].at >= 0.9

    emu.redeliver(RESIDENTS, update_id)
    say(emu, chat, "谢谢", "")
    greetings = [c for c in emu.sent(RESIDENTS, chat, "sendMessage") if c.ok and c.text == reply.text]
    assert len(greetings) == 1


def test_a_resident_who_blocked_the_bot_is_not_tried_again(stack, emu, handler_chats):
    resident = 7_301_003
    order = report(emu, stack, resident, 32)
    emu.block(RESIDENTS, resident)
    handler = create_staff(stack.database_url, "e2e-tg-handler-3", "handler", order["assignee_id"])
    api = httpx.Client(base_url=stack.api_url, timeout=10,
                       headers={"Authorization": f"Bearer {handler}"})
    number = order["number"]
    assert api.post(f"/api/v1/orders/{number}/accept").status_code == 200
    deadline = time.monotonic() + WAIT_S
    while not [r for r in outbox_rows(stack, resident) if r.status == "dead"]:
        assert time.monotonic() < deadline, "the 403 did not make the message dead"
        time.sleep(0.3)
    assert api.post(f"/api/v1/orders/{number}/progress", json={"note": "已联系电工"}).status_code == 200
    deadline = time.monotonic() + WAIT_S
    while len([r for r in outbox_rows(stack, resident) if r.status == "dead"]) < 2:
        assert time.monotonic() < deadline, "the second message was not settled"
        time.sleep(0.3)
    refused = [c for c in emu.sent(RESIDENTS, resident, "sendMessage") if c.status == 403]
    assert len(refused) == 1  # the second one was never attempted
    engine = create_engine(stack.database_url)
    with Session(engine) as session:
        assert session.scalars(select(TelegramUnreachable).where(
            TelegramUnreachable.chat_id == str(resident))).one()
    engine.dispose()
    api.close()


def test_restarts_of_the_bots_and_the_notifier_lose_nothing(stack, emu, handler_chats):
    resident = 7_301_004
    order = report(emu, stack, resident, 33)
    number = order["number"]

    stack.stop_service("telegram")
    before = time.monotonic()
    emu.user_sends(RESIDENTS, resident, "我的工单办得怎么样了")
    stack.start_service("telegram")
    status = wait_text(emu, RESIDENTS, resident, number, after=before)
    assert "已派单" in status.text or "处理" in status.text

    stack.stop_service("notifier")
    handler = create_staff(stack.database_url, "e2e-tg-handler-4", "handler", order["assignee_id"])
    accepted = httpx.post(f"{stack.api_url.rstrip('/')}/api/v1/orders/{number}/accept", timeout=10,
                          headers={"Authorization": f"Bearer {handler}"})
    assert accepted.status_code == 200
    assert [r.status for r in outbox_rows(stack, resident)][-1] == "pending"
    stack.start_service("notifier")
    wait_text(emu, RESIDENTS, resident, "已签收", after=before)
    assert re.search(r"\d{8}", status.text)
