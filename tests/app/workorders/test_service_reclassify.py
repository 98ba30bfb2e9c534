"""重新分类: an order that really is another kind becomes one, keeps its number, starts afresh."""

from __future__ import annotations

from datetime import timedelta

import pytest

from integrations.workorders.domain import IllegalTransition, UnknownCategory
from integrations.workorders.service import (
    Conflict,
    Forbidden,
    accept,
    cancel,
    history,
    progress,
    reclassify,
    resident_view,
    resolve,
    verify_audit,
)

REQUESTS = ["request.consult", "request.suggest", "request.complaint"]
LEAK = "楼上卫生间漏水，水一直渗到我家天花板，找他们好几次都不理。"


def staff(world, name="陈干事", **kw):
    return world.handler(name, role="staff", skills=REQUESTS, **kw)


def request_order(world, **kw):
    data = dict(category="request.complaint", description=LEAK, location_text="幸福里小区3号楼")
    data.update(kw)
    return world.order(**data)


def messages_to(world, number, kind):
    return [m for m in world.outbox(number) if m.recipient_kind == kind]


def test_a_request_that_is_a_dispute_goes_to_a_mediator_and_the_resident_is_told(any_world):
    w = any_world
    clerk = staff(w)
    mediator = w.handler("王调解")
    order = request_order(w, reporter_ref="tg:8001", priority="normal")
    accept(w.uow(), order.number, clerk, w.tick(minutes=10))
    progress(w.uow(), order.number, clerk, "已电话了解情况。", w.tick(minutes=10))
    w.tick(hours=5)
    done = reclassify(w.uow(), order.number, "dispute.neighbor", "staff:dispatcher", w.clock,
                      note="楼上漏水，属于邻里纠纷")

    assert (done.from_kind, done.from_category) == ("request", "request.complaint")
    assert (done.released_handler_id, done.assigned_handler_id) == (clerk, mediator)
    assert done.order.number == order.number
    row = w.row(order.number)
    assert (row.kind, row.category, row.status, row.assignee_id, row.tier) == (
        "dispute", "dispute.neighbor", "assigned", mediator, "grid")
    assert row.resolve_by == w.clock + timedelta(hours=168)  # the new category's, from now
    assert row.accept_by == w.clock + timedelta(minutes=120)
    assert row.accepted_at is None and row.created_at == order.created_at

    events = w.events(order.number)
    reclassified, dispatched = events[-2:]
    assert (reclassified.action, reclassified.actor, reclassified.at) == (
        "reclassify", "staff:dispatcher", w.clock)
    assert (reclassified.from_status, reclassified.to_status, reclassified.handler_id) == (
        "in_progress", "pending", clerk)
    assert reclassified.note == (
        f"from:request.complaint to:dispute.neighbor handler:{clerk} 楼上漏水，属于邻里纠纷")
    assert (dispatched.action, dispatched.to_status, dispatched.handler_id) == (
        "dispatch", "assigned", mediator)
    assert history(w.uow(), order.number)[-2].action_label == "重新分类"
    assert verify_audit(w.uow()) == []

    told = messages_to(w, order.number, "resident")[-1]
    assert told.payload["text"] == (
        f"您反映的问题已转为「邻里纠纷」，由人民调解员处理，工单号不变：{order.number}。")
    assert (told.payload["event"], told.payload["category"], told.payload["kind"]) == (
        "reclassified", "dispute.neighbor", "dispute")
    assert (told.channel, told.payload["chat_id"]) == ("telegram", "8001")
    assert told.dedupe_key == f"{order.number}:{reclassified.seq}:resident:tg:8001"
    by_topic = {m.topic: m for m in messages_to(w, order.number, "handler")
                if m.created_at == w.clock}
    to_clerk, to_mediator = by_topic["order.withdrawn"], by_topic["order.assigned"]
    assert (to_clerk.recipient_ref, to_clerk.topic) == (str(clerk), "order.withdrawn")
    assert to_clerk.payload["text"] == (
        f"工单 {order.number} 已重新分类为「邻里纠纷」，转由其他人员处理，您无需继续处理。")
    assert (to_mediator.recipient_ref, to_mediator.topic) == (str(mediator), "order.assigned")
    assert to_mediator.payload["text"].startswith(f"新工单 {order.number}：邻里纠纷")

    resident = resident_view(w.uow(), done.order)
    assert (resident.kind, resident.category_name, resident.handler_role) == (
        "dispute", "邻里纠纷", "人民调解员")


