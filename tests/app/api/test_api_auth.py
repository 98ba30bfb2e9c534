"""Every endpoint × every caller: 401 without a (valid) token, 403 for a role that may not call it.

The table is the access policy; a role listed as allowed must get past the
role check (its answer may still be 404 or 422, but never the role's 403).

Callers: the two channel accounts (``actions``: the action server;
``telegram``: the Telegram adapter), the staff roles, the Telegram token acting
for a chat linked to a handler, dispatcher, supervisor or admin (``tg_*``:
only the handler's and the dispatcher's powers ever pass the bot), and an
Open311 ``api_key`` (good only for filing Open311 requests; elsewhere it is
nobody's token). ``PUBLIC`` rows need no token at all.
"""

from __future__ import annotations

import pytest
from api_support import BOT_ROLES, OPEN311_KEY, ROLES

ACT, TG, H, D, SUP, ADM = ROLES
TGH, TGD, TGS, TGA = BOT_ROLES
O311 = "open311"
CALLERS = (*ROLES, *BOT_ROLES, O311)
AGENTS = frozenset({ACT, TG})
STAFF = frozenset({H, D, SUP, ADM})
REPORTERS = AGENTS | {H, D, ADM}
ACTORS = frozenset({H, D, ADM})
DISPATCH = frozenset({D, ADM})
#: The bot's own calls (linking chats): the Telegram token, whatever chat header it sends.
BOT = frozenset({TG, *BOT_ROLES})
PUBLIC = "public"

RESIDENT = {"reporter_ref": "tg:5001"}


def _with_bot(allowed):
    """What the Telegram token with a linked chat may do: the handler's and dispatcher's part."""
    if allowed == PUBLIC or allowed & set(BOT_ROLES):
        return allowed
    return allowed | ({TGH} if H in allowed else set()) | ({TGD} if D in allowed else set())


