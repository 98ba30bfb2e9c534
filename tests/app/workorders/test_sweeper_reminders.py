"""Reminders (催办): two thirds into the accept window, 80 % into the resolve window, once
per deadline, and again for the next holder of the order. The clock is the world's."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from integrations.workorders.adapters.orm import WorkOrder
from integrations.workorders.service import (
    accept,
    answer_satisfaction,
    decline,
    resolve,
    run_time_limits,
    verify_audit,
)

T0 = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)  # the world's start (conftest.T0)


def sweep(world, **delta):
    return run_time_limits(world.uow, world.tick(**delta))


def reminders(world, number):
    return world.outbox(number, topic="order.reminder")


def test_the_assignee_is_reminded_once_two_thirds_into_the_accept_window(any_world):
    w = any_world
    g = w.handler(telegram_chat_id="700")
    order = w.order()
    assert (order.assignee_id, order.accept_by) == (g, T0 + timedelta(minutes=120))

    report = sweep(w, minutes=79)
    assert report.reminders == [] and reminders(w, order.number) == []
    report = sweep(w, minutes=1)  # 80 of 120 minutes used
    assert report.reminders == [order.number]
    assert report.total == 0  # a reminder is no time limit passing

    (message,) = reminders(w, order.number)
    assert (message.recipient_kind, message.recipient_ref, message.channel) == (
        "handler", str(g), "telegram")
    assert message.payload["text"] == (
        f"【催办】工单 {order.number}（邻里纠纷，幸福里小区3号楼）请在11:00前签收。")
    due = (T0 + timedelta(minutes=120)).isoformat()
    assert message.payload | {"text": None} == {
        "text": None, "number": order.number, "category": "dispute.neighbor",
        "category_name": "邻里纠纷", "location": "幸福里小区3号楼", "priority": "normal",
        "accept_by": due, "resolve_by": (T0 + timedelta(hours=168)).isoformat(),
        "tier": "grid", "deadline": "accept", "due": due, "chat_id": "700",
    }
    assert message.dedupe_key == f"reminder:{order.number}:accept:{due}"
    row = w.row(order.number)
    assert (row.accept_reminded_at, row.resolve_reminded_at) == (w.clock, None)
    assert w.actions(order.number) == ["create", "dispatch"]  # no audit event for a reminder

    assert sweep(w, minutes=30).reminders == []  # once
    assert len(reminders(w, order.number)) == 1
    assert verify_audit(w.uow()) == []


def test_an_urgent_order_is_reminded_after_ten_of_fifteen_minutes(world):
    world.handler(telegram_chat_id="700")
    order = world.order(priority="urgent")
    assert sweep(world, minutes=9).reminders == []
    assert sweep(world, minutes=1).reminders == [order.number]
    (message,) = reminders(world, order.number)
    assert message.payload["text"] == (
        f"【催办】工单 {order.number}（邻里纠纷，幸福里小区3号楼）请在09:15前签收。")


def test_the_next_holder_is_reminded_too_after_a_timeout_or_a_decline(any_world):
    w = any_world
    g = w.handler(telegram_chat_id="700")
    t = w.handler("赵主任", tier="township")
    t2 = w.handler("钱主任", tier="township")
    order = w.order()
    sweep(w, minutes=80)
    sweep(w, minutes=41)  # accept timeout: taken back, the township's t gets it
    row = w.row(order.number)
    assert (row.assignee_id, row.accept_reminded_at) == (t, None)

    assert sweep(w, minutes=79).reminders == []
    assert sweep(w, minutes=1).reminders == [order.number]
    to_t = [m for m in reminders(w, order.number) if m.recipient_ref == str(t)]
    assert [m.channel for m in to_t] == ["log"]  # no chat: the log
    assert to_t[0].payload["due"] == (T0 + timedelta(minutes=241)).isoformat()
    assert to_t[0].payload["text"].endswith("请在13:01前签收。")

    decline(w.uow(), order.number, t, "不在辖区", w.tick(minutes=1))
    assert w.row(order.number).assignee_id == t2
    sweep(w, minutes=80)
    assert [m.recipient_ref for m in reminders(w, order.number)] == [str(g), str(t), str(t2)]
    assert verify_audit(w.uow()) == []


def test_the_resolve_reminder_comes_at_80_percent_and_again_after_escalation(any_world):
    w = any_world
    g = w.handler(telegram_chat_id="700")
    t = w.handler("赵主任", tier="township", telegram_chat_id="800")
    order = w.order()
    accept(w.uow(), order.number, g, w.tick(minutes=5))

    # 80 % of 168 h is 134 h 24 min after creation
    assert sweep(w, hours=134, minutes=18).reminders == []
    assert sweep(w, minutes=1).reminders == [order.number]
    (message,) = reminders(w, order.number)
    assert message.payload["text"] == (
        f"【催办】工单 {order.number}（邻里纠纷，幸福里小区3号楼）将于3月10日09:00到期，请抓紧办结。")
    due = (T0 + timedelta(hours=168)).isoformat()
    assert (message.recipient_ref, message.payload["deadline"], message.payload["due"]) == (
        str(g), "resolve", due)
    assert message.dedupe_key == f"reminder:{order.number}:resolve:{due}"
    assert w.row(order.number).resolve_reminded_at == w.clock
    assert sweep(w, hours=1).reminders == []

    report = sweep(w, hours=33, minutes=36)  # past T0 + 168 h: escalated to the township
    assert report.escalated == [order.number]
    row = w.row(order.number)
    assert (row.assignee_id, row.resolve_reminded_at, row.accept_reminded_at) == (t, None, None)
    accept(w.uow(), order.number, t, w.tick(minutes=1))
    assert sweep(w, hours=134).reminders == []
    assert sweep(w, minutes=24).reminders == [order.number]
    latest = reminders(w, order.number)[-1]
    assert (latest.recipient_ref, latest.payload["chat_id"], latest.payload["deadline"]) == (
        str(t), "800", "resolve")
    assert verify_audit(w.uow()) == []


def test_a_reopened_order_gets_a_fresh_resolve_reminder(world):
    g = world.handler(telegram_chat_id="700")
    order = world.order()
    accept(world.uow(), order.number, g, world.tick(minutes=5))
    sweep(world, hours=135)
    assert world.row(order.number).resolve_reminded_at is not None
    resolve(world.uow(), order.number, g, "已协调", world.tick(minutes=1))
    answer_satisfaction(world.uow(), order.number, order.reporter_ref, "unsatisfied", "还在吵",
                        world.tick(minutes=1))
    row = world.row(order.number)
    assert (row.status, row.assignee_id, row.resolve_reminded_at) == ("assigned", g, None)
    accept(world.uow(), order.number, g, world.tick(minutes=1))
    sweep(world, hours=134, minutes=25)
    resolve_reminders = [m for m in reminders(world, order.number)
                         if m.payload["deadline"] == "resolve"]
    assert len(resolve_reminders) == 2
    assert resolve_reminders[0].payload["due"] != resolve_reminders[1].payload["due"]


def test_two_sweepers_at_once_remind_once(any_world):
    w = any_world
    w.handler(telegram_chat_id="700")
    numbers = [w.order(location_text=f"幸福里{i}号楼").number for i in range(4)]
    now = w.tick(minutes=90)
    barrier = threading.Barrier(2)
    reports = []

    def run():
        barrier.wait()
        reports.append(run_time_limits(w.uow, now))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(n for r in reports for n in r.reminders) == sorted(numbers)
    assert [r.failed for r in reports] == [[], []]
    for number in numbers:
        assert len(reminders(w, number)) == 1
    with w.db.session() as s:
        assert set(s.scalars(select(WorkOrder.accept_reminded_at))) == {now}
