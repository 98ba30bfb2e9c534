"""Handlers: encrypted at rest, found by phone hash, load by weight, validated."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from integrations.workorders.service import (
    HandlerCreate,
    HandlerUpdate,
    InvalidInput,
    NotFound,
    accept,
    create_handler,
    find_handler_by_phone,
    get_handler,
    handler_load,
    list_handlers,
    resolve,
    update_handler,
)


def test_names_and_phones_are_encrypted_and_phones_found_by_hash(world, vault):
    hid = world.handler("欧阳明", phone="139-0000-1111")
    with world.db.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM handlers WHERE id = :id"), {"id": hid}).mappings().one()
    dumped = " ".join(str(v) for v in row.values())
    assert "欧阳明" not in dumped and "13900001111" not in dumped
    assert row["phone_hash"] == vault.lookup_hash("13900001111")
    view = get_handler(world.uow(), hid)
    assert (view.name, view.phone_masked) == ("欧阳明", "139****1111")
    assert find_handler_by_phone(world.uow(), "+86 139 0000 1111").id == hid
    assert find_handler_by_phone(world.uow(), "13900002222") is None
    assert find_handler_by_phone(world.uow(), "garbage") is None


def test_load_counts_urgent_three_and_only_open_orders(world):
    h = world.handler(capacity=10)
    urgent = world.order(priority="urgent")
    world.order(reporter_ref="tg:2")
    assert handler_load(world.uow(), h) == 4
    accept(world.uow(), urgent.number, h, world.clock)
    assert handler_load(world.uow(), h) == 4
    resolve(world.uow(), urgent.number, h, None, world.clock)
    assert handler_load(world.uow(), h) == 1
    assert [v.load for v in list_handlers(world.uow())] == [1]
    with pytest.raises(NotFound):
        handler_load(world.uow(), 999)


def test_update_and_validation(world):
    hid = world.handler()
    view = update_handler(world.uow(), hid, HandlerUpdate(
        skills=["dispute.neighbor", "dispute.family"], telegram_chat_id="55", phone="13700001234",
    ), world.clock)
    assert view.skills == ["dispute.family", "dispute.neighbor"]
    assert (view.telegram_chat_id, view.phone_masked) == ("55", "137****1234")
    view = update_handler(world.uow(), hid, HandlerUpdate(clear_phone=True, clear_telegram=True),
                          world.clock)
    assert (view.telegram_chat_id, view.phone_masked) == (None, None)
    bad = [
        HandlerUpdate(skills=["dispute.nothing"]),
        HandlerUpdate(areas=["grid:nowhere"]),
        HandlerUpdate(tier="province"),
        HandlerUpdate(capacity=-1),
        HandlerUpdate(phone="12345"),
        HandlerUpdate(name=" "),
    ]
    for changes in bad:
        with pytest.raises(InvalidInput):
            update_handler(world.uow(), hid, changes, world.clock)
    with pytest.raises(InvalidInput):
        create_handler(world.uow(), HandlerCreate(
            name="张三", role="dispatcher", tier="grid", skills=[], areas=[], capacity=1,
        ), world.clock)
    with pytest.raises(NotFound):
        update_handler(world.uow(), 999, HandlerUpdate(capacity=3), world.clock)
    assert get_handler(world.uow(), hid).skills == ["dispute.family", "dispute.neighbor"]


def test_list_handlers_by_role_and_area(world):
    m = world.handler()
    g = world.handler("网格员", role="grid_worker", skills=["incident.water"],
                      areas=["grid:qy-dz-02"])
    assert [v.id for v in list_handlers(world.uow(), role="grid_worker")] == [g]
    assert [v.id for v in list_handlers(world.uow(), area_code="grid:qy-dz-01")] == [m]
