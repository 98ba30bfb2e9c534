"""The pending queue: dispatched as soon as capacity frees, urgent first, oldest first."""

from __future__ import annotations

from integrations.workorders.service import (
    accept,
    cancel,
    decline,
    handler_load,
    resolve,
    set_capacity,
    set_duty,
)


def test_resolving_frees_capacity_for_the_oldest_urgent_order_first(any_world):
    w = any_world
    h = w.handler(capacity=3)
    first = w.order(priority="urgent")              # load 3: full
    normal = w.order(reporter_ref="tg:2")            # waits
    second = w.order(priority="urgent", reporter_ref="tg:3")  # over capacity, at once
    third = w.order(priority="urgent", reporter_ref="tg:4")   # h is over already: waits
    assert (first.status, normal.status, second.status, third.status) == \
        ("assigned", "pending", "assigned", "pending")
    assert handler_load(w.uow(), h) == 6

    accept(w.uow(), first.number, h, w.tick(minutes=5))
    resolve(w.uow(), first.number, h, None, w.tick(hours=1))
    # back to 3 of 3, not over: the waiting urgent order goes first, over capacity again
    assert w.row(third.number).status == "assigned"
    assert w.row(third.number).assignee_id == h
    assert w.row(normal.number).status == "pending"  # 3 + 1 > 3
    assert handler_load(w.uow(), h) == 6
    assert w.actions(third.number) == ["create", "queue", "dispatch"]
    # the queue retry did not repeat the dispatcher message
    assert len(w.outbox(normal.number, recipient_kind="dispatcher")) == 1


def test_duty_and_capacity_changes_drain_the_queue(world):
    h = world.handler(capacity=1, on_duty=False)
    a = world.order()
    b = world.order(reporter_ref="tg:2")
    assert world.row(a.number).status == world.row(b.number).status == "pending"
    set_duty(world.uow(), h, True, world.tick(minutes=1))
    assert world.row(a.number).assignee_id == h            # oldest first
    assert world.row(b.number).status == "pending"
    set_capacity(world.uow(), h, 2, world.tick(minutes=1))
    assert world.row(b.number).assignee_id == h


def test_cancel_and_decline_free_capacity(world):
    h1 = world.handler(capacity=1)
    a = world.order(reporter_ref="tg:1")
    b = world.order(reporter_ref="tg:2")
    assert world.row(b.number).status == "pending"
    cancel(world.uow(), a.number, "tg:1", world.tick(minutes=1))
    assert world.row(b.number).assignee_id == h1

    c = world.order(reporter_ref="tg:3")
    assert world.row(c.number).status == "pending"
    decline(world.uow(), b.number, h1, "不在辖区", world.tick(minutes=1))
    # b has nobody else; h1's freed room goes to c
    assert world.row(b.number).status == "pending"
    assert world.row(c.number).assignee_id == h1


def test_a_new_handler_takes_queued_orders(world):
    a = world.order()
    assert a.status == "pending"
    h = world.handler(capacity=2)
    assert world.row(a.number).assignee_id == h


def test_higher_tier_takes_over_when_the_grid_is_full(world):
    g = world.handler(capacity=1)
    t = world.handler("赵主任", tier="township", capacity=5)
    a = world.order()
    b = world.order(reporter_ref="tg:2")
    assert (world.row(a.number).assignee_id, world.row(a.number).tier) == (g, "grid")
    assert (world.row(b.number).assignee_id, world.row(b.number).tier) == (t, "township")