def test_an_incident_filed_as_a_dispute_becomes_one_and_nobody_free_means_pending(any_world):
    w = any_world
    mediator = w.handler("王调解")
    order = w.order(description="小区门口路灯坏了一个星期", priority="urgent")
    assert order.assignee_id == mediator
    done = reclassify(w.uow(), order.number, "incident.facility", f"handler:{mediator}",
                      w.tick(minutes=3), assignee_id=mediator)
    assert (done.released_handler_id, done.assigned_handler_id) == (mediator, None)
    row = w.row(order.number)
    assert (row.kind, row.category, row.status, row.assignee_id) == (
        "incident", "incident.facility", "pending", None)
    assert row.resolve_by == w.clock + timedelta(hours=4)  # urgent stays urgent
    assert w.actions(order.number)[-1] == "reclassify"
    assert w.events(order.number)[-1].actor == f"handler:{mediator}"
    (queued,) = [m for m in w.outbox(order.number, recipient_kind="dispatcher")]
    assert queued.topic == "order.queued" and "暂无可派的处理人员" in queued.payload["text"]
    told = messages_to(w, order.number, "resident")[-1]
    assert told.payload["text"] == (
        f"您反映的问题已转为「公共设施损坏」，由网格员处理，工单号不变：{order.number}。")

    # a grid worker comes on: the queue places it with them
    worker = w.handler("张网格", role="grid_worker", skills=["incident.facility"])
    assert w.row(order.number).assignee_id == worker


def test_a_pending_request_goes_up_a_tier_when_the_grid_has_nobody(world):
    order = request_order(world)
    assert order.status == "pending"
    town = world.handler("镇调解", tier="township", areas=["township:qy-dz"])
    done = reclassify(world.uow(), order.number, "dispute.neighbor", "staff:admin",
                      world.tick(hours=1))
    assert (done.assigned_handler_id, done.order.tier) == (town, "township")
    told = messages_to(world, order.number, "resident")[-1]
    assert "由乡镇（街道）工作人员处理" in told.payload["text"]
    assert not messages_to(world, order.number, "handler")[:-1]  # nobody had it before


def test_within_one_kind_the_same_handler_may_be_chosen_again(world):
    worker = world.handler("张网格", role="grid_worker",
                           skills=["incident.facility", "incident.water"])
    order = world.order(category="incident.facility", description="井盖冒水")
    accept(world.uow(), order.number, worker, world.clock)
    done = reclassify(world.uow(), order.number, "incident.water", "staff:dispatcher",
                      world.tick(minutes=30))
    assert (done.released_handler_id, done.assigned_handler_id) == (worker, worker)
    row = world.row(order.number)
    assert (row.status, row.accepted_at) == ("assigned", None)  # to be accepted again
    to_worker = messages_to(world, order.number, "handler")
    assert [m.topic for m in to_worker] == ["order.assigned", "order.assigned"]  # no withdrawal


def test_what_may_not_be_reclassified(world):
    clerk, other = staff(world), staff(world, "刘干事")
    order = request_order(world)
    assert order.assignee_id == clerk
    with pytest.raises(UnknownCategory):
        reclassify(world.uow(), order.number, "dispute.nope", "staff:admin", world.clock)
    with pytest.raises(Conflict) as same:
        reclassify(world.uow(), order.number, "request.complaint", "staff:admin", world.clock)
    assert same.value.reason_zh == "该工单已是「投诉举报」，无需重新分类。"
    with pytest.raises(Forbidden):
        reclassify(world.uow(), order.number, "dispute.neighbor", f"handler:{other}",
                   world.clock, assignee_id=other)
    accept(world.uow(), order.number, clerk, world.clock)
    resolve(world.uow(), order.number, clerk, "已转交市场监管所。", world.tick(hours=1))
    with pytest.raises(IllegalTransition) as late:
        reclassify(world.uow(), order.number, "dispute.neighbor", "staff:admin", world.clock)
    assert late.value.reason_zh == "工单当前状态为“已办结”，不能执行“重新分类”操作。"
    cancelled = request_order(world, reporter_ref="tg:9")
    cancel(world.uow(), cancelled.number, "tg:9", world.clock)
    with pytest.raises(IllegalTransition):
        reclassify(world.uow(), cancelled.number, "dispute.neighbor", "staff:admin", world.clock)
    assert world.row(order.number).category == "request.complaint"
    assert "reclassify" not in world.actions(order.number)


def test_capacity_freed_by_reclassifying_places_a_waiting_order(world):
    clerk = staff(world, capacity=1)
    world.handler("王调解")
    first = request_order(world)
    waiting = request_order(world, category="request.consult", description="低保怎么申请？")
    assert (first.assignee_id, waiting.status) == (clerk, "pending")
    reclassify(world.uow(), first.number, "dispute.neighbor", "staff:admin", world.tick(minutes=5))
    assert world.row(waiting.number).assignee_id == clerk
