"""Reading 研判预警 warnings: order, filters, scope, pages, one warning in full, the open count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event
from warning_rows import add_warning

from integrations.workorders.service import InvalidInput, NotFound
from integrations.workorders.service.warning_queries import (
    get_warning,
    list_warnings,
    open_warning_count,
)

DZ = ("township:qy-dz",)  # 东镇's dispatcher
XZ = ("township:qy-xz",)  # 西镇's dispatcher


def ids(page):
    return [w.id for w in page.items]


def listing(world, **kw):
    kw.setdefault("scope", None)
    return list_warnings(world.uow(), **kw)


def test_open_before_acknowledged_before_closed_most_severe_then_newest_first(any_world):
    w = any_world
    t0 = w.clock
    closed_urgent = add_warning(w, level="urgent", state="closed", created_at=t0)
    old_attention = add_warning(w, level="attention", created_at=t0)
    new_attention = add_warning(w, level="attention", created_at=t0 + timedelta(hours=2))
    old_urgent = add_warning(w, level="urgent", created_at=t0 - timedelta(days=3))
    warning = add_warning(w, level="warning", created_at=t0 + timedelta(hours=1))
    acked_urgent = add_warning(w, level="urgent", state="acknowledged", created_at=t0)
    acked_attention = add_warning(w, level="attention", state="acknowledged",
                                  created_at=t0 + timedelta(days=1))

    page = listing(w)
    assert ids(page) == [old_urgent, warning, new_attention, old_attention,
                         acked_urgent, acked_attention, closed_urgent]
    assert page.total == 7
    assert all(v.orders == () and v.events == () for v in page.items)  # listings stay light


def test_filters_by_kind_level_state_and_area(any_world):
    w = any_world
    repeat = add_warning(w, kind="repeat", level="warning", area_code="grid:qy-dz-01")
    surge = add_warning(w, kind="surge", level="urgent", area_code="grid:qy-dz-02",
                        category="incident.water")
    dispute = add_warning(w, kind="dispute_risk", level="urgent", state="acknowledged",
                          area_code="grid:qy-xz-01")
    hotspot = add_warning(w, kind="hotspot", level="attention", area_code="township:qy-dz",
                          category=None)

    assert set(ids(listing(w, kinds=["surge", "repeat"]))) == {repeat, surge}
    assert set(ids(listing(w, levels=["urgent"]))) == {surge, dispute}
    assert ids(listing(w, states=["acknowledged"])) == [dispute]
    assert ids(listing(w, states=["closed"])) == []
    # an area: it and the areas below it
    assert set(ids(listing(w, area_code="township:qy-dz"))) == {repeat, surge, hotspot}
    assert ids(listing(w, area_code="grid:qy-dz-02")) == [surge]
    assert set(ids(listing(w, area_code="county:qy"))) == {repeat, surge, dispute, hotspot}
    assert ids(listing(w, kinds=["repeat"], area_code="grid:qy-xz-01")) == []
    # empty filters are no filters
    assert listing(w, kinds=[], levels=None, states=[]).total == 4


@pytest.mark.parametrize(("arg", "field", "zh"), [
    ({"kinds": ["flood"]}, "kind", "预警类型的取值不正确"),
    ({"levels": ["high"]}, "level", "预警等级的取值不正确"),
    ({"states": ["done"]}, "state", "处理状态的取值不正确"),
    ({"area_code": "grid:nowhere"}, "area", "没有这个区域"),
])
def test_bad_filters_are_refused_with_a_reason(world, arg, field, zh):
    with pytest.raises(InvalidInput) as caught:
        listing(world, **arg)
    assert caught.value.field == field
    assert caught.value.reason_zh.startswith(zh)


def test_a_dispatcher_sees_only_the_warnings_of_their_areas(any_world):
    w = any_world
    dz_grid = add_warning(w, area_code="grid:qy-dz-01")
    dz_town = add_warning(w, area_code="township:qy-dz", kind="hotspot", category=None)
    xz_grid = add_warning(w, area_code="grid:qy-xz-01")
    county = add_warning(w, area_code="county:qy", kind="hotspot", category=None)

    assert set(ids(listing(w, scope=DZ))) == {dz_grid, dz_town}
    assert ids(listing(w, scope=XZ)) == [xz_grid]
    assert listing(w, scope=XZ).total == 1
    assert set(ids(listing(w, scope=None))) == {dz_grid, dz_town, xz_grid, county}
    assert set(ids(listing(w, scope=("grid:qy-dz-01",)))) == {dz_grid}
    # an area filter outside the scope shows nothing (and says nothing about what is there)
    assert listing(w, scope=XZ, area_code="township:qy-dz").total == 0
    assert set(ids(listing(w, scope=DZ, area_code="county:qy"))) == {dz_grid, dz_town}

    assert get_warning(w.uow(), dz_grid, scope=DZ).id == dz_grid
    for hidden in (xz_grid, county, 9999):
        with pytest.raises(NotFound) as caught:
            get_warning(w.uow(), hidden, scope=DZ)
        assert caught.value.reason_zh == f"未找到预警：{hidden}"


def test_pages_keep_the_total_and_the_order(any_world):
    w = any_world
    made = [add_warning(w, created_at=w.clock + timedelta(minutes=i)) for i in range(7)]
    newest_first = list(reversed(made))
    first = listing(w, limit=3)
    second = listing(w, limit=3, offset=3)
    last = listing(w, limit=3, offset=6)
    beyond = listing(w, limit=3, offset=20)
    assert (first.total, second.total, last.total, beyond.total) == (7, 7, 7, 7)
    assert ids(first) + ids(second) + ids(last) == newest_first
    assert ids(beyond) == []
    assert (first.limit, second.offset) == (3, 3)


def test_one_warning_in_full_with_its_orders_and_history(any_world):
    w = any_world
    earlier = w.order(category="incident.water", description="小区水管爆裂，路面积水。",
                      location_text="幸福里小区3号楼")
    w.tick(days=1)
    older = w.order(category="incident.water", description="楼下水管又漏水了。",
                    location_text="幸福里小区三号楼")
    w.tick(days=5)
    trigger = w.order(category="incident.water", description="三号楼门口的水管又坏了。",
                      location_text="幸福里三号楼门口")
    wid = add_warning(
        w, kind="repeat", level="warning", category="incident.water",
        explanation="幸福里三号楼门口 供排水问题 14天内再次反映，疑似假性整改。",
        details={"earlier": [earlier.number, older.number], "sham": True},
        orders=[(earlier.number, "earlier"), (trigger.number, "trigger"),
                (older.number, "earlier")],
    )
    view = get_warning(w.uow(), wid, scope=DZ)
    assert (view.kind, view.level, view.state) == ("repeat", "warning", "open")
    assert (view.area_code, view.area_name) == ("grid:qy-dz-01", "东镇幸福里网格")
    assert (view.category, view.category_name) == ("incident.water", "供排水问题")
    assert view.order_number == trigger.number
    assert view.details == {"earlier": [earlier.number, older.number], "sham": True}
    assert view.explanation.startswith("幸福里三号楼门口")
    # the order it is about first, then the earlier ones newest first
    assert [(o.number, o.role) for o in view.orders] == [
        (trigger.number, "trigger"), (older.number, "earlier"), (earlier.number, "earlier")]
    assert view.orders[0].location_text == "幸福里三号楼门口"
    assert view.orders[0].status == w.row(trigger.number).status
    assert [(e.action, e.actor, e.level, e.note) for e in view.events] == [
        ("raise", "system", "warning", None)]
    assert view.acknowledged_at is None and view.closed_by is None


def test_a_warning_without_category_or_order(world):
    wid = add_warning(world, kind="hotspot", category=None, area_code="township:qy-dz")
    view = get_warning(world.uow(), wid, scope=None)
    assert (view.category, view.category_name, view.order_number, view.orders) == (
        None, None, None, ())


def test_the_open_count_follows_the_scope(any_world):
    w = any_world
    add_warning(w, area_code="grid:qy-dz-01")
    add_warning(w, area_code="grid:qy-dz-02", level="urgent")
    add_warning(w, area_code="grid:qy-dz-02", state="acknowledged")
    add_warning(w, area_code="grid:qy-dz-01", state="closed")
    add_warning(w, area_code="grid:qy-xz-01")
    assert open_warning_count(w.uow(), scope=DZ) == 2
    assert open_warning_count(w.uow(), scope=XZ) == 1
    assert open_warning_count(w.uow(), scope=None) == 3
    assert open_warning_count(w.uow(), scope=()) == 0


def test_a_page_costs_the_same_statements_however_many_warnings(any_world):
    w = any_world
    orders = [w.order(location_text=f"幸福里{i}号楼") for i in range(3)]

    def statements(**kw):
        seen: list[str] = []

        def count(conn, cursor, statement, *args):
            if statement.lstrip().upper().startswith("SELECT"):
                seen.append(statement)

        event.listen(w.db.engine, "before_cursor_execute", count)
        try:
            page = list_warnings(w.uow(), **kw)
        finally:
            event.remove(w.db.engine, "before_cursor_execute", count)
        return page, len(seen)

    for i in range(3):
        add_warning(w, orders=[(orders[i].number, "trigger")])
    small, few = statements(scope=DZ, limit=50)
    for _ in range(40):
        add_warning(w, kind="surge", area_code="grid:qy-dz-02", category="incident.water",
                    orders=[(o.number, "member") for o in orders])
    large, many = statements(scope=DZ, limit=50)
    assert (small.total, large.total, len(large.items)) == (3, 43, 43)
    assert many == few <= 6  # the areas below the scope (by tier), the counts, the page's group
    assert {v.order_number for v in large.items} == {None} | {o.number for o in orders}


def test_pages_across_states_and_levels_follow_the_listing_order(any_world):
    w = any_world
    states, levels = ("open", "acknowledged", "closed"), ("attention", "warning", "urgent")
    made = {}
    for i in range(23):
        state, level = states[(i * 7) % 3], levels[(i * 5) % 3]
        at = w.clock + timedelta(minutes=(i * 37) % 23)
        made[add_warning(w, state=state, level=level, created_at=at)] = (
            states.index(state), -levels.index(level), -at.timestamp())
    expected = sorted(made, key=lambda wid: (*made[wid], -wid))
    assert ids(listing(w, limit=200)) == expected
    for size in (1, 4, 5, 9):
        pages = [listing(w, limit=size, offset=start) for start in range(0, 23, size)]
        assert [i for page in pages for i in ids(page)] == expected
        assert {page.total for page in pages} == {23}
    assert ids(listing(w, states=["acknowledged"], limit=3, offset=2)) == [
        i for i in expected if made[i][0] == 1][2:5]
