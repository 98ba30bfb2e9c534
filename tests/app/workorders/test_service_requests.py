"""Requests (其他诉求): dispatched to community staff like any order; the resolve note is the answer."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from integrations.shared.identity import CALLER_CONTEXT, caller_ref
from integrations.workorders.notifier import Delivery
from integrations.workorders.notifier.voice import VoiceSender
from integrations.workorders.service import (
    InvalidInput,
    accept,
    answer_satisfaction,
    get_order,
    metrics,
    progress,
    resident_view,
    resolve,
    verify_audit,
)

REQUESTS = ["request.consult", "request.suggest", "request.complaint"]
QUESTION = "我家老人的养老金认证在哪里办？需要带什么材料？"
ANSWER = "养老金资格认证可在社区服务中心办理，请带身份证和社保卡，工作日上午九点到十一点半。"
SATISFACTION = "请问您对答复是否满意？请回复“满意”“基本满意”或“不满意”。"


def staff(world, name="陈干事", **kw):
    data = dict(role="staff", skills=REQUESTS)
    data.update(kw)
    return world.handler(name, **data)


def ask(world, **kw):
    data = dict(category="request.consult", description=QUESTION, location_text="幸福里小区5号楼")
    data.update(kw)
    return world.order(**data)


def resident_messages(world, number):
    return [m for m in world.outbox(number) if m.recipient_kind == "resident"]


def test_a_request_goes_to_the_community_staff_member_with_most_room(any_world):
    w = any_world
    w.handler("王调解")  # a mediator and a grid worker in the same grid: not for requests
    w.handler("张网格", role="grid_worker", skills=["incident.facility"])
    busy, free = staff(w, "陈干事", capacity=2), staff(w, "刘干事", capacity=4)
    first = ask(w)
    assert first.kind == "request" and first.assignee_id == busy  # tie: lower id
    second = ask(w, category="request.complaint", description="小区门口的药店乱收费。")
    third = ask(w, category="request.suggest", description="建议公交站加个遮雨棚。")
    assert (second.assignee_id, third.assignee_id) == (free, free)  # 1/2 > 0/4, then 1/4 < 1/2
    row = w.row(first.number)
    assert (row.kind, row.category, row.status, row.tier) == (
        "request", "request.consult", "assigned", "grid")
    assert row.resolve_by == w.clock + timedelta(hours=72)
    (ticket,) = w.outbox(first.number, recipient_kind="handler")
    assert ticket.recipient_ref == str(busy)
    assert ticket.payload["text"].startswith(f"新工单 {first.number}：政策咨询，幸福里小区5号楼")


def test_a_request_nobody_at_the_grid_can_take_goes_up_then_waits(any_world):
    w = any_world
    town = staff(w, "镇干事", tier="township", areas=["township:qy-dz"], capacity=1)
    up = ask(w)
    assert (up.assignee_id, up.tier) == (town, "township")
    assert resident_view(w.uow(), up).handler_role == "乡镇（街道）工作人员"
    waiting = ask(w, category="request.complaint", description="小区门口的药店乱收费。")
    assert (waiting.status, waiting.assignee_id) == ("pending", None)
    assert w.actions(waiting.number) == ["create", "queue"]


def test_the_resolve_note_reaches_the_resident_as_the_answer(any_world):
    w = any_world
    clerk = staff(w)
    order = ask(w, reporter_ref="tg:7001")
    accept(w.uow(), order.number, clerk, w.tick(minutes=20))
    progress(w.uow(), order.number, clerk, "已向社保所核实。", w.tick(minutes=20))
    view = resolve(w.uow(), order.number, clerk, f"  {ANSWER}  ", w.tick(hours=1))
    assert view.status == "resolved"

    told = resident_messages(w, order.number)
    assert [m.payload["event"] for m in told] == ["accepted", "in_progress", "resolved"]
    answered = told[-1]
    assert answered.payload["text"] == (
        f"您咨询的问题（工单 {order.number}）已有答复：{ANSWER}{SATISFACTION}")
    assert answered.payload["answer"] == ANSWER
    assert answered.payload["ask_satisfaction"] is True
    assert (answered.channel, answered.payload["chat_id"]) == ("telegram", "7001")
    assert w.events(order.number)[-1].note == ANSWER

    resident = resident_view(w.uow(), get_order(w.uow(), order.number))
    assert (resident.kind, resident.handler_role, resident.latest_note) == (
        "request", "社区工作人员", ANSWER)
    closed = answer_satisfaction(w.uow(), order.number, "tg:7001", "satisfied", None,
                                 w.tick(hours=2))
    assert closed.status == "closed"
    assert verify_audit(w.uow()) == []


@pytest.mark.parametrize(("category", "subject", "note", "shown"), [
    ("request.suggest", "您提出的意见建议", "已转交县交通运输局，对方答复下月加装遮雨棚",
     "已转交县交通运输局，对方答复下月加装遮雨棚。"),
    ("request.complaint", "您的投诉举报", "已转市场监管所核查！", "已转市场监管所核查！"),
])
def test_each_request_category_names_what_was_answered(world, category, subject, note, shown):
    clerk = staff(world)
    order = ask(world, category=category, description="小区门口公交站没有遮雨棚。")
    accept(world.uow(), order.number, clerk, world.clock)
    resolve(world.uow(), order.number, clerk, note, world.tick(hours=1))
    text = resident_messages(world, order.number)[-1].payload["text"]
    assert text == f"{subject}（工单 {order.number}）已有答复：{shown}{SATISFACTION}"


def test_a_request_is_not_resolved_without_an_answer(world):
    clerk = staff(world)
    order = ask(world)
    accept(world.uow(), order.number, clerk, world.clock)
    for note in (None, "   "):
        with pytest.raises(InvalidInput) as info:
            resolve(world.uow(), order.number, clerk, note, world.tick(minutes=5))
        assert (info.value.field, info.value.reason_zh) == ("note", "请填写给居民的答复内容。")
    assert world.row(order.number).status == "accepted"
    assert world.actions(order.number) == ["create", "dispatch", "accept"]


def test_a_dispute_is_resolved_with_its_note_as_the_result(world):
    mediator = world.handler()
    order = world.order(reporter_ref="tg:7002")
    accept(world.uow(), order.number, mediator, world.clock)
    resolve(world.uow(), order.number, mediator, "双方已和解，签了调解协议", world.tick(hours=1))
    message = resident_messages(world, order.number)[-1]
    assert message.payload["text"] == (
        f"您反映的工单 {order.number} 已办结，处理结果：双方已和解，签了调解协议。"
        "请问您对处理结果是否满意？请回复“满意”“基本满意”或“不满意”。")
    assert "answer" not in message.payload  # not a request's answer


def test_without_a_note_the_resolved_notice_is_the_plain_one(world):
    mediator = world.handler()
    order = world.order(reporter_ref="tg:7003")
    accept(world.uow(), order.number, mediator, world.clock)
    resolve(world.uow(), order.number, mediator, None, world.tick(hours=1))
    message = resident_messages(world, order.number)[-1]
    assert message.payload["text"] == (
        f"您反映的工单 {order.number} 已办结。"
        "请问您对处理结果是否满意？请回复“满意”“基本满意”或“不满意”。")


def test_a_phone_caller_hears_the_answer_with_the_number_digit_by_digit(world, vault):
    clerk = staff(world)
    order = ask(world, reporter_ref=caller_ref(vault, "13800138000"),
                caller_token=vault.encrypt("13800138000", context=CALLER_CONTEXT))
    accept(world.uow(), order.number, clerk, world.clock)
    resolve(world.uow(), order.number, clerk, ANSWER, world.tick(hours=1))
    (row,) = [m for m in resident_messages(world, order.number)
              if m.payload["event"] == "resolved"]
    assert row.channel == "voice"

    async def gateway_body():
        async with httpx.AsyncClient() as client:
            sender = VoiceSender("http://127.0.0.1:9/sms", "secret", client, vault)
            return sender.body(Delivery.from_row(row), 1_700_000_000.0)

    body = asyncio.run(gateway_body())
    digits = " ".join("零幺二三四五六七八九"[int(d)] for d in order.number)
    assert body["phone"] == "13800138000"
    assert body["text"] == f"您咨询的问题（工单 {order.number}）已有答复：{ANSWER}{SATISFACTION}"
    assert body["spoken"] == f"您咨询的问题（工单 {digits}）已有答复：{ANSWER}{SATISFACTION}"


def test_requests_count_in_the_scorecard_like_any_order(any_world):
    w = any_world
    start = w.clock
    clerk, mediator = staff(w), w.handler()
    request = ask(w, reporter_ref="tg:1")
    dispute = w.order(reporter_ref="tg:2")
    accept(w.uow(), request.number, clerk, w.tick(minutes=30))
    resolve(w.uow(), request.number, clerk, ANSWER, w.tick(hours=2))
    answer_satisfaction(w.uow(), request.number, "tg:1", "basically_satisfied", None,
                        w.tick(hours=1))
    accept(w.uow(), dispute.number, mediator, w.tick(hours=3))  # late: 签收 after 120 min
    by_kind = {m.group: m for m in metrics(w.uow(), start, w.tick(minutes=1), "kind")}
    assert set(by_kind) == {"dispute", "request"}
    card = by_kind["request"]
    assert (card.created, card.resolved, card.resolved_on_time, card.answered) == (1, 1, 1, 1)
    assert (card.resolution_rate, card.on_time_rate, card.accept_timely_rate,
            card.satisfaction_rate) == (1.0, 1.0, 1.0, 1.0)
    assert (by_kind["dispute"].accepted, by_kind["dispute"].accept_timely_rate) == (1, 0.0)
    assert by_kind["dispute"].resolution_rate == 0.0
