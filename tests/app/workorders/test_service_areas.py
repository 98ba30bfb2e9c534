"""Place resolution: aliases, the fallback grid, the cache; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from integrations.workorders.adapters import store
from integrations.workorders.adapters.orm import Area, AreaAlias
from integrations.workorders.service import (
    AreaMatchView,
    Conflict,
    InvalidInput,
    NotFound,
    add_alias,
    add_area,
    get_area_details,
    list_area_details,
    resolve_area,
    set_fallback_area,
)


def aliases_in_db(world) -> set[tuple[str, str, str]]:
    with world.db.session() as s:
        return {(a.area_code, a.alias, a.alias_key) for a in s.scalars(select(AreaAlias))}


def fallbacks_in_db(world) -> list[str]:
    with world.db.session() as s:
        return list(s.scalars(select(Area.code).where(Area.fallback.is_(True))))


def test_aliases_are_stored_with_their_loose_key_and_listed(any_world):
    w = any_world
    view = add_alias(w.uow(), "grid:qy-dz-01", " 人民路 ")
    add_alias(w.uow(), "grid:qy-dz-01", "ＡＢＣ花园")
    add_alias(w.uow(), "grid:qy-dz-02", "和平街")
    assert (view.code, view.aliases) == ("grid:qy-dz-01", ("人民路",))
    assert aliases_in_db(w) == {("grid:qy-dz-01", "人民路", "人民路"),
                                ("grid:qy-dz-01", "ＡＢＣ花园", "abc花园"),
                                ("grid:qy-dz-02", "和平街", "和平街")}
    details = {a.code: a for a in list_area_details(w.uow())}
    assert details["grid:qy-dz-01"].aliases == ("人民路", "ＡＢＣ花园")
    assert details["county:qy"].aliases == () and details["county:qy"].fallback is False
    assert get_area_details(w.uow(), "grid:qy-dz-02").aliases == ("和平街",)


def test_alias_refusals(any_world):
    w = any_world
    add_alias(w.uow(), "grid:qy-dz-01", "人民路")
    with pytest.raises(Conflict) as same:
        add_alias(w.uow(), "grid:qy-dz-01", "人民 路")  # the same, loosely
    assert same.value.reason_zh == "别名“人民 路”已用于该区域。"
    with pytest.raises(Conflict) as other:
        add_alias(w.uow(), "grid:qy-dz-02", "人民路")
    assert other.value.reason_zh == "别名“人民路”已用于“东镇幸福里网格”。"
    with pytest.raises(Conflict):
        add_alias(w.uow(), "grid:qy-dz-01", "东镇和平街网格")  # another grid's own name
    with pytest.raises(InvalidInput) as township:
        add_alias(w.uow(), "township:qy-dz", "东镇政府")
    assert township.value.reason_zh == "只能为网格添加别名。"
    for bad in ("", "  ", "！？", "长" * 101):
        with pytest.raises(InvalidInput):
            add_alias(w.uow(), "grid:qy-dz-01", bad)
    with pytest.raises(NotFound):
        add_alias(w.uow(), "grid:atlantis", "海底")
    assert aliases_in_db(w) == {("grid:qy-dz-01", "人民路", "人民路")}


def test_resolution_longest_alias_wins_ties_by_code(any_world):
    w = any_world
    add_alias(w.uow(), "grid:qy-dz-02", "菜市场")
    add_alias(w.uow(), "grid:qy-dz-01", "人民路")
    add_alias(w.uow(), "grid:qy-dz-02", "人民路菜市场")
    add_alias(w.uow(), "grid:qy-xz-01", "学校")
    assert resolve_area(w.uow(), "人民路菜市场门口") == AreaMatchView(
        "grid:qy-dz-02", "东镇和平街网格", True, "人民路菜市场")
    assert resolve_area(w.uow(), "人民路3号").code == "grid:qy-dz-01"
    # both match: 人民路 (three characters) beats 学校 (two)
    assert resolve_area(w.uow(), "人民路学校旁边").code == "grid:qy-dz-01"
    # a grid's own name counts like an alias, spelt loosely
    match = resolve_area(w.uow(), "西镇 一网格 学校")
    assert (match.code, match.alias, match.matched) == ("grid:qy-xz-01", "西镇一网格", True)
    # equal length: the smaller area code
    add_alias(w.uow(), "grid:qy-xz-01", "老街")
    add_alias(w.uow(), "grid:qy-dz-02", "新街")
    assert resolve_area(w.uow(), "老街和新街交叉口").code == "grid:qy-dz-02"


def test_no_match_goes_to_the_fallback_grid_or_is_not_found(any_world):
    w = any_world
    with pytest.raises(NotFound) as missing:
        resolve_area(w.uow(), "不知道是哪里")
    assert missing.value.reason_zh == "未能确定所在社区。"

    view = set_fallback_area(w.uow(), "grid:qy-dz-02")
    assert view.fallback is True and fallbacks_in_db(w) == ["grid:qy-dz-02"]
    assert resolve_area(w.uow(), "不知道是哪里") == AreaMatchView(
        "grid:qy-dz-02", "东镇和平街网格", False, None)
    assert resolve_area(w.uow(), "？！").matched is False

    set_fallback_area(w.uow(), "grid:qy-xz-01")  # the previous one stops being it
    assert fallbacks_in_db(w) == ["grid:qy-xz-01"]
    assert resolve_area(w.uow(), "不知道是哪里").code == "grid:qy-xz-01"
    set_fallback_area(w.uow(), "grid:qy-xz-01")  # again: still exactly one
    assert fallbacks_in_db(w) == ["grid:qy-xz-01"]

    with pytest.raises(InvalidInput):
        set_fallback_area(w.uow(), "township:qy-dz")
    with pytest.raises(NotFound):
        set_fallback_area(w.uow(), "grid:atlantis")
    for bad in ("", "   ", "地" * 201):
        with pytest.raises(InvalidInput):
            resolve_area(w.uow(), bad)
    assert fallbacks_in_db(w) == ["grid:qy-xz-01"]


def test_the_database_allows_one_fallback_only(any_world):
    w = any_world
    set_fallback_area(w.uow(), "grid:qy-dz-01")
    with pytest.raises(IntegrityError), w.db.engine.begin() as conn:
        conn.execute(text("UPDATE areas SET fallback = true WHERE code = 'grid:qy-dz-02'"))
    assert fallbacks_in_db(w) == ["grid:qy-dz-01"]


def test_the_cache_sees_changes_made_through_the_service_at_once(any_world):
    w = any_world
    set_fallback_area(w.uow(), "grid:qy-dz-01")
    assert resolve_area(w.uow(), "红旗路").matched is False  # cached now
    add_alias(w.uow(), "grid:qy-xz-01", "红旗路")
    assert resolve_area(w.uow(), "红旗路").code == "grid:qy-xz-01"
    add_area(w.uow(), "grid:qy-xz-02", "西镇红旗路口网格", "grid", "township:qy-xz")
    assert resolve_area(w.uow(), "西镇红旗路口网格").code == "grid:qy-xz-02"
    set_fallback_area(w.uow(), "grid:qy-dz-02")
    assert resolve_area(w.uow(), "别处").code == "grid:qy-dz-02"


def test_the_cache_is_kept_for_a_while_and_read_once(any_world, monkeypatch):
    w = any_world
    add_alias(w.uow(), "grid:qy-dz-01", "人民路")
    reads = []
    real = store.place_index
    monkeypatch.setattr(store, "place_index", lambda *a: reads.append(1) or real(*a))
    for _ in range(5):
        assert resolve_area(w.uow(), "人民路").code == "grid:qy-dz-01"
    assert len(reads) == 1
    # a change by hand (another process) is seen once the entry expires
    with w.db.engine.begin() as conn:
        conn.execute(text("UPDATE area_aliases SET area_code = 'grid:qy-dz-02'"))
    assert resolve_area(w.uow(), "人民路").code == "grid:qy-dz-01"
    monkeypatch.setattr(store, "PLACE_INDEX_TTL_S", 0.0)
    store.forget_place_index()
    assert resolve_area(w.uow(), "人民路").code == "grid:qy-dz-02"
