"""The dispatchers' desk actions over HTTP: priority, notes, cancel with a reason, the
contact reveal as an audit event; and the access rules the console shares (``api.access``)."""

from __future__ import annotations

import pytest

from integrations.workorders.api.access import (
    acting_handler,
    dispatcher_scope,
    require_areas_in_scope,
    require_handler_in_scope,
)
from integrations.workorders.api.deps import Principal
from integrations.workorders.service import Forbidden, InvalidInput, NotFound, verify_audit


def test_a_dispatcher_makes_an_order_urgent(api):
    order = api.report()
    number = order["number"]
    api.tick(minutes=5)
    response = api.post("dispatcher", f"/api/v1/orders/{number}/priority",
                        json={"priority": "urgent", "reason": "涉及老人"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["priority"] == "urgent" and body["status"] == "assigned"
    event = api.events(number)[-1]
    assert (event.action, event.actor, event.note) == (
        "priority", "staff:dispatcher", "from:normal to:urgent 涉及老人")
    (told,) = api.outbox(number, topic="order.priority")
    assert told.recipient_ref == str(api.handlers["h1"]) and told.channel == "telegram"

    again = api.post("dispatcher", f"/api/v1/orders/{number}/priority", json={"priority": "urgent"})
    assert again.status_code == 409
    assert again.json()["detail"]["reason_zh"] == "该工单已是此紧急程度。"
    assert api.post("far_dispatcher", f"/api/v1/orders/{number}/priority",
                    json={"priority": "normal"}).status_code == 404
    assert api.post("dispatcher", f"/api/v1/orders/{number}/priority",
                    json={"priority": "whenever"}).status_code == 422
    assert api.row(number).priority == "urgent"


def test_notes_internal_and_to_the_resident(api):
    number = api.report(reporter_ref="tg:8801")["number"]
    internal = api.post("dispatcher", f"/api/v1/orders/{number}/notes",
                        json={"note": "已与物业沟通"})
    assert internal.status_code == 200, internal.text
    shared = api.post("admin", f"/api/v1/orders/{number}/notes",
                      json={"note": "明天上午有人上门查看", "to_resident": True})
    assert shared.status_code == 200, shared.text
    assert [e.action for e in api.events(number)][-2:] == ["staff_note", "resident_note"]
    (message,) = [m for m in api.outbox(number) if m.recipient_kind == "resident"]
    assert message.payload["text"] == f"关于您反映的工单 {number}，工作人员留言：明天上午有人上门查看。"
    assert message.payload["chat_id"] == "8801"

    staff_view = api.get("dispatcher", f"/api/v1/orders/{number}/history").json()
    assert [e["action_label"] for e in staff_view][-2:] == ["内部备注", "告知居民"]
    mine = api.get("actions", f"/api/v1/orders/{number}/history",
                   params={"reporter_ref": "tg:8801"}).json()
    assert "已与物业沟通" not in str(mine)  # internal notes stay internal
    assert mine[-1]["action"] == "resident_note" and mine[-1]["note"] == "明天上午有人上门查看"
    assert mine[-1]["actor"] == "staff"
    empty = api.post("dispatcher", f"/api/v1/orders/{number}/notes", json={"note": ""})
    assert empty.status_code == 422


def test_withdraw_cancels_with_a_reason_and_tells_both(api):
    number = api.report(reporter_ref="tg:8802")["number"]
    api.post("handler", f"/api/v1/orders/{number}/accept")
    response = api.post("dispatcher", f"/api/v1/orders/{number}/withdraw",
                        json={"reason": "重复反映"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    (told,) = api.outbox(number, topic="order.withdrawn")
    assert told.recipient_ref == str(api.handlers["h1"])
    cancelled = [m for m in api.outbox(number) if m.recipient_kind == "resident"
                 and m.payload["event"] == "cancelled"]
    assert cancelled[0].payload["text"] == (
        f"您反映的工单 {number} 已撤销，原因：重复反映。如有疑问，欢迎再次反映。")
    mine = api.get("actions", f"/api/v1/orders/{number}/history",
                   params={"reporter_ref": "tg:8802"}).json()
    assert (mine[-1]["action"], mine[-1]["label"], mine[-1]["note"]) == (
        "withdraw", "已撤销", "重复反映")

    again = api.post("dispatcher", f"/api/v1/orders/{number}/withdraw", json={"reason": "重复"})
    assert again.status_code == 409
    assert api.post("dispatcher", f"/api/v1/orders/{number}/withdraw",
                    json={}).status_code == 422


def test_the_contact_reveal_is_an_event_the_resident_does_not_see(api):
    number = api.report(reporter_ref="tg:8803", reporter_contact="13812345678")["number"]
    response = api.get("dispatcher", f"/api/v1/orders/{number}/contact")
    assert response.json() == {"number": number, "contact": "13812345678"}
    event = api.events(number)[-1]
    assert (event.action, event.actor) == ("contact_revealed", "staff:dispatcher")
    assert "13812345678" not in str(event.note)
    assert verify_audit(api.world.uow()) == []
    verified = api.get("supervisor", "/api/v1/audit/verify")
    assert verified.status_code == 200 and "13812345678" not in verified.text
    mine = api.get("actions", f"/api/v1/orders/{number}/history",
                   params={"reporter_ref": "tg:8803"}).json()
    assert "contact_revealed" not in [e["action"] for e in mine]
    staff = api.get("dispatcher", f"/api/v1/orders/{number}/history").json()
    assert staff[-1]["action_label"] == "查看联系电话"


# -------------------------------------------------------------- shared access rules


def _principal(api, who):
    return {
        "dispatcher": Principal(role="dispatcher", username="dispatcher",
                                areas=("township:qy-dz",)),
        "far": Principal(role="dispatcher", username="far_dispatcher", areas=("township:qy-xz",)),
        "admin": Principal(role="admin", username="admin"),
        "handler": Principal(role="handler", username="handler", handler_id=api.handlers["h1"]),
    }[who]


def test_the_access_rules_the_console_calls(api):
    uow = api.world.uow()
    near, far = _principal(api, "dispatcher"), _principal(api, "far")
    admin, handler = _principal(api, "admin"), _principal(api, "handler")
    h1 = api.handlers["h1"]
    assert dispatcher_scope(near) == ("township:qy-dz",) and dispatcher_scope(admin) is None

    assert require_handler_in_scope(uow, near, h1).id == h1
    assert require_handler_in_scope(uow, admin, h1).id == h1
    with pytest.raises(Forbidden) as refused:
        require_handler_in_scope(uow, far, h1)
    assert refused.value.reason_zh == "该处理人员不在您的管辖范围内。"
    with pytest.raises(NotFound):
        require_handler_in_scope(uow, admin, 999)

    require_areas_in_scope(uow, near, ["grid:qy-dz-02"])
    require_areas_in_scope(uow, admin, ["grid:qy-xz-01"])
    for areas in (["grid:qy-xz-01"], [], "grid:qy-dz-01"):
        with pytest.raises(Forbidden):
            require_areas_in_scope(uow, near, areas)

    number = api.report()["number"]
    assert acting_handler(uow, handler, number, None) == h1
    assert acting_handler(uow, near, number, h1) == h1
    with pytest.raises(InvalidInput):
        acting_handler(uow, near, number, None)
    with pytest.raises(NotFound):
        acting_handler(uow, far, number, h1)
    with pytest.raises(Forbidden):
        acting_handler(uow, handler, number, api.handlers["h2"])
