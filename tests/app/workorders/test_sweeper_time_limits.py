"""Time limits: accept timeouts, overdue escalation, unanswered follow-ups, archiving."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from integrations.workorders.adapters.orm import OrderDecline
from integrations.workorders.service import (
    accept,
    handler_load,
    resolve,
    run_time_limits,
    verify_audit,
)


def sweep(world, **delta):
    return run_time_limits(world.uow, world.tick(**delta))


def test_accept_timeout_moves_the_order_one_tier_up(any_world):
    w = any_world
    g = w.handler()
    t = w.handler("赵主任", tier="township")
    order = w.order()
    assert order.assignee_id == g

    assert sweep(w, minutes=119).total == 0  # not yet
    report = sweep(w, minutes=2)
    assert report.accept_timeouts == [order.number]
    row = w.row(order.number)
    assert (row.status, row.assignee_id, row.tier) == ("assigned", t, "township")
    assert row.accept_by == w.clock + timedelta(minutes=120)  # a fresh limit for t
    events = w.events(order.number)
    assert [(e.action, e.actor, e.to_status) for e in events[2:]] == [
        ("accept_timeout", "system", "pending"), ("dispatch", "system", "assigned")]
    assert w.count(OrderDecline) == 1
    withdrawn = w.outbox(order.number, recipient_ref=str(g))[-1]
    assert withdrawn.payload["text"] == f"工单 {order.number} 超时未签收，已收回另行派单。"
    assert w.outbox(order.number, recipient_ref=str(t))[-1].topic == "order.assigned"
    assert [m for m in w.outbox(order.number) if m.recipient_kind == "resident"] == []

    assert sweep(w, minutes=1).total == 0  # handled once
    assert verify_audit(w.uow()) == []


def test_accept_timeout_at_the_top_with_nobody_left_queues(world):
    c = world.handler("县调解中心", tier="county")
    order = world.order()
    assert (order.assignee_id, order.tier) == (c, "county")
    sweep(world, minutes=121)
    row = world.row(order.number)
    assert (row.status, row.tier, row.assignee_id) == ("pending", "county", None)
    (queued,) = world.outbox(order.number, recipient_kind="dispatcher")
    assert queued.dedupe_key == f"{order.number}:3:dispatcher:grid:qy-dz-01"


def test_overdue_resolution_escalates_and_tells_the_supervisor(any_world):
    w = any_world
    g = w.handler()
    t = w.handler("赵主任", tier="township")
    boss = w.handler("镇长", tier="township", capacity=0, is_supervisor=True,
                     telegram_chat_id="900")
    w.handler("西镇督办", tier="township", capacity=0, is_supervisor=True,
              areas=["township:qy-xz"])  # another township: not told
    order = w.order(reporter_ref="tg:66")
    accept(w.uow(), order.number, g, w.tick(minutes=5))
    assert handler_load(w.uow(), g) == 1

    assert sweep(w, hours=167).total == 0
    report = sweep(w, hours=1)
    assert report.escalated == [order.number]
    row = w.row(order.number)
    assert (row.status, row.tier, row.assignee_id, row.breached) == ("assigned", "township", t, True)
    assert row.resolve_by == w.clock + timedelta(hours=168)
    assert handler_load(w.uow(), g) == 0
    events = w.events(order.number)
    escalate = events[-2]
    assert (escalate.action, escalate.from_status, escalate.to_status) == (
        "escalate", "accepted", "pending")
    assert escalate.note == f"tier:grid->township handler:{g}"

    (to_boss,) = w.outbox(order.number, recipient_kind="supervisor")
    assert (to_boss.recipient_ref, to_boss.channel, to_boss.topic) == (
        str(boss), "telegram", "order.escalated")
    assert to_boss.dedupe_key == f"{order.number}:{escalate.seq}:supervisor:{boss}"
    assert to_boss.payload["text"] == (
        f"工单 {order.number}（邻里纠纷，幸福里小区3号楼）已超过办结时限，升级至乡镇（街道）处理，请督办。")
    resident = [m for m in w.outbox(order.number) if m.recipient_kind == "resident"][-1]
    assert resident.payload["event"] == "escalated"
    assert resident.payload["text"] == f"您反映的工单 {order.number} 已提交上级部门协调处理，请您耐心等待。"
    assert sweep(w, minutes=1).total == 0
    assert verify_audit(w.uow()) == []


def test_overdue_at_the_top_tier_is_marked_once(world):
    c = world.handler("县调解中心", tier="county")
    order = world.order()
    accept(world.uow(), order.number, c, world.tick(minutes=5))
    report = sweep(world, hours=169)
    assert report.overdue == [order.number] and report.escalated == []
    row = world.row(order.number)
    assert (row.status, row.assignee_id, row.breached) == ("accepted", c, True)
    assert world.actions(order.number)[-1] == "overdue"
    (note,) = world.outbox(order.number, recipient_kind="supervisor")
    assert (note.recipient_ref, note.channel, note.topic) == ("county:qy", "log", "order.overdue")
    assert sweep(world, hours=24).total == 0  # no loop
    assert len(world.outbox(order.number, recipient_kind="supervisor")) == 1


def test_a_pending_order_past_its_deadline_is_flagged_to_the_top_tier_once(any_world):
    world = any_world
    order = world.order()  # nobody registered: it waits as pending
    assert world.row(order.number).status == "pending"
    assert sweep(world, hours=167).overdue == []
    report = sweep(world, hours=2)
    assert report.overdue == [order.number]
    row = world.row(order.number)
    assert (row.status, row.breached) == ("pending", True)
    assert world.actions(order.number)[-1] == "overdue"
    (note,) = world.outbox(order.number, recipient_kind="supervisor")
    assert (note.recipient_ref, note.topic) == ("county:qy", "order.overdue")
    assert sweep(world, hours=24).overdue == []  # once
    assert len(world.outbox(order.number, recipient_kind="supervisor")) == 1
    assert verify_audit(world.uow()) == []

    # a handler appears: the order is dispatched with a fresh time limit, not escalated at once
    h = world.handler("新来的调解员")
    sweep(world, minutes=1)  # the queue is drained at once or by the sweep
    row = world.row(order.number)
    assert (row.status, row.assignee_id, row.breached) == ("assigned", h, True)
    assert row.resolve_by > world.clock + timedelta(hours=167)
    accept(world.uow(), order.number, h, world.tick(minutes=5))
    assert sweep(world, hours=1).escalated == []


def test_unanswered_follow_up_closes_after_the_window(world):
    h = world.handler()
    order = world.order(reporter_ref="tg:5")
    accept(world.uow(), order.number, h, world.tick(minutes=5))
    resolve(world.uow(), order.number, h, None, world.tick(hours=2))
    assert sweep(world, hours=71).total == 0
    report = sweep(world, hours=2)
    assert report.closed_no_answer == [order.number]
    row = world.row(order.number)
    assert (row.status, row.closed_at, row.satisfaction) == ("closed", world.clock, None)
    assert world.actions(order.number)[-1] == "no_answer"
    last = world.outbox(order.number, recipient_kind="resident")[-1]
    assert last.payload["text"] == f"您反映的工单 {order.number} 已结案。如问题仍未解决，欢迎再次反映。"


def test_follow_up_window_comes_from_the_config(world, sqlite_db, config):
    sqlite_db.config = replace(config, follow_up=timedelta(hours=1))
    h = world.handler()
    order = world.order()
    accept(world.uow(), order.number, h, world.clock)
    resolve(world.uow(), order.number, h, None, world.clock)
    assert sweep(world, hours=2).closed_no_answer == [order.number]


def test_closed_orders_are_archived_after_30_days(world):
    h = world.handler()
    order = world.order()
    accept(world.uow(), order.number, h, world.clock)
    resolve(world.uow(), order.number, h, None, world.clock)
    sweep(world, hours=73)
    assert sweep(world, days=29).archived == []
    assert sweep(world, days=1, minutes=1).archived == [order.number]
    assert world.row(order.number).status == "archived"
