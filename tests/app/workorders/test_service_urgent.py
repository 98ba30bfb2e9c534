"""The urgent rule in the service: an urgent order never waits for capacity.

The county keeps its handlers' last 3 units for urgent orders, and an urgent
order nobody has room for goes at once to the handler with the lowest load
ratio who is not over capacity yet (over by one urgent order at most), on
every path that places an order: creation, declines, accept timeouts, the
pending queue, a dispatcher's reassignment.
"""

from __future__ import annotations

import pytest

from integrations.workorders.service import (
    Conflict,
    accept,
    decline,
    handler_load,
    reassign,
    resolve,
    run_time_limits,
    verify_audit,
)


def fill(w, count):
    """``count`` normal orders (each from another resident), placed by the policy."""
    return [w.order() for _ in range(count)]


@pytest.fixture
def w(any_world):
    """Each test runs on SQLite and on PostgreSQL."""
    return any_world


def dispatch_note(w, number):
    return [e.note for e in w.events(number) if e.action == "dispatch"][-1]


def test_urgent_order_with_everyone_full_gets_a_handler_at_once(w):
    h1, h2 = w.handler(capacity=2), w.handler("李调解", capacity=2)
    fill(w, 4)  # 2 of 2 each
    normal = w.order(reporter_ref="tg:n")
    assert normal.status == "pending"  # a normal order waits, as before
    assert len(w.outbox(normal.number, recipient_kind="dispatcher")) == 1

    urgent = w.order(priority="urgent", reporter_ref="tg:u1")
    assert (urgent.status, urgent.assignee_id) == ("assigned", h1)  # tie: h1 idle longer
    assert w.actions(urgent.number) == ["create", "dispatch"]  # never pending
    assert dispatch_note(w, urgent.number) == f"handler:{h1} tier:grid over-capacity"
    assert w.outbox(urgent.number, recipient_ref=str(h1))[-1].topic == "order.assigned"
    assert (handler_load(w.uow(), h1), handler_load(w.uow(), h2)) == (5, 2)

    second = w.order(priority="urgent", reporter_ref="tg:u2")
    assert second.assignee_id == h2  # h1 is over already: at most one urgent order over
    third = w.order(priority="urgent", reporter_ref="tg:u3")
    assert third.status == "pending"  # everyone is over: it waits, the dispatchers are told
    assert len(w.outbox(third.number, recipient_kind="dispatcher")) == 1
    assert w.row(normal.number).status == "pending"
    assert verify_audit(w.uow()) == []


def test_room_comes_first_and_is_not_marked(w):
    w.handler(capacity=2)
    town = w.handler("镇调解员", tier="township", capacity=4)
    fill(w, 2)
    urgent = w.order(priority="urgent")
    assert (urgent.assignee_id, urgent.tier) == (town, "township")
    assert dispatch_note(w, urgent.number) == f"handler:{town} tier:township"


def test_the_county_keeps_room_for_one_urgent_order(w):
    county = w.handler("县调解员", tier="county", capacity=4)
    first = w.order()
    second = w.order(reporter_ref="tg:2")
    assert (first.assignee_id, first.tier) == (county, "county")  # 1 <= 4 - 3
    assert second.status == "pending"  # 2 > 4 - 3: the last 3 units are for urgent orders
    with pytest.raises(Conflict) as refused:  # a dispatcher cannot use them either
        reassign(w.uow(), second.number, county, "staff:alice", w.clock)
    assert "last 3 units are kept for urgent orders" in str(refused.value)
    assert refused.value.reason_zh == "该处理人员最后3个承办名额留给紧急工单。"
    urgent = w.order(priority="urgent", reporter_ref="tg:3")
    assert urgent.assignee_id == county and handler_load(w.uow(), county) == 4
    assert dispatch_note(w, urgent.number) == f"handler:{county} tier:county"  # not over


