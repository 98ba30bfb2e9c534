"""An order's life after creation: accept, decline, progress, resolve, 回访, cancel, reopen."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from integrations.shared.identity import caller_ref
from integrations.workorders.adapters.orm import OrderDecline
from integrations.workorders.domain import IllegalTransition
from integrations.workorders.service import (
    Forbidden,
    InvalidInput,
    NotFound,
    accept,
    answer_satisfaction,
    cancel,
    decline,
    progress,
    resolve,
    verify_audit,
)
from integrations.workorders.service.outbox import PHONE_CONTEXT


def resident_messages(world, number):
    return [m for m in world.outbox(number) if m.recipient_kind == "resident"]


def test_accept_tells_the_resident_on_their_channel(any_world):
    w = any_world
    h = w.handler()
    order = w.order(reporter_ref="tg:5550")
    w.tick(minutes=10)
    view = accept(w.uow(), order.number, h, w.clock)
    assert view.status == "accepted" and view.accepted_at == w.clock

    row = w.row(order.number)
    assert (row.status, row.accepted_at) == ("accepted", w.clock)
    assert w.actions(order.number) == ["create", "dispatch", "accept"]
    (message,) = resident_messages(w, order.number)
    assert message.payload["text"] == f"您反映的工单 {order.number} 已签收，处理人员会尽快联系您。"
    assert (message.channel, message.payload["chat_id"], message.recipient_ref) == (
        "telegram", "5550", "tg:5550")
    assert message.dedupe_key == f"{order.number}:3:resident:tg:5550"
    assert message.payload["label"] == "已签收"


def test_only_the_assignee_may_act_and_only_in_order(world):
    h1, h2 = world.handler(), world.handler("李调解")
    order = world.order()
    assert order.assignee_id == h1
    with pytest.raises(Forbidden):
        accept(world.uow(), order.number, h2, world.clock)
    with pytest.raises(IllegalTransition):
        resolve(world.uow(), order.number, h1, "办好了", world.clock)  # not accepted yet
    accept(world.uow(), order.number, h1, world.clock)
    with pytest.raises(IllegalTransition):
        accept(world.uow(), order.number, h1, world.clock)
    with pytest.raises(NotFound):
        accept(world.uow(), "12345678", h1, world.clock)
    assert world.actions(order.number) == ["create", "dispatch", "accept"]


def test_decline_goes_to_another_handler_and_never_back(any_world):
    w = any_world
    h1, h2 = w.handler(), w.handler("李调解")
    order = w.order()
    assert order.assignee_id == h1
    w.tick(minutes=5)
    view = decline(w.uow(), order.number, h1, "正在外地培训", w.clock)
    assert (view.status, view.assignee_id) == ("assigned", h2)
    events = w.events(order.number)
    assert [(e.action, e.to_status, e.handler_id) for e in events[2:]] == [
        ("decline", "pending", h1), ("dispatch", "assigned", h2)]
    assert events[2].note == "正在外地培训"
    with w.db.session() as s:
        assert s.scalars(select(OrderDecline.handler_id)).all() == [h1]
    handler_rows = w.outbox(order.number, recipient_kind="handler")
    assert [m.recipient_ref for m in handler_rows] == [str(h1), str(h2)]
    assert handler_rows[1].dedupe_key == f"{order.number}:4:handler:{h2}"
    assert resident_messages(w, order.number) == []  # re-dispatch is internal

    # the second one declines too: nobody left (h1 declined), so it waits
    view = decline(w.uow(), order.number, h2, None, w.clock)
    assert (view.status, view.assignee_id) == ("pending", None)
    (queued,) = w.outbox(order.number, recipient_kind="dispatcher")
    assert queued.dedupe_key == f"{order.number}:5:dispatcher:grid:qy-dz-01"
    assert verify_audit(w.uow()) == []


def test_progress_and_resolve_tell_the_resident_and_ask_satisfaction(world, vault):
    h = world.handler()
    caller = caller_ref(vault, "13800001111")
    order = world.order(reporter_ref=caller, reporter_contact="13800001111")
    accept(world.uow(), order.number, h, world.tick(minutes=5))
    progress(world.uow(), order.number, h, "已联系双方", world.tick(hours=1))
    progress(world.uow(), order.number, h, "约定周六调解", world.tick(hours=1))
    view = resolve(world.uow(), order.number, h, "双方达成协议", world.tick(hours=20))
    assert view.status == "resolved" and view.resolved_at == world.clock
    assert world.actions(order.number) == [
        "create", "dispatch", "accept", "progress", "progress", "resolve"]
    messages = resident_messages(world, order.number)
    assert [m.payload["event"] for m in messages] == ["accepted", "in_progress", "resolved"]
    assert all(m.channel == "voice" and m.recipient_ref == caller for m in messages)
    # the number only encrypted, for the notifier's SMS/callback sender
    assert {vault.decrypt(m.payload["phone_enc"], context=PHONE_CONTEXT) for m in messages} == {
        "13800001111"}
    assert not any("13800001111" in repr(m.payload) for m in messages)
    last = messages[-1]
    assert last.payload["text"] == (
        f"您反映的工单 {order.number} 已办结，处理结果：双方达成协议。请问您对处理结果是否满意？"
        "请回复“满意”“基本满意”或“不满意”。")
    assert last.payload["ask_satisfaction"] is True
    assert [o["label"] for o in last.payload["options"]] == ["满意", "基本满意", "不满意"]
    assert last.dedupe_key == f"{order.number}:6:resident:{caller}"


def resolved_order(world, **kw):
    h = world.handler()
    order = world.order(**kw)
    accept(world.uow(), order.number, h, world.tick(minutes=5))
    resolve(world.uow(), order.number, h, "已处理", world.tick(hours=3))
    return order, h


@pytest.mark.parametrize("answer", ["satisfied", "basically_satisfied"])
def test_satisfied_answers_close(world, answer):
    order, _ = resolved_order(world, reporter_ref="tg:8")
    view = answer_satisfaction(world.uow(), order.number, "tg:8", answer, None, world.tick(hours=1))
    assert (view.status, view.satisfaction) == ("closed", answer)
    row = world.row(order.number)
    assert row.closed_at == world.clock
    assert world.actions(order.number)[-1] == "satisfied"
    assert resident_messages(world, order.number)[-1].payload["text"] == (
        f"您反映的工单 {order.number} 已回访，感谢您的评价！")


def test_unsatisfied_reopens_and_dispatches_again(any_world):
    w = any_world
    order, h = resolved_order(w, reporter_ref="tg:8")
    old_resolve_by = w.row(order.number).resolve_by
    w.tick(hours=2)
    view = answer_satisfaction(w.uow(), order.number, "tg:8", "unsatisfied", "噪音还在", w.clock)
    assert (view.status, view.assignee_id, view.satisfaction) == ("assigned", h, "unsatisfied")
    events = w.events(order.number)
    assert [(e.action, e.to_status) for e in events[-2:]] == [
        ("unsatisfied", "reopened"), ("dispatch", "assigned")]
    assert events[-2].note == "不满意：噪音还在" and events[-2].actor == "resident"
    row = w.row(order.number)
    assert row.resolve_by > old_resolve_by and row.resolved_at is None
    assert resident_messages(w, order.number)[-1].payload["event"] == "reopened"
    assert w.outbox(order.number, recipient_kind="handler")[-1].dedupe_key == (
        f"{order.number}:{events[-1].seq}:handler:{h}")
    assert verify_audit(w.uow()) == []


def test_satisfaction_rules(world):
    order, _ = resolved_order(world, reporter_ref="tg:8")
    with pytest.raises(NotFound):  # someone else's order looks like no order
        answer_satisfaction(world.uow(), order.number, "tg:9", "satisfied", None, world.clock)
    with pytest.raises(InvalidInput):
        answer_satisfaction(world.uow(), order.number, "tg:8", "so-so", None, world.clock)
    answer_satisfaction(world.uow(), order.number, "tg:8", "satisfied", None, world.clock)
    with pytest.raises(IllegalTransition):
        answer_satisfaction(world.uow(), order.number, "tg:8", "unsatisfied", None, world.clock)


def test_cancel_rules(any_world):
    w = any_world
    h = w.handler(capacity=10)
    assigned = w.order(reporter_ref="tg:1")
    with pytest.raises(NotFound):
        cancel(w.uow(), assigned.number, "tg:2", w.clock)
    view = cancel(w.uow(), assigned.number, "tg:1", w.tick(minutes=1))
    assert view.status == "cancelled"
    handler_rows = w.outbox(assigned.number, recipient_kind="handler")
    assert handler_rows[-1].payload["text"] == f"工单 {assigned.number} 已由反映人撤销，您无需继续处理。"
    assert resident_messages(w, assigned.number)[-1].payload["text"] == (
        f"您反映的工单 {assigned.number} 已撤销。")
    with pytest.raises(IllegalTransition):
        cancel(w.uow(), assigned.number, "tg:1", w.clock)

    accepted = w.order(reporter_ref="tg:1")
    accept(w.uow(), accepted.number, h, w.clock)
    assert cancel(w.uow(), accepted.number, "tg:1", w.clock).status == "cancelled"

    handled = w.order(reporter_ref="tg:1")
    accept(w.uow(), handled.number, h, w.clock)
    progress(w.uow(), handled.number, h, "在处理", w.clock)
    with pytest.raises(IllegalTransition):  # being handled on site: too late
        cancel(w.uow(), handled.number, "tg:1", w.clock)
    resolve(w.uow(), handled.number, h, None, w.clock)
    with pytest.raises(IllegalTransition):
        cancel(w.uow(), handled.number, "tg:1", w.clock)
    assert w.row(handled.number).status == "resolved"


def test_anonymous_reporters_still_hear_on_their_channel(world):
    h = world.handler()
    order = world.order(anonymous=True, reporter_ref="tg:31")
    assert order.reporter_ref is None and order.anonymous
    accept(world.uow(), order.number, h, world.clock)
    (message,) = resident_messages(world, order.number)
    assert message.recipient_ref == "tg:31" and message.channel == "telegram"


def test_web_residents_go_to_the_webhook_only_if_configured(world, sqlite_db, config):
    w = world
    h = w.handler(capacity=10)
    plain = w.order(reporter_channel="web", reporter_ref="web:abc")
    accept(w.uow(), plain.number, h, w.clock)
    assert resident_messages(w, plain.number)[-1].channel == "log"

    sqlite_db.config = replace(config, webhook_enabled=True)
    hooked = w.order(reporter_channel="open311", reporter_ref="open311:req-9")
    accept(w.uow(), hooked.number, h, w.clock)
    assert resident_messages(w, hooked.number)[-1].channel == "webhook"
