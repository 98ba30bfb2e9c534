"""Tickets: callback data, keyboards, and what each outbox topic looks like in Telegram."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiogram.types import InlineKeyboardMarkup, ReplyKeyboardMarkup

from integrations.telegram import tickets
from integrations.telegram.categories import load_categories
from integrations.workorders.notifier import Delivery

NUMBER = "12345674"


@pytest.fixture(scope="module")
def categories():
    return load_categories(Path(__file__).resolve().parents[3] / "taxonomy.yml")


def delivery(topic: str, recipient_kind: str = "handler", **payload) -> Delivery:
    return Delivery(
        id=1, topic=topic, recipient_kind=recipient_kind, recipient_ref="3", channel="telegram",
        order_number=NUMBER, payload={"chat_id": "700", **payload}, dedupe_key=f"{NUMBER}:1:x",
    )


def buttons(markup: InlineKeyboardMarkup | None) -> list[tuple[str, str]]:
    assert isinstance(markup, InlineKeyboardMarkup)
    return [(b.text, b.callback_data) for row in markup.inline_keyboard for b in row]


# ----------------------------------------------------------------- callback data


@pytest.mark.parametrize("action", tickets.ACTIONS)
def test_callback_data_round_trips(action):
    data = tickets.format_callback(action, NUMBER)
    assert data == f"t:{action}:{NUMBER}"
    assert tickets.parse_callback(data) == tickets.TicketAction(action, NUMBER)


@pytest.mark.parametrize("data", [
    None, "", "t:acc", "t:acc:", "t:xyz:12345674", "t:acc:1234567", "t:acc:123456789",
    "t:acc:12345674:extra", "x:acc:12345674", "t:ACC:12345674", " t:acc:12345674",
    "t:acc:１２３４５６７４", "t:acc:12345674\n",
])
def test_anything_else_is_refused(data):
    with pytest.raises(ValueError):
        tickets.parse_callback(data)
    assert not tickets.is_ticket_callback(data)


def test_a_category_choice_round_trips_and_nothing_like_it_passes():
    data = tickets.format_choice(NUMBER, "request.consult")
    assert data == f"t:to:{NUMBER}:request.consult" and tickets.is_ticket_callback(data)
    assert tickets.parse_callback(data) == tickets.TicketAction("to", NUMBER, "request.consult")
    for bad in (f"t:to:{NUMBER}", f"t:to:{NUMBER}:", f"t:to:{NUMBER}:Request.consult",
                f"t:to:{NUMBER}:consult", "t:to:1234567:request.consult",
                f"t:to:{NUMBER}:request.consult:x", f"t:acc:{NUMBER}:request.consult"):
        assert not tickets.is_ticket_callback(bad), bad
        with pytest.raises(ValueError):
            tickets.parse_callback(bad)
    with pytest.raises(ValueError):
        tickets.format_choice(NUMBER, "no code")


def test_the_category_keyboard_offers_every_other_category_then_back(categories):
    markup = tickets.category_keyboard(categories, NUMBER, "request.complaint")
    *rows, back = markup.inline_keyboard
    assert all(len(row) <= 2 for row in rows)
    offered = [b.callback_data for row in rows for b in row]
    assert offered == [f"t:to:{NUMBER}:{c.code}" for c in categories
                       if c.code != "request.complaint"]
    assert rows[0][0].text == "邻里纠纷" and all(len(d.encode()) <= 64 for d in offered)
    assert [(b.text, b.callback_data) for b in back] == [("返回", f"t:bck:{NUMBER}")]


def test_the_channel_reads_the_categories_as_the_service_does(categories):
    from integrations.workorders.adapters.taxonomy_file import load_taxonomy

    service = load_taxonomy(Path(__file__).resolve().parents[3] / "taxonomy.yml")
    expected = [(c.code, c.name, c.kind) for kind in service.kinds
                for c in service.categories.values() if c.kind == kind]
    assert [(c.code, c.name, c.kind) for c in categories] == expected


@pytest.mark.parametrize("document", [
    None, [], {"kinds": {"dispute": {}}}, {"categories": {"dispute.x": {"name": "某类"}}},
    {"kinds": {"dispute": {}}, "categories": {"dispute.x": {}}},
    {"kinds": {"dispute": {}}, "categories": {"other.x": {"name": "某类"}}},
])
def test_a_malformed_taxonomy_is_refused(document):
    from integrations.telegram.categories import parse_categories

    with pytest.raises(ValueError):
        parse_categories(document)


def test_format_refuses_unknown_actions_and_numbers():
    with pytest.raises(ValueError):
        tickets.format_callback("close", NUMBER)
    with pytest.raises(ValueError):
        tickets.format_callback("acc", "12:34")


# ----------------------------------------------------------------------- keyboards


def test_keyboards_follow_the_status():
    reclassify = ("转类", f"t:rcl:{NUMBER}")
    assert buttons(tickets.keyboard_for("assigned", NUMBER)) == [
        ("接单", f"t:acc:{NUMBER}"), ("拒单", f"t:dec:{NUMBER}"), reclassify]
    assert buttons(tickets.keyboard_for("accepted", NUMBER)) == [
        ("处理中", f"t:prg:{NUMBER}"), ("已办结", f"t:res:{NUMBER}"), reclassify]
    # progress notes may be repeated (in_progress -> in_progress), so 处理中 stays
    assert buttons(tickets.keyboard_for("in_progress", NUMBER)) == [
        ("处理中", f"t:prg:{NUMBER}"), ("已办结", f"t:res:{NUMBER}"), reclassify]
    rows = tickets.keyboard_for("assigned", NUMBER).inline_keyboard
    assert [len(row) for row in rows] == [2, 1]  # 转类 on a row of its own
    for status in ("pending", "resolved", "closed", "cancelled", "archived"):
        assert tickets.keyboard_for(status, NUMBER) is None


def test_the_lifecycle_allows_what_the_keyboards_offer():
    from integrations.workorders.domain.lifecycle import Action, Status, allowed_actions

    offered = {tickets.ACCEPT: Action.ACCEPT, tickets.DECLINE: Action.DECLINE,
               tickets.PROGRESS: Action.PROGRESS, tickets.RESOLVE: Action.RESOLVE,
               tickets.RECLASSIFY: Action.RECLASSIFY}
    for status in ("assigned", "accepted", "in_progress"):
        for _, data in buttons(tickets.keyboard_for(status, NUMBER)):
            assert offered[tickets.parse_callback(data).action] in allowed_actions(Status(status))


# -------------------------------------------------------------------------- texts

ORDER = {
    "number": NUMBER, "category": "dispute.neighbor", "category_name": "邻里纠纷",
    "priority": "urgent", "location_text": "幸福里小区3号楼", "status": "assigned",
    "accept_by": "2025-03-03T01:30:00+00:00", "resolve_by": "2025-03-05T01:00:00Z",
    "description": "楼上装修噪音很大", "reporter_ref": None, "has_contact": True,
}


def test_a_ticket_shows_the_essentials_and_the_deadline_that_matters():
    text = tickets.ticket_text(ORDER)
    assert text.splitlines() == [
        f"【紧急】工单 {NUMBER}", "类别：邻里纠纷", "地点：幸福里小区3号楼",
        "签收时限：3月3日09:30", "状态：待签收",
    ]
    accepted = tickets.ticket_text({**ORDER, "status": "accepted", "priority": "normal"})
    assert accepted.splitlines() == [
        f"工单 {NUMBER}", "类别：邻里纠纷", "地点：幸福里小区3号楼",
        "办结时限：3月5日09:00", "状态：已签收",
    ]


def test_order_summary_pairs_the_ticket_with_its_buttons():
    text, markup = tickets.order_summary({**ORDER, "status": "in_progress"})
    assert "状态：处理中" in text
    assert [label for label, _ in buttons(markup)] == ["处理中", "已办结", "转类"]


def test_an_assigned_order_becomes_a_ticket_with_accept_and_decline():
    text, markup = tickets.render_delivery(delivery(
        "order.assigned", text="【紧急】新工单 ...", number=NUMBER, category="dispute.neighbor",
        category_name="邻里纠纷", location="幸福里小区3号楼", priority="urgent",
        accept_by="2025-03-03T01:30:00+00:00", tier="grid",
    ))
    assert text.splitlines()[:4] == [
        f"【紧急】新工单 {NUMBER}", "类别：邻里纠纷", "地点：幸福里小区3号楼", "请在3月3日09:30前签收。"]
    assert buttons(markup) == [("接单", f"t:acc:{NUMBER}"), ("拒单", f"t:dec:{NUMBER}"),
                               ("转类", f"t:rcl:{NUMBER}")]


@pytest.mark.parametrize("deadline, labels", [
    ("accept", ["接单", "拒单"]), ("resolve", ["处理中", "已办结"]),
])
def test_reminders_carry_the_buttons_of_their_deadline(deadline, labels):
    text, markup = tickets.render_delivery(delivery(
        "order.reminder", text=f"工单 {NUMBER} 快到时限了，请尽快处理。", number=NUMBER,
        deadline=deadline))
    assert text == f"工单 {NUMBER} 快到时限了，请尽快处理。"
    assert [label for label, _ in buttons(markup)] == labels


def test_the_follow_up_question_offers_the_three_answers_once():
    text, markup = tickets.render_delivery(delivery(
        "order.status", "resident", text="您反映的工单已办结。请问您对处理结果是否满意？",
        number=NUMBER, event="resolved", ask_satisfaction=True,
        options=[{"code": "satisfied", "label": "满意"},
                 {"code": "basically_satisfied", "label": "基本满意"},
                 {"code": "unsatisfied", "label": "不满意"}],
    ))
    assert text.startswith("您反映的工单已办结")
    assert isinstance(markup, ReplyKeyboardMarkup)
    assert [b.text for row in markup.keyboard for b in row] == ["满意", "基本满意", "不满意"]
    assert markup.one_time_keyboard and markup.resize_keyboard


@pytest.mark.parametrize("topic, kind", [
    ("order.status", "resident"), ("order.withdrawn", "handler"),
    ("order.report_added", "handler"), ("order.queued", "dispatcher"),
    ("order.escalated", "supervisor"), ("order.overdue", "supervisor"),
    ("callback.requested", "dispatcher"),
])
def test_other_topics_say_the_services_text_without_buttons(topic, kind):
    text, markup = tickets.render_delivery(delivery(topic, kind, text="工单 12345674 已改派他人。"))
    assert text == "工单 12345674 已改派他人。"
    assert markup is None


def test_nothing_to_say_is_an_error():
    with pytest.raises(ValueError):
        tickets.render_delivery(delivery("order.withdrawn"))


def test_tickets_never_show_the_reporter():
    contact = {"reporter_ref": "tg:5550001", "reporter_contact": "13812345678",
               "contact": "13812345678", "reporter_name": "王小明"}
    texts = [
        tickets.ticket_text({**ORDER, **contact}),
        tickets.render_delivery(delivery("order.assigned", number=NUMBER, location="3号楼",
                                         category_name="邻里纠纷", **contact))[0],
    ]
    for text in texts:
        for value in contact.values():
            assert value not in text
        assert "楼上装修噪音很大" not in text  # the description may name people
