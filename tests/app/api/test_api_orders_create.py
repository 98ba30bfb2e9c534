"""POST /api/v1/orders: a real create and dispatch, idempotency, validation in Chinese."""

from __future__ import annotations

from datetime import timedelta

import pytest

from integrations.workorders.domain import is_valid


def test_service_opens_an_order_that_is_dispatched_at_once(any_api):
    api = any_api
    response = api.post("actions", "/api/v1/orders", json={
        "category": "dispute.neighbor", "description": "楼上漏水到我家厨房",
        "location_text": "幸福里小区5号楼", "area_code": "grid:qy-dz-01",
        "reporter_ref": "tg:42", "reporter_contact": "138 1234 5678",
    })
    assert response.status_code == 201, response.text
    body = response.json()
    number = body["number"]
    assert is_valid(number)
    assert response.headers["Location"] == f"/api/v1/orders/{number}"
    # the resident's view: no staff, no contact
    assert body["label"] == "已派单" and body["status"] == "assigned"
    assert set(body) == {"number", "kind", "category_name", "priority", "description",
                         "location_text", "status", "label", "tier", "handler_role",
                         "accept_by", "resolve_by", "latest_note", "created_at", "resolved_at",
                         "awaiting_satisfaction", "attachments"}
    assert (body["kind"], body["priority"], body["tier"], body["handler_role"],
            body["latest_note"]) == ("dispute", "normal", "grid", "人民调解员", None)

    row = api.row(number)
    assert (row.status, row.assignee_id, row.reporter_ref) == ("assigned", api.handlers["h1"], "tg:42")
    assert row.created_at == api.world.clock
    assert row.accept_by == api.world.clock + timedelta(minutes=120)
    assert row.reporter_contact_enc.startswith("v1.") and "13812345678" not in row.reporter_contact_enc
    assert api.actions(number) == ["create", "dispatch"]
    (message,) = api.outbox(number)
    assert (message.recipient_kind, message.recipient_ref, message.topic) == (
        "handler", str(api.handlers["h1"]), "order.assigned")
    assert "tg:42" not in str(message.payload) and "1381234" not in str(message.payload)


def test_staff_get_the_staff_view_and_stand_in_as_reporter(api):
    response = api.post("dispatcher", "/api/v1/orders", json={
        "category": "incident.facility", "description": "路灯不亮", "location_text": "和平街口",
        "area_code": "grid:qy-dz-01",
    })
    assert response.status_code == 201
    body = response.json()
    assert body["assignee_id"] == api.handlers["w1"] and body["status_label"] == "已派单"
    assert body["reporter_ref"] == "web:staff-dispatcher"
    assert "reporter_contact" not in body and body["has_contact"] is False
    assert api.row(body["number"]).reporter_channel == "web"


@pytest.mark.parametrize("how", ["header", "field"])
def test_the_same_idempotency_key_gives_the_same_order(any_api, how):
    api = any_api
    body = {"category": "incident.water", "description": "下水道堵了", "location_text": "3号楼",
            "area_code": "grid:qy-dz-01", "reporter_ref": "tg:77"}
    kw = {"headers": {"Idempotency-Key": "msg-123"}} if how == "header" else {}
    if how == "field":
        body["client_ref"] = "msg-123"
    first = api.post("actions", "/api/v1/orders", json=body, **kw)
    again = api.post("actions", "/api/v1/orders", json=body, **kw)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["number"] == again.json()["number"]
    assert "Location" not in again.headers
    assert len(api.orders()) == 1 and len(api.outbox()) == 1
    # the key of another resident is a conflict, with a reason
    other = api.post("actions", "/api/v1/orders", json={**body, "reporter_ref": "tg:78"}, **kw)
    assert other.status_code == 409
    assert other.json()["detail"]["reason_zh"] == "请求标识已被使用，请重新提交。"


def test_header_and_field_must_agree(api):
    response = api.post("actions", "/api/v1/orders", headers={"Idempotency-Key": "a"}, json={
        "category": "incident.water", "description": "x", "location_text": "y",
        "area_code": "grid:qy-dz-01", "reporter_ref": "tg:1", "client_ref": "b",
    })
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == "client_ref"


