"""Callback requests (转人工) at the desk: the transcript revealed (logged), or the request
turned into a work order for its resident through the normal open-order use case."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from integrations.workorders.adapters.orm import CallbackRequest, StaffAccessLog, WorkOrder
from integrations.workorders.service import (
    CallbackCreate,
    Conflict,
    Forbidden,
    NotFound,
    TranscriptLine,
    access_log,
    callback_to_order,
    get_callback,
    history,
    request_callback,
    reveal_callback_transcript,
    reveal_contact,
    verify_audit,
)

TALK = (TranscriptLine("resident", "我家门口的下水道又堵了"), TranscriptLine("resident", "转人工"))
EAST = ("township:qy-dz",)
WEST = ("township:qy-xz",)


def ask(world, **kw):
    data = dict(reporter_ref="voice:13800001111", reason="asked", transcript=TALK,
                contact="13900002222")
    data.update(kw)
    view, _ = request_callback(world.uow(), CallbackCreate(**data), world.clock)
    return view


def log_rows(world):
    with world.db.session() as s:
        return list(s.scalars(select(StaffAccessLog).order_by(StaffAccessLog.id)))


def test_revealing_a_transcript_is_logged(world):
    request = ask(world)
    world.tick(minutes=2)
    lines = reveal_callback_transcript(world.uow(), request.id, "staff:alice", world.clock,
                                       scope=EAST)  # unplaced requests are everyone's
    assert [line.text for line in lines] == ["我家门口的下水道又堵了", "转人工"]
    (row,) = log_rows(world)
    assert (row.actor, row.action, row.subject, row.at) == (
        "staff:alice", "callback_transcript_revealed", f"callback:{request.id}", world.clock)
    (entry,) = access_log(world.uow(), subject=f"callback:{request.id}")
    assert entry.actor == "staff:alice"
    with pytest.raises(NotFound):
        reveal_callback_transcript(world.uow(), request.id + 1, "staff:alice", world.clock)
    assert len(log_rows(world)) == 1


def test_a_request_outside_the_scope_is_not_found_and_not_logged(world):
    world.handler()
    order = world.order(reporter_ref="voice:13800001111")  # in 东镇
    request = ask(world, order_number=order.number)
    assert request.area_code == "grid:qy-dz-01"
    with pytest.raises(NotFound):
        reveal_callback_transcript(world.uow(), request.id, "staff:west", world.clock,
                                   scope=WEST)
    assert log_rows(world) == []


def test_a_callback_becomes_an_order_for_its_resident(any_world):
    w = any_world
    h = w.handler(role="grid_worker", skills=["incident.water"])
    request = ask(w)
    w.tick(minutes=5)
    done = callback_to_order(
        w.uow(), request.id, "incident.water", "下水道堵塞，污水外溢", "幸福里小区5号楼",
        "staff:alice", w.clock, area_code="grid:qy-dz-01", note="已电话联系居民", scope=EAST,
    )
    assert done.created
    order = done.order
    assert (order.reporter_ref, order.reporter_channel, order.has_contact) == (
        "voice:13800001111", "voice", True)
    assert (order.status, order.assignee_id) == ("assigned", h)  # dispatched as usual
    assert reveal_contact(w.uow(), order.number, "staff:alice", w.clock) == "13900002222"
    assert w.outbox(order.number, topic="order.assigned")[0].recipient_ref == str(h)
    with w.db.session() as s:
        row = s.scalars(select(WorkOrder).where(WorkOrder.number == order.number)).one()
        assert row.client_ref == f"callback:{request.id}"
        assert "13900002222" not in (row.reporter_contact_enc or "")

    callback = get_callback(w.uow(), request.id)
    assert (callback.status, callback.order_number, callback.done_by, callback.note,
            callback.area_code) == ("done", order.number, "staff:alice", "已电话联系居民",
                                    "grid:qy-dz-01")
    assert done.callback == callback
    notes = [(e.action, e.actor, e.note) for e in history(w.uow(), order.number)
             if e.action == "staff_note"]
    assert notes == [("staff_note", "staff:alice",
                      f"由回拨请求 #{request.id} 转为工单：已电话联系居民")]
    assert verify_audit(w.uow()) == []

    with pytest.raises(Conflict):  # done: not twice
        callback_to_order(w.uow(), request.id, "incident.water", "再来一次", "某处",
                          "staff:bob", w.clock, area_code="grid:qy-dz-01")


def test_a_retry_after_the_order_was_opened_finishes_the_job(world):
    world.handler(role="grid_worker", skills=["incident.water"])
    request = ask(world, contact=None)
    first = callback_to_order(world.uow(), request.id, "incident.water", "下水道堵塞",
                              "幸福里小区5号楼", "staff:alice", world.clock,
                              area_code="grid:qy-dz-01")
    with world.db.session() as s:  # as if the second step had failed
        row = s.get(CallbackRequest, request.id)
        row.status, row.order_number, row.done_at, row.done_by = "open", None, None, None
        s.commit()
    again = callback_to_order(world.uow(), request.id, "incident.water", "下水道堵塞",
                              "幸福里小区5号楼", "staff:alice", world.clock,
                              area_code="grid:qy-dz-01")
    assert (again.created, again.order.number) == (False, first.order.number)
    assert again.callback.order_number == first.order.number
    assert world.count(WorkOrder) == 1
    assert first.order.has_contact is False


def test_the_order_stays_in_the_dispatchers_areas(world):
    request = ask(world)
    with pytest.raises(Forbidden):
        callback_to_order(world.uow(), request.id, "incident.water", "下水道堵塞", "西镇某处",
                          "staff:alice", world.clock, area_code="grid:qy-xz-01", scope=EAST)
    assert world.count(WorkOrder) == 0
    assert get_callback(world.uow(), request.id).status == "open"
