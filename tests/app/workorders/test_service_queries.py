"""Reading orders: a resident's own, duplicates, listings, the contact."""

from __future__ import annotations

import pytest

from integrations.workorders.service import (
    NotFound,
    OrderFilters,
    accept,
    cancel,
    find_open_duplicate,
    get_order,
    get_order_for_reporter,
    latest_open_order_for_reporter,
    list_orders,
    reporter_contact,
    resolve,
)


def test_a_resident_sees_only_their_own_orders(world):
    mine = world.order(reporter_ref="tg:1")
    assert get_order_for_reporter(world.uow(), mine.number, "tg:1").number == mine.number
    assert get_order_for_reporter(world.uow(), mine.number, "tg:2") is None
    assert get_order_for_reporter(world.uow(), "57401920", "tg:1") is None
    assert get_order_for_reporter(world.uow(), "not a number", "tg:1") is None
    resident = get_order_for_reporter(world.uow(), mine.number, "tg:1").for_resident()
    assert resident.label == "已受理" and not hasattr(resident, "assignee_id")


def test_latest_open_order_skips_closed_and_cancelled(world):
    h = world.handler(capacity=10)
    older = world.order(reporter_ref="voice:13800000000")
    newer = world.order(reporter_ref="voice:13800000000")
    world.order(reporter_ref="voice:13900000000")
    assert latest_open_order_for_reporter(world.uow(), "voice:13800000000").number == newer.number
    cancel(world.uow(), newer.number, "voice:13800000000", world.tick(minutes=1))
    assert latest_open_order_for_reporter(world.uow(), "voice:13800000000").number == older.number
    accept(world.uow(), older.number, h, world.clock)
    resolve(world.uow(), older.number, h, None, world.clock)
    # resolved still counts: the resident may answer the follow-up
    assert latest_open_order_for_reporter(world.uow(), "voice:13800000000").number == older.number
    assert latest_open_order_for_reporter(world.uow(), "tg:none") is None


def test_duplicates_match_category_grid_and_place(world):
    first = world.order(location_text="幸福里小区 3号楼")
    found = find_open_duplicate(world.uow(), "dispute.neighbor", "grid:qy-dz-01", "幸福里小区3号楼")
    assert found is not None and found.number == first.number
    assert find_open_duplicate(world.uow(), "dispute.property", "grid:qy-dz-01", "幸福里小区3号楼") is None
    assert find_open_duplicate(world.uow(), "dispute.neighbor", "grid:qy-dz-02", "幸福里小区3号楼") is None
    assert find_open_duplicate(world.uow(), "dispute.neighbor", "grid:qy-dz-01", "幸福里小区5号楼") is None
    assert find_open_duplicate(world.uow(), "dispute.neighbor", "grid:qy-dz-01", "幸福里小区3号楼",
                               since=world.clock.replace(year=2026)) is None
    cancel(world.uow(), first.number, first.reporter_ref, world.clock)
    assert find_open_duplicate(world.uow(), "dispute.neighbor", "grid:qy-dz-01", "幸福里小区3号楼") is None


def test_list_orders_filters_and_pages(world):
    h = world.handler(capacity=2)
    numbers = [world.order(reporter_ref=f"tg:{i}").number for i in range(3)]
    world.tick(minutes=1)
    west = world.order(area_code="grid:qy-xz-01", reporter_ref="tg:9")
    page = list_orders(world.uow(), limit=2)
    assert page.total == 4 and [o.number for o in page.items] == [west.number, numbers[2]]
    assert [o.number for o in list_orders(world.uow(), limit=2, offset=2).items] == [
        numbers[1], numbers[0]]
    in_dz = list_orders(world.uow(), OrderFilters(area_codes=["township:qy-dz"]))
    assert {o.number for o in in_dz.items} == set(numbers)
    mine = list_orders(world.uow(), OrderFilters(assignee_id=h, statuses=["assigned"]))
    assert {o.number for o in mine.items} == set(numbers[:2])
    pending = list_orders(world.uow(), OrderFilters(statuses=["pending"]))
    assert {o.number for o in pending.items} == {numbers[2], west.number}


def test_contact_is_masked_unless_revealed(world):
    order = world.order(reporter_contact="13812345678")
    assert reporter_contact(world.uow(), order.number) == "138****5678"
    assert reporter_contact(world.uow(), order.number, reveal=True) == "13812345678"
    assert reporter_contact(world.uow(), world.order().number) is None
    with pytest.raises(NotFound):
        get_order(world.uow(), "12345678")