def test_unknown_category_is_422_in_chinese(api):
    response = api.post("actions", "/api/v1/orders", json={
        "category": "dispute.aliens", "description": "x", "location_text": "y",
        "area_code": "grid:qy-dz-01", "reporter_ref": "tg:1",
    })
    assert response.status_code == 422
    assert response.json()["detail"] == {
        "reason": "unknown category 'dispute.aliens'", "reason_zh": "未知的事项类别：dispute.aliens",
        "field": "category",
    }
    assert api.orders() == []


@pytest.mark.parametrize("area", ["grid:nowhere", "township:qy-dz"])
def test_unknown_or_non_grid_area_is_422_in_chinese(api, area):
    response = api.post("actions", "/api/v1/orders", json={
        "category": "incident.water", "description": "x", "location_text": "y",
        "area_code": area, "reporter_ref": "tg:1",
    })
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail["field"] == "area_code"
    assert detail["reason_zh"] == "所选区域不存在，请重新选择所在网格。"


def test_overlong_description_is_422_in_chinese(api):
    response = api.post("actions", "/api/v1/orders", json={
        "category": "incident.water", "description": "漏" * 2001, "location_text": "y",
        "area_code": "grid:qy-dz-01", "reporter_ref": "tg:1",
    })
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail["field"] == "description"
    assert detail["reason_zh"] == "描述不能超过2000字"
    assert detail["errors"][0]["location"] == "body"
    # exactly 2000 is fine
    ok = api.report(description="漏" * 2000, category="incident.water")
    assert len(api.row(ok["number"]).description) == 2000


def test_several_problems_are_all_reported(api):
    response = api.post("actions", "/api/v1/orders", json={
        "category": "incident.water", "location_text": "楼" * 201, "area_code": "grid:qy-dz-01",
        "reporter_ref": "tg:1", "priority": "very", "latitude": "north",
    })
    assert response.status_code == 422
    by_field = {e["field"]: e["reason_zh"] for e in response.json()["detail"]["errors"]}
    assert by_field == {
        "description": "缺少描述",
        "location_text": "地点不能超过200字",
        "priority": "紧急程度的取值不正确，可选：normal、urgent",
        "latitude": "纬度必须是数字",
    }


def test_unknown_fields_and_bad_json_are_refused(api):
    typo = api.post("actions", "/api/v1/orders", json={
        "category": "incident.water", "descripton": "x", "description": "x", "location_text": "y",
        "area_code": "grid:qy-dz-01", "reporter_ref": "tg:1",
    })
    assert typo.status_code == 422
    assert "不支持的字段：descripton" in typo.json()["detail"]["reason_zh"]
    broken = api.post("actions", "/api/v1/orders", content=b"{not json",
                      headers={"Content-Type": "application/json"})
    assert broken.status_code == 422
    assert broken.json()["detail"]["reason_zh"] == "请求内容不是有效的 JSON"


def test_the_service_must_name_the_resident(api):
    response = api.post("actions", "/api/v1/orders", json={
        "category": "incident.water", "description": "x", "location_text": "y",
        "area_code": "grid:qy-dz-01",
    })
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == "reporter_ref"


def test_a_body_over_the_limit_is_413(api):
    response = api.post("actions", "/api/v1/orders", json={"description": "x" * 70_000})
    assert response.status_code == 413
    assert response.json()["detail"]["reason_zh"] == "请求内容过大，不能超过64KB。"

    def chunks():  # no Content-Length: counted while reading
        for _ in range(70):
            yield b"x" * 1024

    streamed = api.post("actions", "/api/v1/orders", content=chunks(),
                        headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert api.orders() == []


def test_an_order_nobody_can_take_waits_as_pending(api):
    body = api.report(category="dispute.labor")  # nobody has the skill
    assert body["status"] == "pending" and body["label"] == "已受理"
    assert api.actions(body["number"]) == ["create", "queue"]
    assert api.outbox(body["number"])[0].recipient_kind == "dispatcher"
