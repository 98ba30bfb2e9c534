"""Dispatchers' actions (reassign, reopen), further reports, and staff accounts."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from integrations.workorders.adapters.orm import StaffUser
from integrations.workorders.domain import IllegalTransition
from integrations.workorders.service import (
    Conflict,
    InvalidInput,
    NotFound,
    accept,
    attach_report_to,
    create_staff_user,
    history,
    reassign,
    reopen,
    resolve,
    set_staff_active,
    staff_by_token,
    verify_audit,
)

TOKEN = "tok-" + "x" * 40


def test_direct_reassign_takes_back_and_assigns(world):
    h1, h2 = world.handler(), world.handler("李调解")
    order = world.order()
    view = reassign(world.uow(), order.number, h2, "staff:alice", world.tick(minutes=3),
                    reason="熟悉情况")
    assert (view.status, view.assignee_id) == ("assigned", h2)
    events = world.events(order.number)
    assert [(e.action, e.actor) for e in events[2:]] == [
        ("decline", "staff:alice"), ("dispatch", "staff:alice")]
    assert events[2].note == f"reassign handler:{h1} 熟悉情况"
    to_h1 = world.outbox(order.number, recipient_ref=str(h1))
    assert to_h1[-1].payload["text"] == f"工单 {order.number} 已改派他人，您无需继续处理。"
    assert world.outbox(order.number, recipient_ref=str(h2))[-1].topic == "order.assigned"
    with pytest.raises(Conflict):
        reassign(world.uow(), order.number, h2, "staff:alice", world.clock)


def test_policy_reassign_excludes_the_previous_assignee(world):
    h1, h2 = world.handler(), world.handler("李调解")
    order = world.order()
    view = reassign(world.uow(), order.number, None, "staff:bob", world.clock)
    assert view.assignee_id == h2
    # and with nobody else it stays pending instead of bouncing back
    view = reassign(world.uow(), order.number, None, "staff:bob", world.clock)
    assert (view.status, view.assignee_id) == ("pending", None)
    assert h1 != h2


def test_reassign_refuses_full_off_duty_or_wrong_role_and_accepted_orders(world):
    h1 = world.handler()
    full = world.handler("满员", capacity=0)
    off = world.handler("休假", on_duty=False)
    grid_worker = world.handler("网格员", role="grid_worker", skills=["incident.water"])
    order = world.order()
    for target in (full, off, grid_worker):
        with pytest.raises(Conflict):
            reassign(world.uow(), order.number, target, "staff:alice", world.clock)
    with pytest.raises(NotFound):
        reassign(world.uow(), order.number, 9999, "staff:alice", world.clock)
    assert world.row(order.number).assignee_id == h1  # every refusal rolled back
    accept(world.uow(), order.number, h1, world.clock)
    with pytest.raises(IllegalTransition):
        reassign(world.uow(), order.number, None, "staff:alice", world.clock)


def test_staff_reopen_of_a_resolved_order(world):
    h = world.handler()
    order = world.order()
    accept(world.uow(), order.number, h, world.clock)
    resolve(world.uow(), order.number, h, "已处理", world.tick(hours=1))
    view = reopen(world.uow(), order.number, "staff:carol", "电话回访仍有噪音", world.tick(hours=1))
    assert (view.status, view.assignee_id) == ("assigned", h)
    assert [(e.action, e.actor) for e in history(world.uow(), order.number)[-2:]] == [
        ("unsatisfied", "staff:carol"), ("dispatch", "system")]


def test_further_reports_are_events_and_reach_the_assignee(world):
    h = world.handler()
    order = world.order(reporter_ref="tg:1")
    view = attach_report_to(world.uow(), order.number, "tg:2", "我也听到了，凌晨还在吵", world.clock)
    assert view.number == order.number
    last = world.events(order.number)[-1]
    assert (last.action, last.actor, last.note, last.to_status) == (
        "report", "co-reporter", "我也听到了，凌晨还在吵", "assigned")
    to_handler = world.outbox(order.number, recipient_ref=str(h))[-1]
    assert to_handler.topic == "order.report_added"
    assert "tg:2" not in str(to_handler.payload)
    accept(world.uow(), order.number, h, world.clock)
    resolve(world.uow(), order.number, h, None, world.clock)
    with pytest.raises(Conflict):
        attach_report_to(world.uow(), order.number, "tg:2", "还有", world.clock)
    assert verify_audit(world.uow()) == []


def test_staff_accounts_store_only_a_token_hash(world):
    view = create_staff_user(world.uow(), "alice", "dispatcher", TOKEN, world.clock,
                             areas=["township:qy-dz"])
    assert staff_by_token(world.uow(), TOKEN) == view
    assert staff_by_token(world.uow(), TOKEN + "y") is None
    with world.db.session() as s:
        stored = s.scalars(select(StaffUser)).one()
    assert TOKEN not in stored.token_hash and len(stored.token_hash) == 64
    with pytest.raises(Conflict):
        create_staff_user(world.uow(), "alice", "admin", "t" * 30, world.clock)
    with pytest.raises(InvalidInput):
        create_staff_user(world.uow(), "bob", "handler", "t" * 30, world.clock)  # no handler_id
    with pytest.raises(InvalidInput):
        create_staff_user(world.uow(), "bob", "admin", "short", world.clock)
    set_staff_active(world.uow(), "alice", False)
    assert staff_by_token(world.uow(), TOKEN) is None


def test_queued_orders_reach_dispatchers_with_a_chat(world):
    create_staff_user(world.uow(), "disp", "dispatcher", TOKEN, world.clock,
                      areas=["township:qy-dz"], telegram_chat_id="4242")
    create_staff_user(world.uow(), "other", "dispatcher", "o" * 30, world.clock,
                      areas=["township:qy-xz"], telegram_chat_id="4343")
    order = world.order()
    (message,) = world.outbox(order.number)
    assert (message.recipient_kind, message.recipient_ref, message.channel) == (
        "dispatcher", "staff:disp", "telegram")
    assert message.payload["chat_id"] == "4242"
