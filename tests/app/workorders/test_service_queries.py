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


def test_list_orders_by_kind_overdue_satisfaction_and_search(any_world):
    from integrations.workorders.service import (
        InvalidInput,
        answer_satisfaction,
        order_is_overdue,
    )

    w = any_world
    c = w.handler("县调解中心", tier="county", capacity=10)
    noise = w.order(location_text="幸福里小区3号楼", description="楼上装修噪音很大")
    leak = w.order(location_text="和平街5号楼_东", description="楼顶漏水%")
    trash = w.order(category="incident.sanitation", location_text="菜市场门口",
                    description="垃圾没人清运")  # nobody handles incidents: pending

    def numbers(**kw):
        page = list_orders(w.uow(), OrderFilters(**kw), now=w.clock)
        assert page.total == len(page.items)
        return {o.number for o in page.items}

    assert numbers(kind="incident") == {trash.number}
    assert numbers(kind="dispute") == {noise.number, leak.number}

    # search: the number in any form, else the place or the description
    spoken = "".join("零一二三四五六七八九"[int(d)] for d in noise.number)
    assert numbers(q=spoken) == {noise.number}
    assert numbers(q=f" {noise.number[:4]}-{noise.number[4:]} ") == {noise.number}
    assert numbers(q="5号楼") == {leak.number}
    assert numbers(q="漏水%") == {leak.number}
    assert numbers(q="5号楼_") == {leak.number} and numbers(q="%") == {leak.number}
    assert numbers(q="清运") == {trash.number}
    assert numbers(q="号楼") == {noise.number, leak.number}
    assert numbers(q="  ") == {noise.number, leak.number, trash.number}
    with pytest.raises(InvalidInput):
        numbers(q="很" * 201)

    # overdue: open past resolve_by, or assigned past accept_by
    accept(w.uow(), noise.number, c, w.tick(minutes=5))
    w.tick(minutes=120)  # leak: assigned, accept limit passed
    assert numbers(overdue=True) == {leak.number}
    assert numbers(overdue=False) == {noise.number, trash.number}
    assert order_is_overdue(get_order(w.uow(), leak.number), w.clock)
    assert not order_is_overdue(get_order(w.uow(), noise.number), w.clock)
    w.tick(hours=168)
    assert numbers(overdue=True) == {noise.number, leak.number, trash.number}
    resolve(w.uow(), noise.number, c, "已调解", w.clock)
    assert numbers(overdue=True) == {leak.number, trash.number}  # resolved: not overdue
    with pytest.raises(ValueError):
        list_orders(w.uow(), OrderFilters(overdue=True))

    # satisfaction: the latest answer, or 不满意 at least once
    assert numbers(satisfaction="dissatisfied") == set()
    answer_satisfaction(w.uow(), noise.number, noise.reporter_ref, "unsatisfied", None,
                        w.tick(minutes=1))
    assert numbers(satisfaction="unsatisfied") == {noise.number}
    assert numbers(satisfaction="dissatisfied") == {noise.number}
    row = w.row(noise.number)
    accept(w.uow(), noise.number, row.assignee_id, w.tick(minutes=1))
    resolve(w.uow(), noise.number, row.assignee_id, "再次调解", w.tick(minutes=1))
    answer_satisfaction(w.uow(), noise.number, noise.reporter_ref, "satisfied", None,
                        w.tick(minutes=1))
    assert numbers(satisfaction="unsatisfied") == set()
    assert numbers(satisfaction="satisfied") == {noise.number}
    assert numbers(satisfaction="dissatisfied") == {noise.number}  # once is enough
    with pytest.raises(InvalidInput):
        numbers(satisfaction="happy")
    assert numbers(kind="dispute", satisfaction="satisfied", q="3号楼") == {noise.number}