def test_a_declined_urgent_order_goes_over_capacity_rather_than_wait(w):
    h1, h2 = w.handler(capacity=4), w.handler("李调解", capacity=1)
    fill(w, 2)  # one each: h1 1 of 4, h2 1 of 1
    urgent = w.order(priority="urgent")
    assert urgent.assignee_id == h1  # 1 + 3 <= 4: room, not over
    decline(w.uow(), urgent.number, h1, "不在附近", w.tick(minutes=2))
    row = w.row(urgent.number)
    assert (row.status, row.assignee_id) == ("assigned", h2)  # not pending
    assert w.actions(urgent.number) == ["create", "dispatch", "decline", "dispatch"]
    assert dispatch_note(w, urgent.number) == f"handler:{h2} tier:grid over-capacity"
    assert handler_load(w.uow(), h2) == 4
    # a normal order declined in the same spot waits
    normal = w.order(reporter_ref="tg:n")
    assert normal.assignee_id == h1
    decline(w.uow(), normal.number, h1, None, w.tick(minutes=1))
    assert w.row(normal.number).status == "pending"


def test_an_urgent_accept_timeout_goes_up_a_tier_even_when_it_is_full(w):
    grid = w.handler(capacity=3)
    town = w.handler("镇调解员", tier="township", capacity=2)
    w.handler("镇督办", tier="township", capacity=0, is_supervisor=True)
    urgent = w.order(priority="urgent")
    assert urgent.assignee_id == grid
    fill(w, 2)  # the township handler takes them: 2 of 2
    assert handler_load(w.uow(), town) == 2
    report = run_time_limits(w.uow, w.tick(minutes=16))  # urgent accept limit: 15 min
    assert report.accept_timeouts == [urgent.number]
    row = w.row(urgent.number)
    assert (row.status, row.assignee_id, row.tier) == ("assigned", town, "township")
    assert dispatch_note(w, urgent.number) == f"handler:{town} tier:township over-capacity"
    assert handler_load(w.uow(), town) == 5


def test_a_waiting_urgent_order_is_placed_as_soon_as_its_handler_is_not_over(w):
    h = w.handler(capacity=2)
    a, _ = fill(w, 2)  # 2 of 2
    first = w.order(priority="urgent", reporter_ref="tg:u1")   # over: 5 of 2
    second = w.order(priority="urgent", reporter_ref="tg:u2")  # waits
    assert (first.assignee_id, second.status) == (h, "pending")
    accept(w.uow(), first.number, h, w.tick(minutes=3))
    resolve(w.uow(), first.number, h, "已处置", w.tick(minutes=40))
    # 2 of 2: not over, so not 3 free units, is what the waiting urgent order needs
    row = w.row(second.number)
    assert (row.status, row.assignee_id) == ("assigned", h)
    assert w.actions(second.number) == ["create", "queue", "dispatch"]
    assert handler_load(w.uow(), h) == 5
    assert w.row(a.number).assignee_id == h


def test_a_dispatcher_may_put_an_urgent_order_over_capacity_but_not_a_normal_one(w):
    h1, h2 = w.handler(capacity=3), w.handler("李调解", capacity=1)
    fill(w, 4)  # h1 3 of 3, h2 1 of 1
    normal = w.order(reporter_ref="tg:n")
    urgent = w.order(priority="urgent", reporter_ref="tg:u")
    assert normal.status == "pending"
    assert urgent.assignee_id == h2  # ratio 1 each: fewer assignments in 24 h
    with pytest.raises(Conflict) as refused:
        reassign(w.uow(), normal.number, h2, "staff:alice", w.clock)
    assert "no room" in str(refused.value)
    view = reassign(w.uow(), urgent.number, h1, "staff:alice", w.tick(minutes=1))
    assert view.assignee_id == h1
    assert dispatch_note(w, urgent.number) == f"handler:{h1} tier:grid over-capacity"
    assert (handler_load(w.uow(), h1), handler_load(w.uow(), h2)) == (6, 1)
    with pytest.raises(Conflict):  # h1 is over already: not a second urgent order
        reassign(w.uow(), w.order(priority="urgent", reporter_ref="tg:u2").number, h1,
                 "staff:alice", w.clock)
    zero = w.handler("停派", capacity=0)
    with pytest.raises(Conflict):  # capacity 0 takes no orders, urgent or not
        reassign(w.uow(), urgent.number, zero, "staff:alice", w.clock)
