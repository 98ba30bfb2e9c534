"""``POST /api/v1/warnings/{id}/link`` over HTTP: a surge's reports under one parent order."""

from __future__ import annotations

from sqlalchemy import select

from integrations.workorders.adapters.orm import WorkOrder
from integrations.workorders.adapters.warnings_tables import RiskWarning, WarningOrder

LEAK = {"category": "incident.water", "description": "小区东门自来水管爆裂，水流到路上了。",
        "location_text": "幸福里小区东门"}


def surge(api, numbers, *, area="grid:qy-dz-01", category="incident.water") -> int:
    with api.world.db.session() as s:
        warning = RiskWarning(
            kind="surge", level="warning", state="open", area_code=area, category=category,
            dedupe_key=f"surge:{area}:{category}:{numbers[0]}", explanation="激增",
            details={}, order_id=None, created_at=api.world.clock,
            updated_at=api.world.clock)
        s.add(warning)
        s.flush()
        for number in numbers:
            order_id = s.scalar(select(WorkOrder.id).where(WorkOrder.number == number))
            s.add(WarningOrder(warning_id=warning.id, order_id=order_id, role="member",
                               added_at=api.world.clock))
        s.commit()
        return warning.id


def burst(api):
    numbers = []
    for i in range(3):
        numbers.append(api.report(**LEAK, reporter_ref=f"tg:{7100 + i}")["number"])
        api.tick(minutes=3)
    return numbers, surge(api, numbers)


def test_a_dispatcher_links_a_surge(api):
    (first, second, third), warning_id = burst(api)
    response = api.post("dispatcher", f"/api/v1/warnings/{warning_id}/link", json={})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {"warning_id": warning_id, "parent_number": first, "children": [
        {"number": second, "status": "pending", "status_label": "待派单"},
        {"number": third, "status": "pending", "status_label": "待派单"}]}
    parent_id = api.row(first).id
    for number, chat in ((second, "7101"), (third, "7102")):
        assert (api.row(number).parent_id, api.row(number).assignee_id) == (parent_id, None)
        (told,) = [m for m in api.outbox(number, recipient_kind="resident")
                   if m.payload["event"] == "linked"]
        assert told.payload["chat_id"] == chat and first in told.payload["text"]
    # the worker's 签收 of the parent reaches all three residents, once each
    accepted = api.post("worker", f"/api/v1/orders/{first}/accept", json={})
    assert accepted.status_code == 200, accepted.text
    for i in range(3):
        rows = [m for m in api.outbox(recipient_kind="resident", recipient_ref=f"tg:{7100 + i}")
                if m.payload["event"] == "accepted"]
        assert len(rows) == 1
    staff_view = api.get("dispatcher", f"/api/v1/orders/{second}").json()
    assert (staff_view["parent_number"], staff_view["status"]) == (first, "pending")
    assert api.get("dispatcher", f"/api/v1/orders/{first}").json()["parent_number"] is None
    history = api.get("dispatcher", f"/api/v1/orders/{second}/history").json()
    assert history[-1]["action_label"] == "并入主工单"
    again = api.post("dispatcher", f"/api/v1/warnings/{warning_id}/link")
    assert again.status_code == 409


def test_the_parent_may_be_named(api):
    (first, second, third), warning_id = burst(api)
    response = api.post("admin", f"/api/v1/warnings/{warning_id}/link",
                        json={"parent_number": third})
    assert response.status_code == 200, response.text
    assert response.json()["parent_number"] == third
    assert [c["number"] for c in response.json()["children"]] == [first, second]


def test_who_may_link(api):
    (first, _, _), warning_id = burst(api)
    path = f"/api/v1/warnings/{warning_id}/link"
    for who in ("supervisor", "handler", "worker", "actions", "telegram"):
        assert api.post(who, path, json={}).status_code == 403, who
    assert api.post(None, path, json={}).status_code == 401
    assert api.post("far_dispatcher", path, json={}).status_code == 404
    assert api.post("dispatcher", "/api/v1/warnings/99999/link", json={}).status_code == 404
    assert api.post("dispatcher", path, json={"parent_number": "00000000"}).status_code == 404
    assert api.post("dispatcher", path, json={"parent": first}).status_code == 422
    assert api.row(first).status == "assigned"
    assert all(o.parent_id is None for o in api.orders())


def test_disputes_are_never_merged(api):
    numbers = [api.report(reporter_ref=f"tg:{7200 + i}")["number"] for i in range(2)]
    warning_id = surge(api, numbers, category="dispute.neighbor")
    response = api.post("dispatcher", f"/api/v1/warnings/{warning_id}/link", json={})
    assert response.status_code == 422
    assert response.json()["detail"]["reason_zh"] == "矛盾纠纷和个人诉求不能合并办理，请分别处理。"
