"""/api/v1/areas: which grid a place lies in, areas with aliases, adding an alias."""

from __future__ import annotations

from sqlalchemy import select

from integrations.workorders.adapters.orm import AreaAlias
from integrations.workorders.service import set_fallback_area


def resolve(api, text, who="actions"):
    return api.get(who, "/api/v1/areas/resolve", params={"text": text})


def alias_rows(api):
    with api.world.db.session() as s:
        return sorted((a.area_code, a.alias) for a in s.scalars(select(AreaAlias)))


def test_resolve_a_place_then_fall_back(any_api):
    api = any_api
    added = api.post("dispatcher", "/api/v1/areas/grid:qy-dz-02/aliases", json={"alias": "和平街"})
    assert added.status_code == 201, added.text
    assert added.headers["Location"] == "/api/v1/areas/grid:qy-dz-02"
    assert added.json() == {"code": "grid:qy-dz-02", "name": "东镇和平街网格", "tier": "grid",
                            "parent_code": "township:qy-dz", "fallback": False,
                            "aliases": ["和平街"]}
    assert alias_rows(api) == [("grid:qy-dz-02", "和平街")]

    found = resolve(api, "和平街菜市场门口，有人占道经营")
    assert found.status_code == 200, found.text
    assert found.json() == {"code": "grid:qy-dz-02", "name": "东镇和平街网格", "matched": True,
                            "alias": "和平街"}
    own_name = resolve(api, "东镇幸福里网格 5号楼", who="handler").json()
    assert (own_name["code"], own_name["alias"]) == ("grid:qy-dz-01", "东镇幸福里网格")

    nowhere = resolve(api, "不知道在哪")
    assert nowhere.status_code == 404
    assert nowhere.json()["detail"]["reason_zh"] == "未能确定所在社区。"
    set_fallback_area(api.world.uow(), "grid:qy-dz-01")
    assert resolve(api, "不知道在哪").json() == {"code": "grid:qy-dz-01", "name": "东镇幸福里网格",
                                               "matched": False, "alias": None}


def test_resolve_validates_in_chinese(api):
    too_long = resolve(api, "地" * 201)
    assert too_long.status_code == 422
    assert too_long.json()["detail"]["reason_zh"] == "地点描述不能超过200字"
    missing = api.get("actions", "/api/v1/areas/resolve")
    assert missing.json()["detail"]["reason_zh"] == "缺少地点描述"
    blank = resolve(api, "   ")
    assert blank.status_code == 422 and blank.json()["detail"]["field"] == "text"


def test_staff_list_areas_with_aliases_and_the_fallback(api):
    api.post("admin", "/api/v1/areas/grid:qy-xz-01/aliases", json={"alias": "西街"})
    api.post("admin", "/api/v1/areas/grid:qy-xz-01/aliases", json={"alias": "中心小学"})
    set_fallback_area(api.world.uow(), "grid:qy-xz-01")
    listed = api.get("handler", "/api/v1/areas")
    assert listed.status_code == 200
    by_code = {a["code"]: a for a in listed.json()}
    assert list(by_code) == sorted(by_code)
    assert by_code["grid:qy-xz-01"]["aliases"] == ["中心小学", "西街"]
    assert [c for c, a in by_code.items() if a["fallback"]] == ["grid:qy-xz-01"]
    assert by_code["county:qy"] == {"code": "county:qy", "name": "青阳县", "tier": "county",
                                    "parent_code": None, "fallback": False, "aliases": []}


def test_adding_an_alias_is_checked(api):
    outside = api.post("dispatcher", "/api/v1/areas/grid:qy-xz-01/aliases", json={"alias": "西街"})
    assert outside.status_code == 403
    assert outside.json()["detail"]["reason_zh"] == "该区域不在您的管辖范围内。"
    assert api.post("dispatcher", "/api/v1/areas/grid:nowhere/aliases",
                    json={"alias": "西街"}).status_code == 404
    assert api.post("admin", "/api/v1/areas/grid:qy-xz-01/aliases",
                    json={"alias": "西街"}).status_code == 201
    taken = api.post("dispatcher", "/api/v1/areas/grid:qy-dz-01/aliases", json={"alias": "西 街"})
    assert taken.status_code == 409
    assert taken.json()["detail"]["reason_zh"] == "别名“西 街”已用于“西镇一网格”。"
    township = api.post("admin", "/api/v1/areas/township:qy-dz/aliases", json={"alias": "镇上"})
    assert township.status_code == 422
    assert township.json()["detail"] == {
        "reason": "area_code: 'township:qy-dz' is a township, not a grid",
        "reason_zh": "只能为网格添加别名。", "field": "area_code"}
    empty = api.post("admin", "/api/v1/areas/grid:qy-dz-01/aliases", json={"alias": ""})
    assert empty.json()["detail"]["reason_zh"] == "别名不能为空"
    extra = api.post("admin", "/api/v1/areas/grid:qy-dz-01/aliases",
                     json={"alias": "东街", "area": "x"})
    assert extra.status_code == 422
    assert alias_rows(api) == [("grid:qy-xz-01", "西街")]
