"""The dispatcher's inbox (待办): an order enters each section, and leaves when handled."""

from __future__ import annotations

from datetime import timedelta

import pytest

from integrations.workorders.service import (
    SECTIONS,
    CallbackCreate,
    TranscriptLine,
    accept,
    answer_satisfaction,
    mark_callback_done,
    reassign,
    reclassify,
    request_callback,
    resolve,
    run_time_limits,
    set_fallback_area,
    worklist,
    worklist_version,
)


def inbox(world, areas=None, **kw):
    return worklist(world.uow(), areas, world.clock, **kw)


def keys(world, section, areas=None):
    return [i.key for i in inbox(world, areas).section(section)]


def test_pending_orders_wait_until_someone_takes_them(any_world):
    w = any_world
    order = w.order()  # nobody can take it
    w.tick(minutes=30)
    (item,) = inbox(w).section("pending")
    assert (item.key, item.order_number, item.callback_id) == (order.number, order.number, None)
    assert item.title == "邻里纠纷 · 幸福里小区3号楼"
    assert item.entered_at == order.created_at and item.age == timedelta(minutes=30)
    assert (item.status, item.priority, item.area_code) == ("pending", "normal", "grid:qy-dz-01")
    assert item.section_label == "待派单"
    assert keys(w, "pending", ["township:qy-xz"]) == []  # another township's dispatcher

    w.handler()  # a new handler takes the queue
    assert w.row(order.number).status == "assigned"
    assert keys(w, "pending") == []


def test_urgent_orders_stay_until_accepted(any_world):
    w = any_world
    h = w.handler()
    urgent = w.order(priority="urgent")
    w.order()  # a normal one: not in the section
    assert keys(w, "urgent") == [urgent.number]
    assert keys(w, "pending") == []
    accept(w.uow(), urgent.number, h, w.tick(minutes=5))
    assert keys(w, "urgent") == []


def test_unplaced_reports_in_the_fallback_grid_wait_for_triage(world):
    w = world
    w.handler(areas=["grid:qy-dz-02"])
    set_fallback_area(w.uow(), "grid:qy-dz-02")
    unplaced = w.order(area_code="grid:qy-dz-02", location_text="不知道在哪个小区")
    w.order(area_code="grid:qy-dz-02", location_text="东镇和平街网格5号楼")  # names the grid
    w.order()  # another grid
    (item,) = inbox(w).section("triage")
    assert (item.key, item.status, item.section_label) == (unplaced.number, "assigned", "待分拣")
    assert keys(w, "triage", ["township:qy-xz"]) == []

    reclassify(w.uow(), unplaced.number, "dispute.property", "staff:d-east", w.tick(minutes=3))
    assert keys(w, "triage") == []


def test_escalations_by_the_sweeper_stay_until_accepted(any_world):
    w = any_world
    w.handler()
    t = w.handler("赵主任", tier="township")
    order = w.order()
    assert keys(w, "escalated") == []
    run_time_limits(w.uow, w.tick(minutes=121))  # not accepted in time: up to the township
    (item,) = inbox(w).section("escalated")
    assert item.key == order.number and item.entered_at == w.clock
    accept(w.uow(), order.number, t, w.tick(minutes=5))
    assert keys(w, "escalated") == []


def test_overdue_orders_stay_until_resolved(any_world):
    w = any_world
    c = w.handler("县调解中心", tier="county")  # the top tier: nowhere to escalate
    order = w.order()
    accept(w.uow(), order.number, c, w.tick(minutes=5))
    w.tick(hours=168)
    assert keys(w, "overdue") == [order.number]
    (item,) = inbox(w).section("overdue")
    assert item.entered_at == order.resolve_by and item.age == timedelta(minutes=5)
    resolve(w.uow(), order.number, c, "已调解", w.tick(minutes=1))
    assert keys(w, "overdue") == []


def test_assigned_orders_past_their_accept_limit_are_overdue(world):
    h = world.handler()
    order = world.order()
    world.tick(minutes=121)  # before the sweeper takes it back
    (item,) = inbox(world).section("overdue")
    assert (item.key, item.entered_at) == (order.number, order.accept_by)
    accept(world.uow(), order.number, h, world.tick(minutes=1))
    assert keys(world, "overdue") == []


def test_open_callback_requests_stay_until_done(any_world):
    w = any_world
    request, _ = request_callback(w.uow(), CallbackCreate(
        reporter_ref="voice:13800000000", reason="asked",
        transcript=[TranscriptLine("resident", "我要找人工")]), w.clock)
    (item,) = inbox(w, ["township:qy-xz"]).section("callbacks")  # no area: everyone's
    assert (item.key, item.callback_id, item.order_number) == (
        f"callback:{request.id}", request.id, None)
    assert item.title == "居民请求人工服务（电话）"
    assert "13800000000" not in repr(item)
    mark_callback_done(w.uow(), request.id, "staff:d-east", "已回电", w.tick(minutes=2))
    assert keys(w, "callbacks") == []


