"""Staff stay within their areas, channels within their residents, and out of reach is 404.

- a dispatcher changes only handlers whose areas lie within theirs, and only
  within them; ``telegram_chat_id`` changes only through link codes;
- the Telegram token acts for ``tg:`` residents only, and for a linked chat
  only as a handler or dispatcher (never an admin or a supervisor);
- the actions token acts for ``web:``/``tg:``/``voice:`` residents, never for a chat;
- an order outside a staff member's reach answers exactly like a missing number.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from integrations.workorders.adapters.orm import Handler, WorkOrder

MISSING = "57401920"


def _handler(api, key):
    with api.world.db.session() as s:
        return s.get(Handler, api.handlers[key])


def _count(api, model):
    with api.world.db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize(("method", "path", "body"), [
    ("PATCH", "", {"capacity": 9}),
    ("PATCH", "", {"areas": ["grid:qy-xz-01"]}),
    ("POST", "/duty", {"on_duty": False}),
    ("POST", "/capacity", {"capacity": 9}),
])
def test_a_dispatcher_changes_no_handler_of_another_area(api, method, path, body):
    before = _handler(api, "h1")
    response = api.call("far_dispatcher", method, f"/api/v1/handlers/{api.handlers['h1']}{path}",
                        json=body)
    assert response.status_code == 403, response.text
    assert response.json()["detail"]["reason_zh"] == "该处理人员不在您的管辖范围内。"
    after = _handler(api, "h1")
    assert (after.capacity, after.areas, after.on_duty) == (
        before.capacity, before.areas, before.on_duty)


def test_a_dispatcher_keeps_handlers_within_their_areas(api):
    url = f"/api/v1/handlers/{api.handlers['w1']}"
    assert api.call("dispatcher", "PATCH", url, json={"capacity": 7}).json()["capacity"] == 7
    moved = api.call("dispatcher", "PATCH", url, json={"areas": ["grid:qy-xz-01"]})
    assert moved.status_code == 403
    assert moved.json()["detail"]["reason_zh"] == "只能把处理人员安排在您管辖的区域内。"
    widened = api.call("dispatcher", "PATCH", url,
                       json={"areas": ["grid:qy-dz-01", "township:qy-xz"]})
    assert widened.status_code == 403
    assert _handler(api, "w1").areas == ["grid:qy-dz-01"]
    within = api.call("dispatcher", "PATCH", url, json={"areas": ["grid:qy-dz-02"]})
    assert within.status_code == 200 and within.json()["areas"] == ["grid:qy-dz-02"]
    # an admin places anyone anywhere
    assert api.call("admin", "PATCH", url, json={"areas": ["grid:qy-xz-01"]}).status_code == 200
    # ...and then the dispatcher of 东镇 no longer reaches them
    assert api.call("dispatcher", "PATCH", url, json={"capacity": 1}).status_code == 403


def test_a_dispatcher_registers_handlers_only_in_their_areas(api):
    new = {"name": "赵调解", "role": "mediator", "tier": "grid",
           "skills": ["dispute.neighbor"], "capacity": 4}
    handlers = _count(api, Handler)
    for areas in (["grid:qy-xz-01"], [], ["grid:qy-dz-01", "grid:qy-xz-01"]):
        refused = api.post("dispatcher", "/api/v1/handlers", json={**new, "areas": areas})
        assert refused.status_code == 403, (areas, refused.text)
    assert _count(api, Handler) == handlers
    made = api.post("dispatcher", "/api/v1/handlers", json={**new, "areas": ["grid:qy-dz-02"]})
    assert made.status_code == 201
    assert api.post("far_dispatcher", f"/api/v1/handlers/{made.json()['id']}/duty",
                    json={"on_duty": False}).status_code == 403


def test_telegram_chat_id_changes_only_through_link_codes(api):
    url = f"/api/v1/handlers/{api.handlers['h1']}"
    for who in ("dispatcher", "admin"):
        response = api.call(who, "PATCH", url, json={"telegram_chat_id": "555"})
        assert response.status_code == 422, response.text
        assert response.json()["detail"]["field"] == "telegram_chat_id"
        assert response.json()["detail"]["reason_zh"] == (
            "Telegram 只能通过绑定码绑定；此处只能填 null 解除绑定")
    created = api.post("admin", "/api/v1/handlers", json={
        "name": "赵调解", "role": "mediator", "tier": "grid", "skills": ["dispute.neighbor"],
        "areas": ["grid:qy-dz-01"], "capacity": 4, "telegram_chat_id": "556"})
    assert created.status_code == 422
    assert _handler(api, "h1").telegram_chat_id == "700"
    with api.world.db.session() as s:
        assert s.scalar(select(Handler).where(Handler.telegram_chat_id.in_(["555", "556"]))) is None
    # taking a chat away (a lost phone) is allowed: null unlinks
    cleared = api.call("dispatcher", "PATCH", url, json={"telegram_chat_id": None})
    assert cleared.status_code == 200 and cleared.json()["telegram_chat_id"] is None


def test_the_bot_never_carries_admin_or_supervisor_power(api):
    api.link_staff_chats()
    handlers = _count(api, Handler)
    body = {"name": "赵调解", "role": "mediator", "tier": "grid", "skills": ["dispute.neighbor"],
            "areas": ["grid:qy-dz-01"], "capacity": 4}
    refused = api.post("tg_admin", "/api/v1/handlers", json=body)
    assert refused.status_code == 403
    assert refused.json()["detail"]["reason_zh"] == (
        "通过 Telegram 只能办理处理人员或调度员的业务，请使用工作平台。")
    assert _count(api, Handler) == handlers
    api.report()
    for who in ("tg_admin", "tg_supervisor"):
        for path in ("/api/v1/orders", "/api/v1/handlers", "/api/v1/audit/verify",
                     "/api/v1/metrics", "/api/v1/callbacks"):
            assert api.get(who, path).status_code == 403, (who, path)
    # the same people with their own tokens, and a dispatcher through the bot, may
    assert api.post("admin", "/api/v1/handlers", json=body).status_code == 201
    assert api.get("tg_dispatcher", "/api/v1/orders").status_code == 200
    assert api.get("tg_handler", "/api/v1/orders").status_code == 200
    # a dispatcher through the bot is still scoped
    h1 = api.handlers["h1"]
    assert api.call("tg_dispatcher", "PATCH", f"/api/v1/handlers/{h1}",
                    json={"capacity": 6}).status_code == 200
    assert api.post("tg_dispatcher", "/api/v1/handlers",
                    json={**body, "areas": ["grid:qy-xz-01"]}).status_code == 403


RESIDENT_CALLS = [
    ("POST", "/api/v1/orders", {"category": "incident.water", "description": "漏水",
                                "location_text": "幸福里", "area_code": "grid:qy-dz-01"}),
    ("GET", "/api/v1/orders/latest", None),
    ("GET", "/api/v1/orders/{number}", None),
    ("GET", "/api/v1/orders/{number}/history", None),
    ("GET", "/api/v1/orders/{number}/attachments", None),
    ("POST", "/api/v1/orders/{number}/cancel", {}),
    ("POST", "/api/v1/orders/{number}/satisfaction", {"answer": "satisfied"}),
    ("POST", "/api/v1/orders/{number}/attach", {"description": "还在漏"}),
    ("POST", "/api/v1/orders/{number}/location", {"latitude": 30, "longitude": 120}),
    ("POST", "/api/v1/orders/{number}/attachments", {"attachment_id": "x"}),
    ("POST", "/api/v1/attachments", "photo"),
    ("POST", "/api/v1/callbacks", {"reason": "asked"}),
]


def _as_resident(api, who, method, path, body, number, ref):
    path = path.replace("{number}", number)
    if body is None:
        return api.call(who, method, path, params={"reporter_ref": ref})
    if body == "photo":
        return api.call(who, method, path, params={"reporter_ref": ref}, content=b"\x89PNG",
                        headers={"Content-Type": "image/png"})
    return api.call(who, method, path, json={**body, "reporter_ref": ref})


@pytest.mark.parametrize(("method", "path", "body"), RESIDENT_CALLS,
                         ids=[f"{m} {p}" for m, p, _ in RESIDENT_CALLS])
def test_each_channel_speaks_only_for_its_own_residents(api, method, path, body):
    numbers = {ref: api.report(category="incident.water", reporter_ref=ref)["number"]
               for ref in ("web:w1", "voice:h:abc", "tg:77")}
    orders, callbacks = _count(api, WorkOrder), api.outbox(topic="callback.requested")
    for who, ref in (("telegram", "web:w1"), ("telegram", "voice:h:abc"),
                     ("actions", "open311:someone"), ("actions", "staff:admin")):
        response = _as_resident(api, who, method, path, body, numbers.get(ref, MISSING), ref)
        assert response.status_code == 403, (who, ref, response.text)
        assert response.json()["detail"]["reason_zh"] == "该账号无权代表此渠道的居民操作。"
    assert _count(api, WorkOrder) == orders
    assert api.outbox(topic="callback.requested") == callbacks
    assert {n: api.row(n).status for n in numbers.values()} == dict.fromkeys(
        numbers.values(), "assigned")
    for who, ref in (("telegram", "tg:77"), ("actions", "tg:77"), ("actions", "web:w1"),
                     ("actions", "voice:h:abc")):
        response = _as_resident(api, who, method, path, body, numbers[ref], ref)
        assert response.status_code not in (401, 403), (who, ref, response.text)


def test_the_actions_token_acts_for_no_chat(api):
    api.link_staff_chats()
    number = api.report(reporter_ref="tg:5001")["number"]
    for path in (f"/api/v1/orders/{number}?reporter_ref=tg:5001", "/api/v1/orders",
                 "/api/v1/handlers"):
        response = api.get("actions", path, headers={"X-Telegram-Chat": "900"})
        assert response.status_code == 403, path
        assert response.json()["detail"]["reason_zh"] == "该账号不能代表 Telegram 用户操作。"
    linked = api.post("actions", "/api/v1/telegram/links", json={"code": "00000000",
                                                                 "chat_id": "1"})
    assert linked.status_code == 403


STAFF_ORDER_CALLS = [
    ("GET", "", None),
    ("GET", "/history", None),
    ("GET", "/attachments", None),
    ("GET", "/contact", None),
    ("POST", "/accept", {"handler_id": "{h1}"}),
    ("POST", "/decline", {"handler_id": "{h1}"}),
    ("POST", "/progress", {"handler_id": "{h1}", "note": "x"}),
    ("POST", "/resolve", {"handler_id": "{h1}", "note": "x"}),
    ("POST", "/reopen", {}),
    ("POST", "/reassign", {}),
    ("POST", "/reclassify", {"category": "dispute.family"}),
]


@pytest.mark.parametrize(("method", "path", "body"), STAFF_ORDER_CALLS,
                         ids=[f"{m} {p or '/'}" for m, p, _ in STAFF_ORDER_CALLS])
@pytest.mark.parametrize("who", ["far_dispatcher", "handler2", "tg_handler"])
def test_an_order_out_of_reach_is_a_missing_order(api, who, method, path, body):
    """A dispatcher of another area, or a handler it is not assigned to: the same 404."""
    api.link_staff_chats()
    number = api.report()["number"]  # 王调解's (h1)
    if who == "tg_handler":  # through the bot as 李调解 (h2), whose chat is 701
        headers = {"X-Telegram-Chat": "701"}
        who = "telegram"
    else:
        headers = {}
    if body is not None:
        body = {k: api.handlers["h1"] if v == "{h1}" else v for k, v in body.items()}
    if who in ("handler2", "telegram") and body is not None:
        body.pop("handler_id", None)  # a handler acts for themself
    real = api.call(who, method, f"/api/v1/orders/{number}{path}", json=body, headers=headers)
    missing = api.call(who, method, f"/api/v1/orders/{MISSING}{path}", json=body,
                       headers=headers)
    if missing.status_code == 403:  # the role may not call it at all: the same for both
        assert real.status_code == 403 and "may not call" in real.text
        return
    assert (real.status_code, missing.status_code) == (404, 404), real.text
    assert real.text.replace(number, "N") == missing.text.replace(MISSING, "N")
    assert api.row(number).status == "assigned" and api.row(number).assignee_id == \
        api.handlers["h1"]


def test_a_dispatcher_reassigns_only_to_handlers_within_their_areas(api):
    far = api.post("admin", "/api/v1/handlers", json={
        "name": "西镇调解员", "role": "mediator", "tier": "grid", "skills": ["dispute.neighbor"],
        "areas": ["grid:qy-xz-01"], "capacity": 5})
    assert far.status_code == 201, far.text
    order = api.report()
    before = api.get("dispatcher", f"/api/v1/orders/{order['number']}").json()["assignee_id"]
    refused = api.post("dispatcher", f"/api/v1/orders/{order['number']}/reassign",
                       json={"handler_id": far.json()["id"], "reason": "试试"})
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"]["reason_zh"] == "只能把工单改派给您管辖区域内的处理人员。"
    assert api.get("dispatcher", f"/api/v1/orders/{order['number']}").json()["assignee_id"] == before
    # within the area it works, and an admin may send it anywhere
    inside = api.post("dispatcher", f"/api/v1/orders/{order['number']}/reassign",
                      json={"handler_id": api.handlers["h2"], "reason": "换人"})
    assert inside.status_code == 200 and inside.json()["assignee_id"] == api.handlers["h2"]
    anywhere = api.post("admin", f"/api/v1/orders/{order['number']}/reassign",
                        json={"handler_id": far.json()["id"], "reason": "跨镇协调"})
    assert anywhere.status_code == 200 and anywhere.json()["assignee_id"] == far.json()["id"]


@pytest.mark.parametrize("ref", ["tg:5001", "voice:h:0123456789abcdef0123456789abcdef"])
def test_staff_cannot_file_under_a_chats_or_a_callers_id(api, ref):
    """A dispatcher filing for a walk-in resident cannot make the service write to a chat."""
    before = _count(api, WorkOrder)
    refused = api.report(who="dispatcher", reporter_ref=ref, expect=403)
    assert refused["detail"]["reason_zh"] == "工作人员代为登记时不能使用居民的聊天或来电身份。"
    callback = api.post("dispatcher", "/api/v1/callbacks", json={"reporter_ref": ref, "reason": "asked"})
    assert callback.status_code == 403, callback.text
    assert _count(api, WorkOrder) == before
    # under their own or a web id it works
    assert api.report(who="dispatcher", reporter_ref="web:walk-in-1")["reporter_ref"] == "web:walk-in-1"
