"""/api/v1/warnings: 研判预警 listed (open first, most severe and newest first), read, acknowledged
and closed; dispatchers see their areas only, handlers and channel accounts nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.app.workorders.warning_rows import add_warning, warning_events, warning_row

URL = "/api/v1/warnings"


def iso(at):
    return at.isoformat().replace("+00:00", "Z")


def listed(api, who="admin", expect=200, **params):
    response = api.get(who, URL, params=params)
    assert response.status_code == expect, response.text
    return response.json()


def listed_ids(api, who="admin", **params):
    return [item["id"] for item in listed(api, who, **params)["items"]]


def test_the_listing_puts_open_severe_and_new_warnings_first(any_api):
    api, w = any_api, any_api.world
    t0 = w.clock
    closed = add_warning(w, level="urgent", state="closed", created_at=t0)
    attention = add_warning(w, level="attention", created_at=t0 + timedelta(hours=1))
    urgent_old = add_warning(w, kind="dispute_risk", level="urgent",
                             created_at=t0 - timedelta(days=2))
    urgent_new = add_warning(w, kind="surge", level="urgent", category="incident.water",
                             area_code="grid:qy-dz-02", created_at=t0,
                             explanation="东镇和平街网格 供排水问题 近3小时9件（平时每天约1件）",
                             details={"observed": 9, "expected": 0.4, "window_hours": 3})
    acked = add_warning(w, level="urgent", state="acknowledged", created_at=t0)

    body = listed(api)
    assert [item["id"] for item in body["items"]] == [urgent_new, urgent_old, attention, acked,
                                                      closed]
    assert (body["total"], body["limit"], body["offset"]) == (5, 50, 0)
    assert body["items"][0] == {
        "id": urgent_new, "kind": "surge", "kind_label": "激增",
        "level": "urgent", "level_label": "紧急", "state": "open", "state_label": "待处理",
        "area_code": "grid:qy-dz-02", "area_name": "东镇和平街网格",
        "category": "incident.water", "category_name": "供排水问题",
        "explanation": "东镇和平街网格 供排水问题 近3小时9件（平时每天约1件）",
        "details": {"observed": 9, "expected": 0.4, "window_hours": 3},
        "order_number": None, "created_at": iso(t0), "updated_at": iso(t0),
        "acknowledged_at": None, "acknowledged_by": None, "ack_note": None,
        "closed_at": None, "closed_by": None, "close_note": None,
    }
    labels = {(i["kind_label"], i["level_label"], i["state_label"]) for i in body["items"]}
    assert ("矛盾激化风险", "紧急", "待处理") in labels and ("重复诉求", "紧急", "已知悉") in labels
    assert ("重复诉求", "紧急", "已关闭") in labels and ("重复诉求", "关注", "待处理") in labels


def test_filters_and_pages(api):
    w = api.world
    repeat = add_warning(w, kind="repeat", level="warning")
    surge = add_warning(w, kind="surge", level="urgent", area_code="grid:qy-dz-02")
    far = add_warning(w, kind="dispute_risk", level="urgent", area_code="grid:qy-xz-01",
                      state="acknowledged")
    hotspot = add_warning(w, kind="hotspot", category=None, area_code="township:qy-dz",
                          state="closed")

    assert set(listed_ids(api, kind=["repeat", "surge"])) == {repeat, surge}
    assert set(listed_ids(api, level="urgent")) == {surge, far}
    assert listed_ids(api, state="acknowledged") == [far]
    assert set(listed_ids(api, state=["open", "closed"])) == {repeat, surge, hotspot}
    assert set(listed_ids(api, state="open,closed")) == {repeat, surge, hotspot}
    assert set(listed_ids(api, area="township:qy-dz")) == {repeat, surge, hotspot}
    assert listed_ids(api, area="grid:qy-xz-01") == [far]
    assert listed_ids(api, area="township:qy-dz", level="urgent") == [surge]

    first, second = listed(api, limit=3), listed(api, limit=3, offset=3)
    assert (first["total"], second["total"]) == (4, 4)
    assert len(first["items"]) == 3 and len(second["items"]) == 1
    assert {i["id"] for i in first["items"] + second["items"]} == {repeat, surge, far, hotspot}


@pytest.mark.parametrize(("params", "field", "zh"), [
    ({"kind": "flood"}, "kind", "预警类型的取值不正确，可选：repeat、dispute_risk、surge、hotspot。"),
    ({"kind": ["repeat", "flood"]}, "kind",
     "预警类型的取值不正确，可选：repeat、dispute_risk、surge、hotspot。"),
    ({"level": "high"}, "level", "预警等级的取值不正确，可选：attention、warning、urgent。"),
    ({"state": "done,open"}, "state", "处理状态的取值不正确，可选：open、acknowledged、closed。"),
    ({"area": "grid:nowhere"}, "area", "没有这个区域，请检查区域代码。"),
    ({"limit": 0}, "limit", "每页条数不能小于1"),
    ({"limit": 500}, "limit", "每页条数不能大于200"),
    ({"offset": -1}, "offset", "起始位置不能小于0"),
])
def test_bad_filters_are_422_with_a_reason(api, params, field, zh):
    detail = listed(api, expect=422, **params)["detail"]
    assert detail["field"] == field
    assert detail["reason_zh"] == zh


def test_one_warning_with_its_orders_and_history(any_api):
    api, w = any_api, any_api.world
    earlier = api.report(category="incident.facility", description="楼道灯坏了，晚上很黑。",
                         location_text="幸福里小区3号楼")
    api.tick(days=7)
    trigger = api.report(category="incident.facility", description="三号楼楼道灯又不亮了。",
                         location_text="幸福里三号楼")
    wid = add_warning(
        w, kind="repeat", level="warning", category="incident.facility",
        explanation="幸福里三号楼 公共设施损坏 14天内再次反映，疑似假性整改。",
        orders=[(trigger["number"], "trigger"), (earlier["number"], "earlier")])

    response = api.get("dispatcher", f"{URL}/{wid}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["order_number"], body["kind_label"], body["category_name"]) == (
        wid, trigger["number"], "重复诉求", "公共设施损坏")
    assert [(o["number"], o["role"], o["role_label"]) for o in body["orders"]] == [
        (trigger["number"], "trigger", "触发工单"), (earlier["number"], "earlier", "此前工单")]
    first = body["orders"][0]
    assert (first["location_text"], first["category"], first["created_at"]) == (
        "幸福里三号楼", "incident.facility", trigger["created_at"])
    assert first["status"] == api.row(trigger["number"]).status
    assert first["status_label"] and first["category_name"] == "公共设施损坏"
    assert body["events"] == [{"action": "raise", "action_label": "发出预警", "actor": "system",
                               "at": iso(w.clock), "level": "warning", "level_label": "预警",
                               "note": None}]


def test_acknowledge_then_close(any_api):
    api, w = any_api, any_api.world
    wid = add_warning(w, kind="dispute_risk", level="urgent")
    acked_at = api.tick(minutes=10)
    response = api.post("dispatcher", f"{URL}/{wid}/ack", json={"note": "已联系双方，今晚上门调解。"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["state"], body["state_label"], body["acknowledged_by"], body["ack_note"]) == (
        "acknowledged", "已知悉", "staff:dispatcher", "已联系双方，今晚上门调解。")
    assert body["acknowledged_at"] == body["updated_at"] == iso(acked_at)
    assert body["events"][-1] == {
        "action": "acknowledge", "action_label": "知悉", "actor": "staff:dispatcher",
        "at": iso(acked_at), "level": "urgent", "level_label": "紧急",
        "note": "已联系双方，今晚上门调解。"}
    again = api.post("supervisor", f"{URL}/{wid}/ack", json={"note": "知悉"})
    assert again.status_code == 409
    assert again.json()["detail"]["reason_zh"] == "该预警已知悉，无需重复操作。"

    closed_at = api.tick(hours=5)
    response = api.post("supervisor", f"{URL}/{wid}/close", json={"note": "调解成功，双方签字。"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["state"], body["state_label"], body["closed_by"], body["closed_at"]) == (
        "closed", "已关闭", "staff:supervisor", iso(closed_at))
    assert [e["action"] for e in body["events"]] == ["raise", "acknowledge", "close"]

    again = api.post("admin", f"{URL}/{wid}/close", json={"note": "再关一次"})
    assert again.status_code == 409
    assert again.json()["detail"]["reason_zh"] == "该预警已关闭，无需重复操作。"
    row = warning_row(w, wid)
    assert (row.state, row.closed_by, row.updated_at, row.version) == (
        "closed", "staff:supervisor", closed_at, 3)
    assert [(e.action, e.actor) for e in warning_events(w, wid)] == [
        ("raise", "system"), ("acknowledge", "staff:dispatcher"), ("close", "staff:supervisor")]
    assert listed_ids(api, state="open") == []


@pytest.mark.parametrize("action", ["ack", "close"])
@pytest.mark.parametrize(("body", "zh"), [
    ({}, "缺少说明"),
    (None, "缺少请求内容"),
    ({"note": ""}, "说明不能为空"),
    ({"note": "   "}, "说明不能为空。"),
    ({"note": "说" * 501}, "说明不能超过500字"),
    ({"note": "好", "level": "urgent"}, "不支持的字段：level"),
])
def test_a_note_is_required_and_short(api, action, body, zh):
    wid = add_warning(api.world)
    kw = {} if body is None else {"json": body}
    response = api.post("admin", f"{URL}/{wid}/{action}", **kw)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]["reason_zh"] == zh
    assert warning_row(api.world, wid).state == "open"
    assert [e.action for e in warning_events(api.world, wid)] == ["raise"]


def test_a_dispatcher_never_sees_another_townships_warnings(any_api):
    api, w = any_api, any_api.world
    east = add_warning(w, area_code="grid:qy-dz-01")
    east_town = add_warning(w, area_code="township:qy-dz", kind="hotspot", category=None)
    west = add_warning(w, area_code="grid:qy-xz-01")
    county = add_warning(w, area_code="county:qy", kind="hotspot", category=None)

    assert set(listed_ids(api, "dispatcher")) == {east, east_town}
    assert listed(api, "far_dispatcher")["total"] == 1
    assert listed_ids(api, "far_dispatcher") == [west]
    assert listed_ids(api, "far_dispatcher", area="township:qy-dz") == []
    assert set(listed_ids(api, "supervisor")) == {east, east_town, west, county}
    assert set(listed_ids(api, "admin")) == {east, east_town, west, county}

    missing = api.get("far_dispatcher", f"{URL}/99999")
    assert missing.status_code == 404
    for hidden in (east, county):
        for method, path, kw in (("GET", f"{URL}/{hidden}", {}),
                                 ("POST", f"{URL}/{hidden}/ack", {"json": {"note": "知悉"}}),
                                 ("POST", f"{URL}/{hidden}/close", {"json": {"note": "关闭"}})):
            response = api.call("far_dispatcher", method, path, **kw)
            assert response.status_code == 404, response.text
            assert response.json()["detail"]["reason_zh"] == f"未找到预警：{hidden}"
    assert (warning_row(w, east).state, warning_row(w, county).state) == ("open", "open")
    assert api.get("far_dispatcher", f"{URL}/{west}").status_code == 200


@pytest.mark.parametrize("who", ["handler", "actions", "telegram", "tg_handler", "tg_supervisor"])
def test_handlers_and_channel_accounts_are_refused(api, who):
    api.link_staff_chats()
    wid = add_warning(api.world)
    for method, path, kw in (("GET", URL, {}), ("GET", f"{URL}/{wid}", {}),
                             ("POST", f"{URL}/{wid}/ack", {"json": {"note": "知悉"}}),
                             ("POST", f"{URL}/{wid}/close", {"json": {"note": "关闭"}})):
        response = api.call(who, method, path, **kw)
        assert response.status_code == 403, (who, path, response.text)
    assert warning_row(api.world, wid).state == "open"
    assert [e.action for e in warning_events(api.world, wid)] == ["raise"]


def test_a_dispatcher_acts_through_the_bot_as_through_the_console(api):
    api.link_staff_chats()
    wid = add_warning(api.world)
    response = api.post("tg_dispatcher", f"{URL}/{wid}/ack", json={"note": "收到，马上处理。"})
    assert response.status_code == 200, response.text
    assert response.json()["acknowledged_by"] == "staff:dispatcher"


def test_the_openapi_document_describes_the_warnings(api):
    document = api.client.get("/openapi.json").json()
    paths = document["paths"]
    listing = paths[URL]["get"]
    params = {p["name"]: p for p in listing["parameters"]}
    assert {"kind", "level", "state", "area", "limit", "offset"} <= set(params)
    assert "重复诉求" in params["kind"]["description"]
    assert {"404", "409", "422"} <= set(paths[f"{URL}/{{warning_id}}/close"]["post"]["responses"])
    schemas = document["components"]["schemas"]
    assert {"kind_label", "level_label", "state_label"} <= set(
        schemas["WarningPublic"]["properties"])
    assert {"orders", "events"} <= set(schemas["WarningDetailPublic"]["properties"])
    assert schemas["WarningNote"]["properties"]["note"]["maxLength"] == 500
