"""The handlers' bot end to end: real aiogram bots on the Bot API emulator, the real
work-order API over HTTP, the notifier's Telegram sender, one SQLite database.

Every test reads outcomes where they land: the orders and their events in the
database, the messages and button answers the emulator recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from aiogram import F, Router
from aiogram.types import Message
from sqlalchemy import select

from integrations.telegram.handler_bot import DEFAULT_PROGRESS_NOTE, Texts
from integrations.telegram.workorders import ChannelServiceClient
from integrations.workorders.adapters.orm import Handler, StaffUser
from integrations.workorders.service import accept, issue_link_code
from tests.app.telegram.channel_support import (
    DISPATCHER_CHAT,
    DISPATCHER_TOKEN,
    H1_CHAT,
    H2_CHAT,
    HANDLER_TOKEN,
    RESIDENT_CHAT,
    RESIDENT_TOKEN,
    TELEGRAM_TOKEN,
    Channel,
    Seeded,
    buttons,
    channel,
    free_port,
    live_api,
    seed,
)
from tests.app.world import World


@pytest.fixture
def seeded(sqlite_db) -> Seeded:
    return seed(World(sqlite_db))


@pytest.fixture
def api_url(seeded) -> Iterator[str]:
    with live_api(seeded.world) as url:
        yield url


def run(coro):
    return asyncio.run(coro)


def resident_order(seeded: Seeded, **kw):
    return seeded.world.order(reporter_ref=f"tg:{RESIDENT_CHAT}", **kw)


async def delivered_ticket(ch: Channel, chat_id: int, number: str):
    """Run the notifier and return the ticket it sent to ``chat_id``."""
    counts = await ch.deliver()
    assert counts.dead == 0, counts
    (ticket,) = ch.tickets(chat_id, number)
    return ticket


def link_code(world: World, code: str, **target) -> str:
    return issue_link_code(world.uow(), world.clock, created_by="staff:admin", code=code,
                           **target).code


def order_row(world: World, number: str):
    return world.row(number)


# ---------------------------------------------------------------------- linking


def test_a_bare_code_links_the_chat_and_a_bad_code_does_not(seeded, api_url):
    world = seeded.world
    h3 = world.handler("赵调解")
    code = link_code(world, "31415926", handler_id=h3)

    async def scenario():
        async with channel(world, api_url) as ch:
            await ch.say(900, "27182818")
            await ch.say(900, code)
            return ch.replies(900)

    replies = run(scenario())
    assert replies == [Texts.BAD_CODE, Texts.LINKED_HANDLER]
    with world.db.session() as s:
        assert s.get(Handler, h3).telegram_chat_id == "900"


def test_link_command_in_a_shared_bot_links_a_dispatcher(seeded, api_url):
    world = seeded.world
    code = link_code(world, "11223344", username="dispatcher")

    async def scenario():
        async with channel(world, api_url, one_bot=True) as ch:
            await ch.say(DISPATCHER_CHAT, "/link")
            await ch.say(DISPATCHER_CHAT, "/link 99999999")
            await ch.say(DISPATCHER_CHAT, f"/link {code}")
            return ch.replies(DISPATCHER_CHAT)

    assert run(scenario()) == [Texts.LINK_USAGE, Texts.BAD_CODE, Texts.LINKED_DISPATCHER]
    with world.db.session() as s:
        user = s.scalars(select(StaffUser).where(StaffUser.username == "dispatcher")).one()
        assert user.telegram_chat_id == str(DISPATCHER_CHAT)


def test_too_many_wrong_codes_are_refused_politely(seeded, api_url):
    async def scenario():
        async with channel(seeded.world, api_url) as ch:
            for guess in range(6):
                await ch.say(901, f"{10000000 + guess}")
            return ch.replies(901)

    replies = run(scenario())
    assert replies[:5] == [Texts.BAD_CODE] * 5
    assert "尝试次数过多" in replies[5]


def test_unlink_stops_the_chat_acting_for_the_handler(seeded, api_url):
    world = seeded.world
    order = resident_order(seeded)

    async def scenario():
        async with channel(world, api_url) as ch:
            ticket = await delivered_ticket(ch, H1_CHAT, order.number)
            await ch.say(H1_CHAT, "/unlink")
            await ch.say(H1_CHAT, "/orders")
            await ch.press(H1_CHAT, ticket.message_id, f"t:acc:{order.number}")
            return ch.replies(H1_CHAT)[1:], ch.answers(H1_CHAT)

    replies, answers = run(scenario())
    assert replies == [Texts.UNLINKED, Texts.NOT_LINKED]
    assert answers == [Texts.NOT_LINKED]
    with world.db.session() as s:
        assert s.get(Handler, seeded.h1).telegram_chat_id is None
    assert order_row(world, order.number).status == "assigned"


def test_a_chat_that_writes_again_gets_tickets_again(seeded, api_url):
    world = seeded.world

    async def scenario():
        async with channel(world, api_url) as ch:
            bot_id = ch.handler_bot.id
            await asyncio.to_thread(ch.store.mark_unreachable, bot_id, str(H1_CHAT),
                                    "Forbidden: bot was blocked by the user", world.clock)
            resident_order(seeded)
            assert (await ch.deliver()).dead == 1  # not even tried
            assert ch.sent(H1_CHAT) == []
            await ch.say(H1_CHAT, "/orders")  # unblocked, and writes again
            assert not await asyncio.to_thread(ch.store.is_unreachable, bot_id, str(H1_CHAT))
            later = [resident_order(seeded) for _ in range(2)]  # by workload: 李, then 王
            (mine,) = [o for o in later if order_row(world, o.number).assignee_id == seeded.h1]
            await delivered_ticket(ch, H1_CHAT, mine.number)

    run(scenario())


def test_a_button_that_is_not_a_ticket_action_is_refused(seeded, api_url):
    world = seeded.world
    order = resident_order(seeded)

    async def scenario():
        async with channel(world, api_url) as ch:
            ticket = await delivered_ticket(ch, H1_CHAT, order.number)
            await ch.press(H1_CHAT, ticket.message_id, f"t:close:{order.number}")
            await ch.press(H1_CHAT, ticket.message_id, "t:acc:123")
            return ch.answers(H1_CHAT)

    assert run(scenario()) == [Texts.BAD_BUTTON, Texts.BAD_BUTTON]
    assert order_row(world, order.number).status == "assigned"


# ------------------------------------------------------- accept, resolve, decline


def test_accept_then_resolve_with_a_note_and_the_resident_hears_it(seeded, api_url):
    world = seeded.world
    order = resident_order(seeded)
    assert order_row(world, order.number).assignee_id == seeded.h1
    note = "已与楼上住户沟通，晚上十点后不再施工。"

    async def scenario():
        async with channel(world, api_url) as ch:
            ticket = await delivered_ticket(ch, H1_CHAT, order.number)
            assert ticket.token == HANDLER_TOKEN
            assert [label for label, _ in buttons(ticket.params["reply_markup"])] == (
                ["接单", "拒单", "转类"])

            await ch.press(H1_CHAT, ticket.message_id, f"t:acc:{order.number}")
            assert order_row(world, order.number).status == "accepted"
            assert ch.answers(H1_CHAT) == [Texts.ACCEPTED]
            (edit,) = ch.sent(H1_CHAT, "editMessageText")
            assert edit.message_id == ticket.message_id and "状态：已签收" in edit.text
            assert [label for label, _ in buttons(edit.params["reply_markup"])] == (
                ["处理中", "已办结", "转类"])

            # a second tap on 接单 (an old screen, a double tap) changes nothing, keeps the buttons
            await ch.press(H1_CHAT, ticket.message_id, f"t:acc:{order.number}")
            assert ch.answers(H1_CHAT) == [Texts.ACCEPTED, Texts.REFRESHED]
            assert ch.sent(H1_CHAT, "editMessageReplyMarkup") == []

            await ch.deliver()  # the resident is told: 已签收
            told = ch.sent(RESIDENT_CHAT, token=RESIDENT_TOKEN)
            assert len(told) == 1 and "已签收" in told[0].text

            await ch.press(H1_CHAT, ticket.message_id, f"t:res:{order.number}")
            prompt = ch.sent(H1_CHAT, token=HANDLER_TOKEN)[-1]
            assert Texts.ASK_RESOLVE_NOTE in prompt.text
            assert prompt.params["reply_markup"]["force_reply"] is True
            assert order_row(world, order.number).status == "accepted"  # nothing yet

            await ch.say(H1_CHAT, note)
            assert ch.replies(H1_CHAT)[-1] == Texts.RESOLVED
            final = ch.sent(H1_CHAT, "editMessageText")[-1]
            assert "状态：已办结" in final.text and "reply_markup" not in final.params
            assert await asyncio.to_thread(ch.store.get_pending, ch.handler_bot.id,
                                           str(H1_CHAT)) is None

            await ch.deliver()  # the resident is asked for satisfaction
            told = ch.sent(RESIDENT_CHAT, token=RESIDENT_TOKEN)
            assert len(told) == 2 and "已办结" in told[1].text
            keyboard = told[1].params["reply_markup"]["keyboard"]
            assert [b["text"] for row in keyboard for b in row] == ["满意", "基本满意", "不满意"]

    run(scenario())
    row = order_row(world, order.number)
    assert row.status == "resolved"
    events = world.events(order.number)
    assert [e.action for e in events][-2:] == ["accept", "resolve"]
    assert events[-1].note == note and events[-1].actor == f"handler:{seeded.h1}"


def test_decline_with_a_reason_redispatches_the_order(seeded, api_url):
    world = seeded.world
    order = resident_order(seeded)

    async def scenario():
        async with channel(world, api_url) as ch:
            ticket = await delivered_ticket(ch, H1_CHAT, order.number)
            await ch.press(H1_CHAT, ticket.message_id, f"t:dec:{order.number}")
            assert Texts.ASK_DECLINE_REASON in ch.replies(H1_CHAT)[-1]
            assert order_row(world, order.number).assignee_id == seeded.h1

            await ch.say(H1_CHAT, "本人这周休假，不在社区。")
            assert ch.replies(H1_CHAT)[-1] == Texts.DECLINED
            (cleared,) = ch.sent(H1_CHAT, "editMessageReplyMarkup")
            assert cleared.message_id == ticket.message_id and "reply_markup" not in cleared.params

            # the new assignee gets the ticket
            new_ticket = await delivered_ticket(ch, H2_CHAT, order.number)
            assert [label for label, _ in buttons(new_ticket.params["reply_markup"])] == [
                "接单", "拒单", "转类"]

    run(scenario())
    row = order_row(world, order.number)
    assert (row.status, row.assignee_id) == ("assigned", seeded.h2)
    decline = next(e for e in world.events(order.number) if e.action == "decline")
    assert decline.note == "本人这周休假，不在社区。"


def test_progress_is_one_tap_then_asks_for_a_note(seeded, api_url):
    world = seeded.world
    order = resident_order(seeded)

    async def scenario():
        async with channel(world, api_url) as ch:
            ticket = await delivered_ticket(ch, H1_CHAT, order.number)
            await ch.press(H1_CHAT, ticket.message_id, f"t:acc:{order.number}")
            await ch.press(H1_CHAT, ticket.message_id, f"t:prg:{order.number}")
            assert order_row(world, order.number).status == "in_progress"
            assert ch.answers(H1_CHAT)[-1] == Texts.PROGRESSED
            edit = ch.sent(H1_CHAT, "editMessageText")[-1]
            assert "状态：处理中" in edit.text
            assert [label for label, _ in buttons(edit.params["reply_markup"])] == (
                ["处理中", "已办结", "转类"])

            await ch.press(H1_CHAT, ticket.message_id, f"t:prg:{order.number}")
            assert Texts.ASK_PROGRESS_NOTE in ch.replies(H1_CHAT)[-1]
            await ch.say(H1_CHAT, "已约好周六上午上门协调。")
            assert ch.replies(H1_CHAT)[-1] == Texts.PROGRESS_NOTED

    run(scenario())
    notes = [e.note for e in world.events(order.number) if e.action == "progress"]
    assert notes == [DEFAULT_PROGRESS_NOTE, "已约好周六上午上门协调。"]


# ----------------------------------------------------------- stale buttons, errors


def test_a_stale_button_is_answered_and_changes_nothing(seeded, api_url):
    world = seeded.world
    order = resident_order(seeded)

    async def scenario():
        async with channel(world, api_url) as ch:
            ticket = await delivered_ticket(ch, H1_CHAT, order.number)
            # a dispatcher moves the order to 李调解 meanwhile
            response = await ch.http.post(
                f"{api_url}/api/v1/orders/{order.number}/reassign",
                headers={"Authorization": f"Bearer {DISPATCHER_TOKEN}"},
                json={"handler_id": seeded.h2, "reason": "王调解外出"})
            assert response.status_code == 200, response.text
            before = len(world.events(order.number))

            await ch.press(H1_CHAT, ticket.message_id, f"t:acc:{order.number}")
            assert ch.answers(H1_CHAT) == [Texts.STALE]
            (cleared,) = ch.sent(H1_CHAT, "editMessageReplyMarkup")
            assert cleared.message_id == ticket.message_id
            assert len(world.events(order.number)) == before

            await ch.press(H1_CHAT, ticket.message_id, f"t:dec:{order.number}")
            await ch.say(H1_CHAT, "不是我的了")  # the reason arrives after the reassignment
            assert ch.replies(H1_CHAT)[-1] == Texts.STALE
            assert len(world.events(order.number)) == before

    run(scenario())
    row = order_row(world, order.number)
    assert (row.status, row.assignee_id) == ("assigned", seeded.h2)


def test_a_pending_input_expires_and_a_command_cancels_it(seeded, api_url):
    world = seeded.world
    order = resident_order(seeded)

    async def scenario():
        async with channel(world, api_url) as ch:
            ticket = await delivered_ticket(ch, H1_CHAT, order.number)
            await ch.press(H1_CHAT, ticket.message_id, f"t:acc:{order.number}")
            await ch.press(H1_CHAT, ticket.message_id, f"t:res:{order.number}")
            world.tick(minutes=31)
            await ch.say(H1_CHAT, "已处理完毕")
            assert ch.replies(H1_CHAT)[-1] == Texts.EXPIRED
            assert order_row(world, order.number).status == "accepted"

            await ch.press(H1_CHAT, ticket.message_id, f"t:res:{order.number}")
            await ch.say(H1_CHAT, "/orders")  # a command instead of the note
            assert await asyncio.to_thread(ch.store.get_pending, ch.handler_bot.id,
                                           str(H1_CHAT)) is None
            assert f"工单 {order.number}" in ch.replies(H1_CHAT)[-1]
            await ch.say(H1_CHAT, "已处理完毕")  # now just text: the help, no action
            assert ch.replies(H1_CHAT)[-1] == Texts.FALLBACK

    run(scenario())
    assert order_row(world, order.number).status == "accepted"


def test_service_unavailable_keeps_what_was_typed(seeded, api_url):
    world = seeded.world
    order = resident_order(seeded)

    async def scenario():
        async with channel(world, api_url) as ch, httpx.AsyncClient() as http:
            down = ChannelServiceClient(f"http://127.0.0.1:{free_port()}", TELEGRAM_TOKEN, http,
                                        timeout=2)
            ticket = await delivered_ticket(ch, H1_CHAT, order.number)
            await ch.press(H1_CHAT, ticket.message_id, f"t:acc:{order.number}", service=down)
            assert ch.answers(H1_CHAT) == [Texts.BUSY_BUTTON]
            assert order_row(world, order.number).status == "assigned"

            await ch.press(H1_CHAT, ticket.message_id, f"t:acc:{order.number}")
            await ch.press(H1_CHAT, ticket.message_id, f"t:res:{order.number}")
            await ch.say(H1_CHAT, "路灯已更换。", service=down)
            assert ch.replies(H1_CHAT)[-1] == Texts.BUSY_TEXT
            pending = await asyncio.to_thread(ch.store.get_pending, ch.handler_bot.id,
                                              str(H1_CHAT))
            assert pending is not None and pending.kind == "resolve"

            await ch.say(H1_CHAT, "路灯已更换。")
            assert ch.replies(H1_CHAT)[-1] == Texts.RESOLVED

    run(scenario())
    assert order_row(world, order.number).status == "resolved"


def test_an_unlinked_chat_is_asked_to_link_first(seeded, api_url):
    async def scenario():
        async with channel(seeded.world, api_url) as ch:
            await ch.say(902, "/orders")
            await ch.say(902, "/start")
            return ch.replies(902)

    assert run(scenario()) == [Texts.NOT_LINKED, Texts.HELP]


# ------------------------------------------------------------------ one shared bot


def test_a_shared_bot_leaves_ordinary_text_to_the_residents_router(seeded, api_url):
    world = seeded.world
    order = resident_order(seeded)
    heard: list[str] = []
    residents = Router(name="residents-stand-in")

    @residents.message(F.text)
    async def relay(message: Message) -> None:
        heard.append(message.text or "")

    async def scenario():
        async with channel(world, api_url, one_bot=True, routers=[residents]) as ch:
            ticket = await delivered_ticket(ch, H1_CHAT, order.number)
            assert ticket.token == RESIDENT_TOKEN  # one bot for both
            await ch.say(H1_CHAT, "/start")
            await ch.say(H1_CHAT, "12345678")  # a bare number is a resident's, not a code
            await ch.say(H1_CHAT, "我家门口路灯坏了")
            await ch.press(H1_CHAT, ticket.message_id, f"t:acc:{order.number}")
            await ch.press(H1_CHAT, ticket.message_id, f"t:res:{order.number}")
            await ch.say(H1_CHAT, "已修好")
            await ch.say(H1_CHAT, "谢谢")

    run(scenario())
    assert heard == ["/start", "12345678", "我家门口路灯坏了", "谢谢"]
    assert order_row(world, order.number).status == "resolved"


# ----------------------------------------------------------------------- lists


def test_orders_lists_each_open_order_with_its_buttons(seeded, api_url):
    world = seeded.world
    orders = [resident_order(seeded) for _ in range(3)]  # by workload: 王, 李, 王
    mine = [o for o in orders if order_row(world, o.number).assignee_id == seeded.h1]
    assert len(mine) == 2
    accept(world.uow(), mine[1].number, seeded.h1, world.clock)

    async def scenario():
        async with channel(world, api_url) as ch:
            await ch.say(H1_CHAT, "/orders")
            return ch.sent(H1_CHAT, token=HANDLER_TOKEN)

    replies = {r.text.splitlines()[0]: r for r in run(scenario())}
    assert sorted(replies) == sorted(f"工单 {o.number}" for o in mine)
    assigned, accepted = (replies[f"工单 {o.number}"] for o in mine)
    assert "状态：待签收" in assigned.text and "状态：已签收" in accepted.text
    assert [label for label, _ in buttons(assigned.params["reply_markup"])] == ["接单", "拒单", "转类"]
    assert [label for label, _ in buttons(accepted.params["reply_markup"])] == ["处理中", "已办结", "转类"]


def test_orders_says_so_when_there_is_nothing_to_do(seeded, api_url):
    async def scenario():
        async with channel(seeded.world, api_url) as ch:
            await ch.say(H2_CHAT, "/orders")
            return ch.replies(H2_CHAT)

    assert run(scenario()) == [Texts.NO_ORDERS]


def test_queue_shows_pending_orders_to_dispatchers_only(seeded, api_url):
    world = seeded.world
    code = link_code(world, "55667788", username="dispatcher")
    # nobody handles water incidents here: the order waits in the dispatchers' queue
    waiting = world.order(category="incident.water", description="小区停水一天了",
                          location_text="幸福里小区5号楼", reporter_ref=f"tg:{RESIDENT_CHAT}")
    assert order_row(world, waiting.number).status == "pending"

    async def scenario():
        async with channel(world, api_url) as ch:
            await ch.say(DISPATCHER_CHAT, code)
            await ch.say(DISPATCHER_CHAT, "/queue")
            await ch.say(H1_CHAT, "/queue")
            return ch.replies(DISPATCHER_CHAT), ch.replies(H1_CHAT)

    dispatcher, handler = run(scenario())
    assert dispatcher[0] == Texts.LINKED_DISPATCHER
    assert dispatcher[1].splitlines()[0] == f"工单 {waiting.number}"
    assert "状态：待派单" in dispatcher[1] and "5号楼" in dispatcher[1]
    assert handler == [Texts.QUEUE_REFUSED]


def test_an_empty_queue_is_said_politely(seeded, api_url):
    world = seeded.world
    code = link_code(world, "55667799", username="dispatcher")

    async def scenario():
        async with channel(world, api_url) as ch:
            await ch.say(DISPATCHER_CHAT, f"/link {code}")
            await ch.say(DISPATCHER_CHAT, "/queue")
            return ch.replies(DISPATCHER_CHAT)

    assert run(scenario()) == [Texts.LINKED_DISPATCHER, Texts.NO_QUEUE]


# ----------------------------------------------------- community staff and 转类

REQUESTS = ["request.consult", "request.suggest", "request.complaint"]
CLERK_CHAT = 702


def clerk(world: World) -> int:
    """陈干事, a community staff member (社区工作人员) of grid qy-dz-01, linked to chat 702."""
    return world.handler("陈干事", role="staff", skills=REQUESTS,
                         telegram_chat_id=str(CLERK_CHAT))


def test_a_staff_member_answers_a_request_and_the_resident_reads_the_answer(seeded, api_url):
    world = seeded.world
    staff_id = clerk(world)
    order = resident_order(seeded, category="request.consult",
                           description="孩子转学需要准备什么材料？")
    assert order_row(world, order.number).assignee_id == staff_id
    answer = "请带户口本和原学校的学籍证明，到街道教育办办理转学手续。"

    async def scenario():
        async with channel(world, api_url) as ch:
            ticket = await delivered_ticket(ch, CLERK_CHAT, order.number)
            assert "类别：政策咨询" in ticket.text
            await ch.press(CLERK_CHAT, ticket.message_id, f"t:acc:{order.number}")
            await ch.press(CLERK_CHAT, ticket.message_id, f"t:prg:{order.number}")
            assert order_row(world, order.number).status == "in_progress"

            await ch.press(CLERK_CHAT, ticket.message_id, f"t:res:{order.number}")
            assert ch.replies(CLERK_CHAT)[-1] == f"工单 {order.number}：{Texts.ASK_ANSWER}"
            await ch.say(CLERK_CHAT, answer)
            assert ch.replies(CLERK_CHAT)[-1] == Texts.ANSWERED

            await ch.deliver()
            (answered,) = [c for c in ch.sent(RESIDENT_CHAT, token=RESIDENT_TOKEN)
                           if "已有答复" in (c.text or "")]
            assert answered.text == (
                f"您咨询的问题（工单 {order.number}）已有答复：{answer}"
                "请问您对答复是否满意？请回复“满意”“基本满意”或“不满意”。")
            keyboard = answered.params["reply_markup"]["keyboard"]
            assert [b["text"] for row in keyboard for b in row] == ["满意", "基本满意", "不满意"]

    run(scenario())
    row = order_row(world, order.number)
    assert row.status == "resolved"
    resolved = world.events(order.number)[-1]
    assert (resolved.action, resolved.note, resolved.actor) == (
        "resolve", answer, f"handler:{staff_id}")


def test_a_staff_member_passes_a_dispute_on_with_the_reclassify_buttons(seeded, api_url):
    world = seeded.world
    staff_id = clerk(world)
    order = resident_order(seeded, category="request.complaint",
                           description="楼上漏水渗到我家，找了好几次都不管，我要投诉。")
    assert order_row(world, order.number).assignee_id == staff_id

    async def scenario():
        async with channel(world, api_url) as ch:
            ticket = await delivered_ticket(ch, CLERK_CHAT, order.number)
            await ch.press(CLERK_CHAT, ticket.message_id, f"t:rcl:{order.number}")
            assert ch.answers(CLERK_CHAT) == [Texts.PICK_CATEGORY]
            (choices,) = ch.sent(CLERK_CHAT, "editMessageReplyMarkup")
            offered = buttons(choices.params["reply_markup"])
            assert ("邻里纠纷", f"t:to:{order.number}:dispute.neighbor") in offered
            assert offered[-1] == ("返回", f"t:bck:{order.number}")
            assert "投诉举报" not in [label for label, _ in offered]  # what it is already

            # 返回: the ticket's own buttons again, nothing changed
            await ch.press(CLERK_CHAT, ticket.message_id, f"t:bck:{order.number}")
            back = ch.sent(CLERK_CHAT, "editMessageText")[-1]
            assert [label for label, _ in buttons(back.params["reply_markup"])] == [
                "接单", "拒单", "转类"]
            assert order_row(world, order.number).category == "request.complaint"

            await ch.press(CLERK_CHAT, ticket.message_id,
                           f"t:to:{order.number}:dispute.neighbor")
            done = Texts.RECLASSIFIED.format("邻里纠纷")
            assert ch.answers(CLERK_CHAT)[-1] == done
            final = ch.sent(CLERK_CHAT, "editMessageText")[-1]
            assert final.text == f"工单 {order.number}：{done}"
            assert "reply_markup" not in final.params

            # the mediator gets the ticket, the resident is told
            mediator_ticket = await delivered_ticket(ch, H1_CHAT, order.number)
            assert "类别：邻里纠纷" in mediator_ticket.text
            told = [c.text for c in ch.sent(RESIDENT_CHAT, token=RESIDENT_TOKEN)]
            assert told == [f"您反映的问题已转为「邻里纠纷」，由人民调解员处理，"
                            f"工单号不变：{order.number}。"]

            # an old choice pressed again: the order is no longer this chat's
            await ch.press(CLERK_CHAT, ticket.message_id, f"t:to:{order.number}:incident.water")
            assert ch.answers(CLERK_CHAT)[-1] == Texts.STALE

    run(scenario())
    row = order_row(world, order.number)
    assert (row.kind, row.category, row.assignee_id) == ("dispute", "dispute.neighbor", seeded.h1)
    event = next(e for e in world.events(order.number) if e.action == "reclassify")
    assert (event.actor, event.handler_id) == (f"handler:{staff_id}", staff_id)
    assert event.note == f"from:request.complaint to:dispute.neighbor handler:{staff_id}"
