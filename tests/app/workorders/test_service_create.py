"""Opening an order: validation, idempotency, numbering, the first dispatch and its outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from integrations.workorders.adapters.orm import WorkOrder
from integrations.workorders.domain import GENESIS, UnknownCategory, UnknownPriority, is_valid
from integrations.workorders.service import (
    Conflict,
    InvalidInput,
    OrderCreate,
    create_order,
    get_order,
    history,
    verify_audit,
)


def test_create_assigns_at_once_and_tells_only_the_handler(any_world):
    w = any_world
    h = w.handler(telegram_chat_id="777")
    view = w.order()
    assert is_valid(view.number)
    assert (view.status, view.assignee_id, view.tier) == ("assigned", h, "grid")
    assert view.category_name == "邻里纠纷"

    row = w.row(view.number)
    assert row.status == "assigned" and row.assignee_id == h
    assert row.accept_by == w.clock + timedelta(minutes=120)
    assert row.resolve_by == w.clock + timedelta(hours=168)
    assert row.event_seq == 2

    events = w.events(view.number)
    assert [(e.seq, e.action, e.from_status, e.to_status) for e in events] == [
        (1, "create", None, "new"),
        (2, "dispatch", "new", "assigned"),
    ]
    assert events[0].prev_hash == GENESIS and events[1].prev_hash == events[0].hash
    assert row.head_hash == events[-1].hash
    assert events[1].handler_id == h and events[1].note == f"handler:{h} tier:grid"

    (message,) = w.outbox(view.number)
    assert message.recipient_kind == "handler" and message.recipient_ref == str(h)
    assert message.channel == "telegram" and message.payload["chat_id"] == "777"
    assert message.topic == "order.assigned"
    assert message.dedupe_key == f"{view.number}:2:handler:{h}"
    # 09:00 + 2 h in China time
    assert message.payload["text"] == (
        f"新工单 {view.number}：邻里纠纷，幸福里小区3号楼，请在11:00前签收。"
    )
    assert message.payload["number"] == view.number
    assert message.payload["category"] == "dispute.neighbor"
    assert message.payload["location"] == "幸福里小区3号楼"
    assert message.payload["accept_by"] == row.accept_by.isoformat()
    assert "tg:" not in str(message.payload)  # nothing about the reporter
    assert verify_audit(w.uow()) == []


def test_idempotent_on_client_ref(any_world):
    w = any_world
    w.handler()
    first = w.order(client_ref="req-1", reporter_ref="tg:42")
    again = w.order(client_ref="req-1", reporter_ref="tg:42")
    assert again.number == first.number
    assert w.count(WorkOrder) == 1
    assert len(w.outbox()) == 1
    with pytest.raises(Conflict):
        w.order(client_ref="req-1", reporter_ref="tg:43")


def test_number_collision_draws_again(world):
    world.handler()
    first = world.order()
    fresh = "57401920"
    assert is_valid(fresh)
    draws = iter([first.number, first.number, fresh])
    view = create_order(
        world.uow(),
        OrderCreate(category="dispute.neighbor", description="又吵起来了", location_text="3号楼",
                    area_code="grid:qy-dz-01", reporter_channel="tg", reporter_ref="tg:9"),
        world.clock,
        numbers=lambda: next(draws),
    )
    assert view.number == fresh
    assert world.count(WorkOrder) == 2


def test_nobody_eligible_queues_and_tells_the_dispatcher(world):
    view = world.order(priority="urgent")
    assert view.status == "pending" and view.assignee_id is None
    assert world.actions(view.number) == ["create", "queue"]
    (message,) = world.outbox(view.number)
    assert (message.recipient_kind, message.recipient_ref, message.channel) == (
        "dispatcher", "grid:qy-dz-01", "log")
    assert message.dedupe_key == f"{view.number}:2:dispatcher:grid:qy-dz-01"
    assert message.payload["text"].startswith(f"【紧急】工单 {view.number}（邻里纠纷，幸福里小区3号楼）")


def test_validation_errors_are_typed(world):
    with pytest.raises(UnknownCategory):
        world.order(category="dispute.unknown")
    with pytest.raises(UnknownPriority):
        world.order(priority="asap")
    with pytest.raises(InvalidInput) as too_long:
        world.order(description="吵" * 2001)
    assert too_long.value.field == "description" and "2000" in too_long.value.reason_zh
    world.order(description="吵" * 2000)  # the limit itself is fine
    with pytest.raises(InvalidInput):
        world.order(area_code="grid:nowhere")
    with pytest.raises(InvalidInput):
        world.order(area_code="township:qy-dz")  # orders sit in a grid
    with pytest.raises(InvalidInput):
        world.order(reporter_contact="not a phone")
    with pytest.raises(InvalidInput):
        world.order(reporter_ref="123")  # no channel prefix
    with pytest.raises(InvalidInput):
        world.order(kind="incident")  # contradicts dispute.neighbor
    with pytest.raises(InvalidInput):
        world.order(anonymous=True, reporter_contact="13812345678")
    assert world.count(WorkOrder) == 1


def test_contact_is_encrypted_and_found_by_keyed_hash(world, vault):
    view = world.order(reporter_contact="138 1234 5678")
    row = world.row(view.number)
    assert "13812345678" not in (row.reporter_contact_enc or "")
    context = "work_orders.reporter_contact_enc"
    assert vault.decrypt(row.reporter_contact_enc, context=context) == "13812345678"
    assert row.reporter_contact_hash == vault.lookup_hash("+86 138-1234-5678")
    assert view.has_contact
    with world.db.session() as s:
        dumped = " ".join(str(v) for v in s.execute(text("select * from work_orders")).one())
    assert "13812345678" not in dumped


def test_spoken_numbers_find_the_order(world):
    view = world.order()
    spoken = " ".join(view.number)
    assert get_order(world.uow(), spoken).number == view.number
    assert [e.action for e in history(world.uow(), view.number)] == ["create", "queue"]
