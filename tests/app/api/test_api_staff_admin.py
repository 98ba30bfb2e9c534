"""/api/v1/staff (admins) and the callback desk endpoints (transcript reveal, to an order)."""

from __future__ import annotations

from sqlalchemy import select

from integrations.workorders.adapters.orm import StaffAccessLog, StaffUser
from integrations.workorders.service import staff_by_token

TRANSCRIPT = [{"speaker": "resident", "text": "我家门口的下水道又堵了"},
              {"speaker": "resident", "text": "转人工"}]


def access_rows(api):
    with api.world.db.session() as s:
        return [(r.actor, r.action, r.subject)
                for r in s.scalars(select(StaffAccessLog).order_by(StaffAccessLog.id))]


def test_admins_manage_accounts_without_seeing_secrets(api):
    listed = api.get("admin", "/api/v1/staff")
    assert listed.status_code == 200
    names = [a["username"] for a in listed.json()]
    assert names == sorted(names) and "dispatcher" in names
    assert "token" not in listed.text and "argon2" not in listed.text

    made = api.post("admin", "/api/v1/staff", json={
        "username": "zhao", "role": "dispatcher", "areas": ["township:qy-dz"],
        "password": "a good long password"})
    assert made.status_code == 201, made.text
    assert made.headers["Location"] == "/api/v1/staff/zhao"
    assert made.json() == {"id": made.json()["id"], "username": "zhao", "role": "dispatcher",
                           "handler_id": None, "areas": ["township:qy-dz"], "active": True,
                           "telegram_chat_id": None, "has_password": True}
    with api.world.db.session() as s:
        row = s.scalars(select(StaffUser).where(StaffUser.username == "zhao")).one()
        assert row.password_hash.startswith("$argon2id$") and len(row.token_hash) == 64

    changed = api.call("admin", "PATCH", "/api/v1/staff/zhao",
                       json={"areas": ["township:qy-xz"]})
    assert changed.json()["areas"] == ["township:qy-xz"]
    bad = api.call("admin", "PATCH", "/api/v1/staff/zhao", json={"role": "handler"})
    assert bad.status_code == 422
    assert bad.json()["detail"]["reason_zh"] == "请关联处理人员。"
    assert api.post("admin", "/api/v1/staff/zhao/password",
                    json={"password": "short"}).status_code == 422
    assert api.post("admin", "/api/v1/staff/zhao/password",
                    json={"password": "another long password"}).status_code == 200
    assert api.post("admin", "/api/v1/staff/nobody/active",
                    json={"active": False}).status_code == 404
    taken = api.post("admin", "/api/v1/staff", json={"username": "zhao", "role": "supervisor"})
    assert taken.status_code == 409

    off = api.post("admin", "/api/v1/staff/supervisor/active", json={"active": False})
    assert off.status_code == 200 and off.json()["active"] is False
    assert api.get("supervisor", "/api/v1/orders").status_code == 401  # its token stops working
    self_off = api.post("admin", "/api/v1/staff/admin/active", json={"active": False})
    assert self_off.status_code == 409
    assert self_off.json()["detail"]["reason_zh"] == "不能停用自己的账号。"
    assert staff_by_token(api.world.uow(), "token-admin-0123456789abcdefghij") is not None
    assert access_rows(api) == [
        ("staff:admin", "staff_created", "staff:zhao"),
        ("staff:admin", "password_set", "staff:zhao"),
        ("staff:admin", "staff_updated", "staff:zhao"),
        ("staff:admin", "password_set", "staff:zhao"),
        ("staff:admin", "staff_disabled", "staff:supervisor"),
    ]


def _ask(api, **overrides):
    body = {"reporter_ref": "voice:13800001111", "reason": "asked", "transcript": TRANSCRIPT,
            "contact": "13900002222", **overrides}
    response = api.post("actions", "/api/v1/callbacks", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_the_transcript_reveal_is_logged(api):
    request_id = _ask(api)
    response = api.post("dispatcher", f"/api/v1/callbacks/{request_id}/transcript")
    assert response.status_code == 200, response.text
    assert response.json() == {"id": request_id, "transcript": TRANSCRIPT}
    assert access_rows(api) == [("staff:dispatcher", "callback_transcript_revealed",
                                 f"callback:{request_id}")]
    assert api.post("dispatcher", "/api/v1/callbacks/999/transcript").status_code == 404
    assert len(access_rows(api)) == 1


def test_a_dispatcher_turns_a_callback_into_an_order(api):
    request_id = _ask(api)
    body = {"category": "incident.water", "description": "下水道堵塞，污水外溢",
            "location_text": "幸福里小区5号楼", "area_code": "grid:qy-dz-01",
            "note": "已回电确认"}
    outside = api.post("dispatcher", f"/api/v1/callbacks/{request_id}/order",
                       json={**body, "area_code": "grid:qy-xz-01"})
    assert outside.status_code == 403
    response = api.post("dispatcher", f"/api/v1/callbacks/{request_id}/order", json=body)
    assert response.status_code == 201, response.text
    made = response.json()
    number = made["order"]["number"]
    assert response.headers["Location"] == f"/api/v1/orders/{number}"
    assert (made["order"]["status"], made["order"]["assignee_id"]) == (
        "assigned", api.handlers["w1"])
    assert made["order"]["reporter_ref"] == "voice:13800001111"
    assert (made["callback"]["status"], made["callback"]["order_number"],
            made["callback"]["done_by"]) == ("done", number, "staff:dispatcher")
    contact = api.get("dispatcher", f"/api/v1/orders/{number}/contact").json()
    assert contact["contact"] == "13900002222"
    assert api.outbox(number, topic="order.assigned")[0].recipient_ref == str(api.handlers["w1"])

    again = api.post("dispatcher", f"/api/v1/callbacks/{request_id}/order", json=body)
    assert again.status_code == 409
    assert len(api.orders()) == 1