#: (method, path, JSON body or form, roles allowed)
ENDPOINTS = [
    ("POST", "/api/v1/orders", {}, REPORTERS),
    ("GET", "/api/v1/orders", None, STAFF),
    ("GET", "/api/v1/orders/latest?reporter_ref=tg:5001", None, AGENTS),
    ("GET", "/api/v1/orders/duplicate?category=incident.water&area_code=grid:qy-dz-01&location=x",
     None, AGENTS),
    ("GET", "/api/v1/orders/{number}?reporter_ref=tg:5001", None, AGENTS | STAFF),
    ("GET", "/api/v1/orders/{number}/history?reporter_ref=tg:5001", None, AGENTS | STAFF),
    ("GET", "/api/v1/orders/{number}/contact", None, DISPATCH),
    ("POST", "/api/v1/orders/{number}/accept", {"handler_id": "{handler_id}"}, ACTORS),
    ("POST", "/api/v1/orders/{number}/decline", {"handler_id": "{handler_id}"}, ACTORS),
    ("POST", "/api/v1/orders/{number}/progress", {"handler_id": "{handler_id}"}, ACTORS),
    ("POST", "/api/v1/orders/{number}/resolve", {"handler_id": "{handler_id}"}, ACTORS),
    ("POST", "/api/v1/orders/{number}/reopen", {}, DISPATCH),
    ("POST", "/api/v1/orders/{number}/reassign", {}, DISPATCH),
    ("POST", "/api/v1/orders/{number}/reclassify", {"category": "dispute.family"}, ACTORS),
    ("POST", "/api/v1/orders/{number}/cancel", RESIDENT, AGENTS),
    ("POST", "/api/v1/orders/{number}/satisfaction", {**RESIDENT, "answer": "satisfied"},
     AGENTS),
    ("POST", "/api/v1/orders/{number}/attach", {**RESIDENT, "description": "还在漏"}, AGENTS),
    ("POST", "/api/v1/orders/{number}/location", {**RESIDENT, "latitude": 30, "longitude": 120},
     AGENTS),
    ("POST", "/api/v1/attachments?reporter_ref=tg:5001", {}, AGENTS),
    ("GET", "/api/v1/attachments/{attachment_id}", None, STAFF),
    ("GET", "/api/v1/orders/{number}/attachments?reporter_ref=tg:5001", None, AGENTS | STAFF),
    ("POST", "/api/v1/orders/{number}/attachments", {**RESIDENT, "attachment_id": "x"}, AGENTS),
    ("POST", "/api/v1/handlers", {}, DISPATCH),
    ("GET", "/api/v1/handlers", None, frozenset({D, SUP, ADM})),
    ("GET", "/api/v1/handlers/{handler_id}", None, frozenset({D, SUP, ADM})),
    ("PATCH", "/api/v1/handlers/{handler_id}", {"capacity": 6}, DISPATCH),
    ("POST", "/api/v1/handlers/{handler_id}/duty", {"on_duty": True}, DISPATCH),
    ("POST", "/api/v1/handlers/{handler_id}/capacity", {"capacity": 6}, DISPATCH),
    ("GET", "/api/v1/areas/resolve?text=幸福里3号楼", None, frozenset({ACT}) | STAFF),
    ("GET", "/api/v1/areas", None, STAFF),
    ("POST", "/api/v1/areas/{code}/aliases", {"alias": "和平街"}, DISPATCH),
    ("POST", "/api/v1/callbacks", {**RESIDENT, "reason": "asked"}, REPORTERS),
    ("GET", "/api/v1/callbacks", None, frozenset({D, SUP, ADM})),
    ("GET", "/api/v1/callbacks/{request_id}", None, frozenset({D, SUP, ADM})),
    ("POST", "/api/v1/callbacks/{request_id}/done", {}, DISPATCH),
    ("POST", "/api/v1/callbacks/{request_id}/transcript", None, frozenset({D, SUP, ADM})),
    ("POST", "/api/v1/callbacks/{request_id}/order", {}, DISPATCH),
    ("POST", "/api/v1/orders/{number}/priority", {"priority": "urgent"}, DISPATCH),
    ("POST", "/api/v1/orders/{number}/notes", {"note": "已电话核实"}, DISPATCH),
    ("POST", "/api/v1/orders/{number}/withdraw", {"reason": "重复反映"}, DISPATCH),
    ("GET", "/api/v1/staff", None, frozenset({ADM})),
    ("POST", "/api/v1/staff", {}, frozenset({ADM})),
    ("PATCH", "/api/v1/staff/{username}", {}, frozenset({ADM})),
    ("POST", "/api/v1/staff/{username}/password", {"password": "a-long-password"},
     frozenset({ADM})),
    ("POST", "/api/v1/staff/{username}/active", {"active": True}, frozenset({ADM})),
    ("POST", "/api/v1/telegram/link-codes", {}, STAFF),
    ("POST", "/api/v1/telegram/links", {"code": "00000000", "chat_id": "1"}, BOT),
    ("DELETE", "/api/v1/telegram/links/{chat_id}", None, BOT),
    ("GET", "/api/v1/metrics", None, frozenset({D, SUP, ADM})),
    ("GET", "/api/v1/worklist", None, DISPATCH),
    ("GET", "/api/v1/worklist/version", None, DISPATCH),
    ("GET", "/api/v1/audit/verify", None, frozenset({SUP, ADM})),
    ("GET", "/api/v1/metrics/dashboard", None, frozenset({D, SUP, ADM})),
    ("GET", "/api/v1/metrics/conversations", None, frozenset({SUP, ADM})),
    ("GET", "/api/v1/warnings", None, frozenset({D, SUP, ADM})),
    ("GET", "/api/v1/warnings/{warning_id}", None, frozenset({D, SUP, ADM})),
    ("POST", "/api/v1/warnings/{warning_id}/ack", {"note": "已知悉"}, frozenset({D, SUP, ADM})),
    ("POST", "/api/v1/warnings/{warning_id}/close", {"note": "已处理"}, frozenset({D, SUP, ADM})),
    ("GET", "/api/v1/exports/orders.csv", None, frozenset({SUP, ADM})),
    ("GET", "/api/v1/exports/scorecard.csv", None, frozenset({SUP, ADM})),
    ("GET", "/metrics", None, frozenset({SUP, ADM})),
    ("GET", "/open311/v2/services.json", None, PUBLIC),
    ("GET", "/open311/v2/services/incident.water.xml", None, PUBLIC),
    ("GET", "/open311/v2/requests.json", None, PUBLIC),
    ("GET", "/open311/v2/requests/{number}.json", None, PUBLIC),
    ("POST", "/open311/v2/requests.json", "form", frozenset({O311})),
    # 研判预警: weekly reports, 合并办理
    ("GET", "/api/v1/reports/weekly?area=township:qy-dz&week=2025-03-03", None,
     frozenset({D, SUP, ADM})),
    ("POST", "/api/v1/reports/weekly", {"area": "township:qy-dz"}, frozenset({D, SUP, ADM})),
    ("GET", "/api/v1/reports/weekly/list", None, frozenset({D, SUP, ADM})),
    ("POST", "/api/v1/warnings/{warning_id}/link", {}, DISPATCH),
]

OPEN311_FORM = {"service_code": "incident.water", "description": "井盖丢失",
                "address_string": "幸福里东门", "attribute[area_code]": "grid:qy-dz-01"}


