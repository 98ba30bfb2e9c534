"""The audit trail: every change an event, chained by hash; tampering is found."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from integrations.workorders.adapters.orm import WorkOrder
from integrations.workorders.domain import GENESIS, event_digest
from integrations.workorders.service import NotFound, accept, history, progress, verify_audit
from integrations.workorders.service.audit_trail import REPORT, record


def handled_order(world):
    h = world.handler()
    order = world.order()
    accept(world.uow(), order.number, h, world.tick(minutes=5))
    progress(world.uow(), order.number, h, "已上门了解情况", world.tick(hours=1))
    return order


def test_chain_is_recomputable_from_the_rows(any_world):
    order = handled_order(any_world)
    prev = GENESIS
    for event in any_world.events(order.number):
        fields = {
            "order_number": order.number, "seq": event.seq, "action": event.action,
            "actor": event.actor, "at": event.at, "from_status": event.from_status,
            "to_status": event.to_status, "note": event.note,
        }
        assert event.prev_hash == prev
        assert event.hash == event_digest(prev, fields)
        prev = event.hash
    assert any_world.row(order.number).head_hash == prev


def test_an_edited_note_is_found_with_its_seq(any_world):
    w = any_world
    intact = handled_order(w)
    tampered = w.order(reporter_ref="tg:77")
    accept(w.uow(), tampered.number, w.row(tampered.number).assignee_id, w.clock)
    assert verify_audit(w.uow()) == []
    with w.db.engine.begin() as conn:
        conn.execute(
            text("UPDATE order_events SET note = :note WHERE seq = 2 AND order_id = "
                 "(SELECT id FROM work_orders WHERE number = :number)"),
            {"note": "改过的记录", "number": tampered.number},
        )
    assert verify_audit(w.uow()) == [(tampered.number, 2)]
    assert verify_audit(w.uow(), tampered.number) == [(tampered.number, 2)]
    assert verify_audit(w.uow(), intact.number) == []


def test_other_kinds_of_tampering(world):
    order = handled_order(world)
    with world.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM order_events WHERE seq = 4"))
    assert verify_audit(world.uow()) == [(order.number, 4)]  # the missing last event

    other = handled_order(world)
    with world.db.engine.begin() as conn:
        conn.execute(text(
            "UPDATE order_events SET actor = 'handler:999' WHERE seq = 3 AND order_id = "
            "(SELECT id FROM work_orders WHERE number = :n)"), {"n": other.number})
    assert (other.number, 3) in verify_audit(world.uow())


def test_history_lists_the_events_with_labels(world):
    order = handled_order(world)
    events = history(world.uow(), order.number)
    assert [(e.seq, e.action, e.action_label) for e in events] == [
        (1, "create", "受理"), (2, "dispatch", "派单"), (3, "accept", "签收"),
        (4, "progress", "反馈进展")]
    assert events[3].note == "已上门了解情况"
    with pytest.raises(NotFound):
        verify_audit(world.uow(), "57401920")


def test_long_histories_are_verified_past_one_fetch(any_world):
    """More events than one fetched batch (2000 rows): every chain is still checked."""
    w = any_world
    order = handled_order(w)
    last = w.order(reporter_ref="tg:78")
    with w.db.session() as s:
        row = s.scalars(select(WorkOrder).where(WorkOrder.number == order.number)).one()
        for i in range(2100):
            record(s, row, action=REPORT, actor="co-reporter", at=w.clock,
                   from_status=row.status, to_status=row.status, note=f"补充{i}")
        s.commit()
    assert verify_audit(w.uow()) == []
    with w.db.engine.begin() as conn:
        conn.execute(text("UPDATE order_events SET note = 'x' WHERE seq = 1 AND order_id = "
                          "(SELECT id FROM work_orders WHERE number = :n)"), {"n": last.number})
    assert verify_audit(w.uow()) == [(last.number, 1)]
