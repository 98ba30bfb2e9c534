"""/api/v1/handlers: register, change, duty, capacity, read with load."""

from __future__ import annotations

from sqlalchemy import select

from integrations.workorders.adapters.orm import Handler


def _row(api, handler_id):
    with api.world.db.session() as s:
        return s.scalars(select(Handler).where(Handler.id == handler_id)).one()


def test_register_and_read(any_api):
    api = any_api
    response = api.post("admin", "/api/v1/handlers", json={
        "name": "赵调解", "role": "mediator", "tier": "grid", "skills": ["dispute.neighbor"],
        "areas": ["grid:qy-dz-02"], "capacity": 4, "phone": "13912345678",
    })
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["Location"] == f"/api/v1/handlers/{body['id']}"
    assert body["name"] == "赵调解" and body["phone_masked"] == "139****5678" and body["load"] == 0
    row = _row(api, body["id"])
    assert row.name_enc.startswith("v1.") and "赵" not in row.name_enc
    assert row.phone_enc.startswith("v1.") and row.phone_hash
    read = api.get("supervisor", f"/api/v1/handlers/{body['id']}").json()
    assert read == body
    assert "13912345678" not in api.get("supervisor", "/api/v1/handlers").text


def test_load_counts_open_orders(api):
    api.report()
    api.report(priority="urgent")
    loads = {h["id"]: h["load"] for h in api.get("dispatcher", "/api/v1/handlers").json()}
    assert loads[api.handlers["h1"]] + loads[api.handlers["h2"]] == 4  # 1 + 3
    only = api.get("dispatcher", "/api/v1/handlers", params={"role": "grid_worker"}).json()
    assert [h["id"] for h in only] == [api.handlers["w1"]]


def test_patch_duty_and_capacity(any_api):
    api = any_api
    h2 = api.handlers["h2"]
    patched = api.call("dispatcher", "PATCH", f"/api/v1/handlers/{h2}",
                       json={"phone": "13700000001", "skills": ["dispute.neighbor", "dispute.labor"]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["phone_masked"] == "137****0001"
    assert _row(api, h2).skills == ["dispute.labor", "dispute.neighbor"]
    cleared = api.call("dispatcher", "PATCH", f"/api/v1/handlers/{h2}",
                       json={"phone": None, "telegram_chat_id": None})
    assert cleared.json()["phone_masked"] is None and cleared.json()["telegram_chat_id"] is None
    assert _row(api, h2).phone_hash is None

    off = api.post("dispatcher", f"/api/v1/handlers/{h2}/duty", json={"on_duty": False})
    assert off.json()["on_duty"] is False and _row(api, h2).on_duty is False
    capacity = api.post("admin", f"/api/v1/handlers/{h2}/capacity", json={"capacity": 9})
    assert capacity.json()["capacity"] == 9 and _row(api, h2).capacity == 9


def test_freed_capacity_dispatches_the_queue(api):
    labor = api.report(category="dispute.labor")["number"]
    assert api.row(labor).status == "pending"
    api.call("dispatcher", "PATCH", f"/api/v1/handlers/{api.handlers['h2']}",
             json={"skills": ["dispute.neighbor", "dispute.labor"]})
    assert api.row(labor).status == "assigned"
    assert api.row(labor).assignee_id == api.handlers["h2"]


def test_handler_validation(api):
    bad = api.post("admin", "/api/v1/handlers", json={
        "name": "", "role": "mediator", "tier": "grid", "skills": [], "areas": [], "capacity": -1,
    })
    assert bad.status_code == 422
    reasons = {e["field"]: e["reason_zh"] for e in bad.json()["detail"]["errors"]}
    assert reasons == {"name": "姓名不能为空", "capacity": "承办上限不能小于0"}
    unknown = api.post("admin", "/api/v1/handlers", json={
        "name": "钱", "role": "mediator", "tier": "grid", "skills": ["dispute.neighbor"],
        "areas": ["grid:atlantis"], "capacity": 3,
    })
    assert unknown.status_code == 422
    assert unknown.json()["detail"] == {"reason": "areas: unknown areas: ['grid:atlantis']",
                                        "reason_zh": "负责区域不存在。", "field": "areas"}
    assert api.get("admin", "/api/v1/handlers/9999").status_code == 404
    assert api.post("admin", "/api/v1/handlers/9999/duty", json={"on_duty": True}).status_code == 404