def test_dissatisfied_answers_stay_until_staff_act_or_it_is_resolved_again(any_world):
    w = any_world
    h = w.handler(capacity=10)
    other = w.handler("李调解")
    order = w.order()
    accept(w.uow(), order.number, h, w.tick(minutes=5))
    resolve(w.uow(), order.number, h, "已调解", w.tick(hours=1))
    assert keys(w, "dissatisfied") == []
    answer_satisfaction(w.uow(), order.number, order.reporter_ref, "unsatisfied", "还是很吵",
                        w.tick(hours=2))
    (item,) = inbox(w).section("dissatisfied")
    assert (item.key, item.entered_at, item.section_label) == (order.number, w.clock, "不满意")

    row = w.row(order.number)
    assert row.status == "assigned"
    # a dispatcher moves it to someone else: handled
    reassign(w.uow(), order.number, h if row.assignee_id == other else other, "staff:d-east",
             w.tick(minutes=1))
    assert keys(w, "dissatisfied") == []


def test_dissatisfied_leaves_when_resolved_again(world):
    h = world.handler(capacity=10)
    order = world.order()
    accept(world.uow(), order.number, h, world.tick(minutes=5))
    resolve(world.uow(), order.number, h, "已调解", world.tick(hours=1))
    answer_satisfaction(world.uow(), order.number, order.reporter_ref, "unsatisfied", None,
                        world.tick(hours=2))
    row = world.row(order.number)
    assert keys(world, "dissatisfied") == [order.number]
    assert row.assignee_id is not None
    accept(world.uow(), order.number, row.assignee_id, world.tick(minutes=5))
    assert keys(world, "dissatisfied") == [order.number]  # still nobody reviewed it
    resolve(world.uow(), order.number, row.assignee_id, "再次调解", world.tick(hours=1))
    assert keys(world, "dissatisfied") == []


def test_newest_first_across_sections_with_counts_limits_and_version(world):
    first = world.order()
    world.tick(minutes=10)
    second = world.order(priority="urgent")  # pending and urgent
    request, _ = request_callback(world.uow(), CallbackCreate(
        reporter_ref="tg:5", reason="not_understood"), world.tick(minutes=10))
    got = inbox(world)
    assert [(i.section, i.key) for i in got.items] == [
        ("callbacks", f"callback:{request.id}"),
        ("pending", second.number), ("urgent", second.number),  # the same moment
        ("pending", first.number),
    ]
    assert got.counts == {**dict.fromkeys(SECTIONS, 0), "pending": 2, "urgent": 1,
                          "callbacks": 1}
    assert got.newest_at == world.clock and got.truncated == frozenset()
    assert got.total == 4

    cut = inbox(world, limit_per_section=1)
    assert cut.section("pending") == [got.section("pending")[0]]
    assert cut.truncated == frozenset({"pending"})

    version = worklist_version(world.uow())
    assert got.version == version and worklist_version(world.uow()) == version  # stable
    world.handler()
    reassign(world.uow(), first.number, None, "staff:d-east", world.tick(minutes=1))
    assert worklist_version(world.uow()) != version


def test_an_empty_inbox(world):
    got = inbox(world)
    assert got.items == [] and got.newest_at is None and set(got.counts) == set(SECTIONS)


def test_now_must_be_aware(world):
    with pytest.raises(ValueError):
        worklist(world.uow(), None, world.clock.replace(tzinfo=None))


def test_sections_read_in_batches_still_give_the_newest(world, monkeypatch):
    import sys

    module = sys.modules["integrations.workorders.service.worklist"]
    monkeypatch.setattr(module, "BATCH", 2)
    orders = []
    for _ in range(7):
        orders.append(world.order())  # nobody can take them: pending
        world.tick(minutes=10)
    # the oldest changes last (a co-report, an attachment ...): its last change is
    # newest, yet it entered the section first
    from integrations.workorders.service import attach_report_to
    attach_report_to(world.uow(), orders[0].number, orders[0].reporter_ref, "还在吵", world.clock)
    got = inbox(world, limit_per_section=3)
    assert [i.key for i in got.section("pending")] == [o.number for o in orders[::-1][:3]]
    assert got.truncated == frozenset({"pending"})
    everything = inbox(world, limit_per_section=50)
    assert [i.key for i in everything.section("pending")] == [o.number for o in orders[::-1]]
