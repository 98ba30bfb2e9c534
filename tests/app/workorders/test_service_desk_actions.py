"""The dispatchers' desk actions: priority, notes, cancel with a reason, revealing the contact.

Each is an event of the order's hash chain naming the staff member; the
notifications go through the outbox like those of the other use cases.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from integrations.workorders.domain import IllegalTransition
from integrations.workorders.service import (
    Conflict,
    InvalidInput,
    NotFound,
    accept,
    add_staff_note,
    cancel_by_staff,
    handler_load,
    history,
    resolve,
    reveal_contact,
    set_priority,
    verify_audit,
)


def last_event(w, number):
    return w.events(number)[-1]


def resident_messages(w, number):
    return [m for m in w.outbox(number) if m.recipient_kind == "resident"]


# ------------------------------------------------------------------- priority


def test_urgent_tightens_the_limits_and_tells_the_assignee(any_world):
    w = any_world
    h = w.handler(telegram_chat_id="700")
    order = w.order()
    assert order.accept_by == w.clock + timedelta(minutes=120)
    w.tick(minutes=5)
    view = set_priority(w.uow(), order.number, "urgent", "staff:alice", w.clock, reason="老人独居")

    assert view.priority == "urgent"
    assert view.accept_by == w.clock + timedelta(minutes=15)  # the urgent limit, from now
    assert view.resolve_by == w.clock + timedelta(hours=4)
    event = last_event(w, order.number)
    assert (event.action, event.actor, event.from_status, event.to_status, event.note) == (
        "priority", "staff:alice", "assigned", "assigned", "from:normal to:urgent 老人独居")
    (told,) = w.outbox(order.number, topic="order.priority")
    assert (told.recipient_kind, told.recipient_ref, told.channel) == ("handler", str(h),
                                                                        "telegram")
    assert told.payload["text"].startswith(
        f"【紧急】工单 {order.number}（邻里纠纷，幸福里小区3号楼）已调整为紧急")
    assert "09:20前签收" in told.payload["text"]  # 09:05 China time + 15 minutes
    assert handler_load(w.uow(), h) == 3  # an urgent order weighs 3
    assert resident_messages(w, order.number) == []  # residents are not told
    assert verify_audit(w.uow()) == []


def test_back_to_normal_loosens_the_accept_limit_and_tells_nobody(world):
    h = world.handler()
    order = world.order(priority="urgent")
    world.tick(minutes=10)
    view = set_priority(world.uow(), order.number, "normal", "staff:alice", world.clock)
    assert view.accept_by == world.clock + timedelta(minutes=120)
    assert view.resolve_by == order.resolve_by  # the resolve limit stays
    assert world.outbox(order.number, topic="order.priority") == []
    assert handler_load(world.uow(), h) == 1


def test_a_pending_order_made_urgent_is_dispatched_at_once(world):
    h = world.handler(capacity=1)
    world.order()
    waiting = world.order()
    assert waiting.status == "pending"
    set_priority(world.uow(), waiting.number, "urgent", "staff:alice", world.clock)
    row = world.row(waiting.number)
    assert (row.status, row.assignee_id) == ("assigned", h)  # over capacity by one urgent order
    assert world.outbox(waiting.number, topic="order.assigned")[0].recipient_ref == str(h)


def test_priority_refused_when_unchanged_finished_or_unknown(world):
    h = world.handler()
    order = world.order()
    with pytest.raises(Conflict) as same:
        set_priority(world.uow(), order.number, "normal", "staff:alice", world.clock)
    assert same.value.reason_zh == "该工单已是此紧急程度。"
    accept(world.uow(), order.number, h, world.clock)
    resolve(world.uow(), order.number, h, "已调解", world.clock)
    with pytest.raises(Conflict) as done:
        set_priority(world.uow(), order.number, "urgent", "staff:alice", world.clock)
    assert done.value.reason_zh == "该工单已办结或已撤销，不能调整紧急程度。"
    with pytest.raises(NotFound):
        set_priority(world.uow(), "99999999", "urgent", "staff:alice", world.clock)
    assert world.actions(order.number)[-1] == "resolve"  # nothing recorded


def test_accepted_order_made_urgent_keeps_no_accept_limit_but_a_tighter_resolve_one(world):
    h = world.handler()
    order = world.order()
    accept(world.uow(), order.number, h, world.clock)
    world.tick(hours=1)
    view = set_priority(world.uow(), order.number, "urgent", "staff:bob", world.clock)
    assert view.resolve_by == world.clock + timedelta(hours=4)
    (told,) = world.outbox(order.number, topic="order.priority")
    assert told.payload["text"].endswith("已调整为紧急，请尽快处理。")


# ---------------------------------------------------------------------- notes


def test_internal_note_is_recorded_and_never_sent(world):
    world.handler()
    order = world.order()
    before = len(world.outbox(order.number))
    add_staff_note(world.uow(), order.number, "staff:alice", " 已电话核实 ", world.clock,
                   to_resident=False)
    event = last_event(world, order.number)
    assert (event.action, event.actor, event.note, event.to_status) == (
        "staff_note", "staff:alice", "已电话核实", "assigned")
    assert len(world.outbox(order.number)) == before
    (label,) = [e.action_label for e in history(world.uow(), order.number)
                if e.action == "staff_note"]
    assert label == "内部备注"


def test_note_to_the_resident_goes_out_on_their_channel(any_world):
    w = any_world
    w.handler()
    order = w.order(reporter_ref="tg:5551")
    add_staff_note(w.uow(), order.number, "staff:alice", "明天上午有人上门", w.clock,
                   to_resident=True)
    event = last_event(w, order.number)
    assert (event.action, event.note) == ("resident_note", "明天上午有人上门")
    (message,) = resident_messages(w, order.number)
    assert (message.channel, message.payload["chat_id"], message.recipient_ref) == (
        "telegram", "5551", "tg:5551")
    assert message.payload["text"] == (
        f"关于您反映的工单 {order.number}，工作人员留言：明天上午有人上门。")
    assert (message.payload["event"], message.payload["label"]) == ("note", "已派单")
    assert message.dedupe_key == f"{order.number}:{event.seq}:resident:tg:5551"
    assert verify_audit(w.uow(), order.number) == []


def test_an_empty_note_is_refused(world):
    order = world.order()
    with pytest.raises(InvalidInput):
        add_staff_note(world.uow(), order.number, "staff:alice", "  ", world.clock,
                       to_resident=True)


# --------------------------------------------------------------------- cancel


def test_staff_cancel_tells_the_resident_and_the_assignee_and_frees_capacity(any_world):
    w = any_world
    h = w.handler(capacity=1)
    first = w.order(reporter_ref="tg:7001")
    waiting = w.order(reporter_ref="tg:7002")
    assert waiting.status == "pending"
    accept(w.uow(), first.number, h, w.clock)
    w.tick(minutes=30)
    view = cancel_by_staff(w.uow(), first.number, "staff:alice", "重复反映，已并入其他工单", w.clock)

    assert view.status == "cancelled"
    event = [e for e in w.events(first.number) if e.action == "withdraw"][0]
    assert (event.actor, event.from_status, event.to_status, event.note, event.handler_id) == (
        "staff:alice", "accepted", "cancelled", "重复反映，已并入其他工单", h)
    (resident,) = [m for m in resident_messages(w, first.number)
                   if m.payload["event"] == "cancelled"]
    assert resident.payload["text"] == (
        f"您反映的工单 {first.number} 已撤销，原因：重复反映，已并入其他工单。如有疑问，欢迎再次反映。")
    assert resident.payload["label"] == "已撤销"
    (told,) = w.outbox(first.number, topic="order.withdrawn")
    assert told.payload["text"] == f"工单 {first.number} 已由工作人员撤销，您无需继续处理。"
    assert w.row(waiting.number).status == "assigned"  # the freed room went to the queue
    assert verify_audit(w.uow()) == []


def test_staff_cancel_of_an_order_in_progress_and_not_after_resolve(world):
    from integrations.workorders.service import progress

    h = world.handler()
    order = world.order()
    accept(world.uow(), order.number, h, world.clock)
    progress(world.uow(), order.number, h, "已到现场", world.clock)
    cancel_by_staff(world.uow(), order.number, "staff:alice", "居民已自行协商解决", world.clock)
    assert world.row(order.number).status == "cancelled"

    other = world.order()
    accept(world.uow(), other.number, h, world.clock)
    resolve(world.uow(), other.number, h, "已调解", world.clock)
    with pytest.raises(IllegalTransition):
        cancel_by_staff(world.uow(), other.number, "staff:alice", "误报", world.clock)
    with pytest.raises(InvalidInput):
        cancel_by_staff(world.uow(), world.order().number, "staff:alice", "", world.clock)


def test_a_pending_order_cancelled_by_staff_tells_no_handler(world):
    order = world.order()  # nobody to take it
    assert order.status == "pending"
    cancel_by_staff(world.uow(), order.number, "staff:alice", "非本辖区事项", world.clock)
    assert world.outbox(order.number, recipient_kind="handler") == []
    assert len(resident_messages(world, order.number)) == 1


# --------------------------------------------------------------------- contact


def test_revealing_the_contact_is_an_event_in_the_chain(any_world):
    w = any_world
    w.handler()
    order = w.order(reporter_contact="13800001234", reporter_ref="voice:13800001234")
    updated = w.row(order.number).updated_at
    w.tick(minutes=3)
    assert reveal_contact(w.uow(), order.number, "staff:alice", w.clock) == "13800001234"
    event = last_event(w, order.number)
    assert (event.action, event.actor, event.at, event.from_status, event.to_status) == (
        "contact_revealed", "staff:alice", w.clock, "assigned", "assigned")
    assert "13800001234" not in (event.note or "")
    assert w.row(order.number).updated_at == updated  # a read, not a change
    assert verify_audit(w.uow()) == []

    anonymous = w.order()
    assert reveal_contact(w.uow(), anonymous.number, "staff:bob", w.clock) is None
    assert last_event(w, anonymous.number).note == "no_contact"