def _fill(value, number, handler_id):
    if isinstance(value, str):
        value = value.replace("{number}", number).replace("{handler_id}", str(handler_id))
        value = value.replace("{code}", "grid:qy-dz-01").replace("{request_id}", "1")
        value = value.replace("{warning_id}", "1")
        return int(value) if value.isdigit() and value == str(handler_id) else value
    if isinstance(value, dict):
        return {k: _fill(v, number, handler_id) for k, v in value.items()}
    return value


def _send(api, who, method, path, body, number, handler_id):
    path = _fill(path, number, handler_id)
    if who == O311:
        headers = {"Authorization": f"Bearer {OPEN311_KEY}"}
        if body == "form":
            return api.call(None, method, path, data=OPEN311_FORM, headers=headers)
        if body is None:
            return api.call(None, method, path, headers=headers)
        return api.call(None, method, path, json=_fill(body, number, handler_id), headers=headers)
    if body == "form":
        return api.call(who, method, path, data=OPEN311_FORM)
    if body is None:
        return api.call(who, method, path)
    return api.call(who, method, path, json=_fill(body, number, handler_id))


@pytest.mark.parametrize(("method", "path", "body", "allowed"), ENDPOINTS,
                         ids=[f"{m} {p.split('?')[0]}" for m, p, _, _ in ENDPOINTS])
def test_access_policy(api, method, path, body, allowed):
    api.link_staff_chats()
    order = api.report(reporter_ref="tg:5001")
    number, handler_id = order["number"], api.handlers["h1"]

    anonymous = _send(api, None, method, path, body, number, handler_id)
    api.client.headers["Authorization"] = "Bearer not-a-token-of-anybody-at-all"
    try:
        forged = _send(api, None, method, path, body, number, handler_id)
    finally:
        del api.client.headers["Authorization"]
    if allowed == PUBLIC:  # no token needed, and none changes the answer
        # (a dispute is 404 through Open311 for everyone, like a number that does not exist)
        assert anonymous.status_code == forged.status_code, anonymous.text
        assert anonymous.status_code == (404 if "{number}" in path else 200), anonymous.text
        for who in CALLERS:
            assert _send(api, who, method, path, body, number, handler_id).content \
                == anonymous.content
        return
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert forged.status_code == 401, forged.text
    assert forged.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'

    allowed = _with_bot(allowed)
    for who in CALLERS:
        response = _send(api, who, method, path, body, number, handler_id)
        role_refused = response.status_code == 403 and (
            "may not call this endpoint" in response.text or "may file requests" in response.text)
        if who in allowed:
            assert not role_refused, f"{who} refused: {response.text}"
            assert response.status_code != 401
        elif who == O311:  # an Open311 key is nobody's token anywhere else
            assert response.status_code == 401, f"{who} got {response.status_code}"
        else:
            assert role_refused, f"{who} got {response.status_code}: {response.text}"


def test_health_needs_no_token_and_the_docs_are_public(api):
    assert api.get(None, "/health").json() == {"status": "ok", "database": "ok"}
    assert api.get(None, "/openapi.json").status_code == 200
    assert api.get(None, "/docs").status_code == 200


def _template(path: str) -> str:
    """The route template a table row exercises."""
    path = path.split("?")[0]
    path = path.replace("services/incident.water.xml", "services/{service_code}.{fmt}")
    path = path.replace("requests/{number}.json", "requests/{service_request_id}.{fmt}")
    return path.replace(".json", ".{fmt}").replace(".csv", ".{fmt}")


def test_the_table_covers_every_route(api):
    """A new endpoint without a row here fails this test (and so gets an access decision)."""
    documented = {
        (method.upper(), path)
        for path, operations in api.client.get("/openapi.json").json()["paths"].items()
        for method in operations
    }
    covered = {(method, _template(path)) for method, path, _, _ in ENDPOINTS}
    assert documented - {("GET", "/health")} == covered


def test_a_handler_account_without_role_rights_on_another_order(api):
    """Allowed role, another handler's order: 404, exactly like a number that does not exist."""
    order = api.report()
    assert order["number"]
    response = api.post("handler2", f"/api/v1/orders/{order['number']}/accept")
    missing = api.post("handler2", "/api/v1/orders/57401920/accept")
    assert response.status_code == missing.status_code == 404
    assert response.text.replace(order["number"], "N") == missing.text.replace("57401920", "N")
    assert api.row(order["number"]).status == "assigned"


def test_a_deactivated_staff_token_stops_working(api):
    from integrations.workorders.service import set_staff_active

    assert api.get("supervisor", "/api/v1/orders").status_code == 200
    set_staff_active(api.world.uow(), "supervisor", False)
    assert api.get("supervisor", "/api/v1/orders").status_code == 401
