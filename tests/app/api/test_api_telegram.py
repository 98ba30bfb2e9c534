"""Linking Telegram chats (绑定码) and the bot acting as the linked person (X-Telegram-Chat).

The world is ``api_support``'s: 王调解 (h1, chat 700, account ``handler``), 李调解 (h2,
chat 701), 张网格 (w1); dispatcher for 东镇, far_dispatcher for 西镇.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from api_support import T0
from sqlalchemy import select, text

from integrations.workorders.adapters.orm import Handler, StaffUser, TelegramLinkCode
from integrations.workorders.service import set_staff_active

INVALID_ZH = "绑定码无效或已过期，请向管理员重新获取。"
TOO_MANY_ZH = "尝试次数过多，请15分钟后再试。"
NOT_LINKED_ZH = "您的 Telegram 账号尚未绑定处理人员，请先发送绑定码。"


def code_for(api, who="admin", expect=201, **body):
    response = api.post(who, "/api/v1/telegram/link-codes", json=body)
    assert response.status_code == expect, response.text
    return response.json()


def link(api, code, chat_id, expect=200):
    response = api.post("telegram", "/api/v1/telegram/links",
                        json={"code": code, "chat_id": chat_id})
    assert response.status_code == expect, response.text
    return response.json()


def as_chat(api, chat_id, method, path, **kw):
    return api.call("telegram", method, path, headers={"X-Telegram-Chat": str(chat_id)}, **kw)


def chats(api) -> dict[str, str | None]:
    with api.world.db.session() as s:
        found = {f"h:{h.id}": h.telegram_chat_id for h in s.scalars(select(Handler))}
        found.update({u.username: u.telegram_chat_id for u in s.scalars(select(StaffUser))})
        return found


def codes(api) -> list[TelegramLinkCode]:
    with api.world.db.session() as s:
        return list(s.scalars(select(TelegramLinkCode).order_by(TelegramLinkCode.id)))


# ---------------------------------------------------------------------- linking


def test_a_code_links_a_chat_to_a_handler_once(any_api):
    api = any_api
    h1 = api.handlers["h1"]
    issued = code_for(api, handler_id=h1)
    code = issued["code"]
    assert len(code) == 8 and code.isdigit()
    assert issued["expires_at"].startswith((T0 + timedelta(hours=24)).isoformat()[:19])

    (row,) = codes(api)
    assert row.code_hash == hashlib.sha256(code.encode()).hexdigest()
    assert (row.handler_id, row.staff_user_id, row.used_at, row.created_by) == (
        h1, None, None, "staff:admin")
    with api.world.db.engine.connect() as conn:  # only the hash is kept
        stored = conn.execute(text("SELECT * FROM telegram_link_codes")).one()
    assert all(code not in str(value) for value in stored)

    linked = link(api, f" {code[:4]} {code[4:]} ", 123456)  # spaces as people type them
    assert linked == {"kind": "handler", "role": "mediator", "handler_id": h1, "username": None}
    assert chats(api)[f"h:{h1}"] == "123456"
    assert codes(api)[0].used_at == api.world.clock

    again = link(api, code, "999", expect=404)
    assert again["detail"]["reason_zh"] == INVALID_ZH
    assert chats(api)[f"h:{h1}"] == "123456"


def test_a_chat_belongs_to_one_person(api):
    h1, h2 = api.handlers["h1"], api.handlers["h2"]
    link(api, code_for(api, username="supervisor")["code"], "701")
    assert chats(api)[f"h:{h2}"] is None and chats(api)["supervisor"] == "701"
    assert link(api, code_for(api, handler_id=h1)["code"], "701")["handler_id"] == h1
    assert (chats(api)[f"h:{h1}"], chats(api)["supervisor"]) == ("701", None)


def test_a_staff_account_is_linked_by_username(api):
    linked = link(api, code_for(api, username="dispatcher")["code"], "-900")
    assert linked == {"kind": "staff", "role": "dispatcher", "handler_id": None,
                      "username": "dispatcher"}
    assert chats(api)["dispatcher"] == "-900"
    # a handler account's username means its handler
    issued = code_for(api, username="handler")
    assert link(api, issued["code"], "555")["handler_id"] == api.handlers["h1"]


def test_a_new_code_ends_the_older_one_and_codes_expire(api):
    h1 = api.handlers["h1"]
    first = code_for(api, handler_id=h1)["code"]
    second = code_for(api, handler_id=h1)["code"]
    other = code_for(api, handler_id=api.handlers["h2"])["code"]  # another person's stays
    assert link(api, first, "1", expect=404)["detail"]["reason_zh"] == INVALID_ZH
    assert link(api, second, "1")["handler_id"] == h1

    api.tick(hours=24)
    assert link(api, other, "2", expect=404)["detail"]["reason_zh"] == INVALID_ZH
    fresh = code_for(api, handler_id=api.handlers["h2"])["code"]
    api.tick(hours=23, minutes=59)
    assert link(api, fresh, "2")["handler_id"] == api.handlers["h2"]


def test_wrong_codes_from_one_chat_are_limited(any_api):
    api = any_api
    code = code_for(api, handler_id=api.handlers["h1"])["code"]
    wrong = f"{(int(code) + 1) % 10 ** 8:08d}"
    for _ in range(5):
        assert link(api, wrong, "-555", expect=404)["detail"]["reason_zh"] == INVALID_ZH
    refused = api.post("telegram", "/api/v1/telegram/links", json={"code": code, "chat_id": "-555"})
    assert refused.status_code == 429  # even the right code: no more guessing
    assert refused.json()["detail"]["reason_zh"] == TOO_MANY_ZH
    assert refused.headers["Retry-After"] == "900"
    assert link(api, "not a code", "-555", expect=429)
    assert chats(api)[f"h:{api.handlers['h1']}"] == "700"

    api.tick(minutes=14)
    link(api, code, "-555", expect=429)
    api.tick(minutes=1)  # the first failures are 15 minutes old
    assert link(api, code, "-555")["handler_id"] == api.handlers["h1"]


def test_the_limit_is_per_chat(api):
    code = code_for(api, handler_id=api.handlers["h2"])["code"]
    for _ in range(6):
        link(api, "00000000", "-1", expect=404 if _ < 5 else 429)
    assert link(api, code, "-2")["handler_id"] == api.handlers["h2"]


def test_who_may_issue_codes_for_whom(api):
    h1, h2 = api.handlers["h1"], api.handlers["h2"]
    assert code_for(api, "dispatcher", handler_id=h1)  # h1 works in 东镇
    refused = code_for(api, "far_dispatcher", expect=403, handler_id=h1)
    assert refused["detail"]["reason_zh"] == "您只能为本辖区的处理人员生成绑定码。"
    code_for(api, "dispatcher", expect=403, username="supervisor")
    code_for(api, "dispatcher", username="handler")  # a handler account of the area
    assert code_for(api, "dispatcher", username="dispatcher")  # themself
    code_for(api, "handler", expect=403, handler_id=h2)
    code_for(api, "supervisor", expect=403, handler_id=h1)
    code_for(api, "admin", expect=404, handler_id=99999)
    code_for(api, "admin", expect=404, username="nobody")
    both = code_for(api, "admin", expect=422, handler_id=h1, username="supervisor")
    assert both["detail"]["reason_zh"] == "请指定处理人员或工作人员账号（二选一）。"
    assert code_for(api, "admin", expect=422, chat_id="1")  # unknown field

    # themselves, with an empty body: a handler gets a code for their handler
    mine = api.post("handler", "/api/v1/telegram/link-codes")
    assert mine.status_code == 201
    assert link(api, mine.json()["code"], "42")["handler_id"] == h1
    theirs = code_for(api, "supervisor")
    assert link(api, theirs["code"], "43")["username"] == "supervisor"
    set_staff_active(api.world.uow(), "supervisor", False)
    assert link(api, code_for(api, username="admin")["code"], "44")["role"] == "admin"


def test_a_deactivated_account_cannot_use_its_code(api):
    code = code_for(api, username="supervisor")["code"]
    set_staff_active(api.world.uow(), "supervisor", False)
    assert link(api, code, "77", expect=404)["detail"]["reason_zh"] == INVALID_ZH


def test_unlinking_a_chat_is_idempotent(api):
    h1 = api.handlers["h1"]
    response = api.call("telegram", "DELETE", "/api/v1/telegram/links/700")
    assert response.status_code == 204 and response.content == b""
    assert chats(api)[f"h:{h1}"] is None
    assert api.call("telegram", "DELETE", "/api/v1/telegram/links/700").status_code == 204
    assert api.call("dispatcher", "DELETE", "/api/v1/telegram/links/701").status_code == 403
    assert chats(api)[f"h:{api.handlers['h2']}"] == "701"


def test_the_bots_own_calls_ignore_the_chat_header(api):
    """Linking is done for a chat not linked yet: the header must not get in the way."""
    code = code_for(api, handler_id=api.handlers["h2"])["code"]
    response = as_chat(api, "8080", "POST", "/api/v1/telegram/links",
                       json={"code": code, "chat_id": "8080"})
    assert response.status_code == 200, response.text
    assert as_chat(api, "8080", "DELETE", "/api/v1/telegram/links/8080").status_code == 204


# ------------------------------------------------------------ acting as the chat


def test_the_bot_acts_as_the_linked_handler(any_api):
    api = any_api
    h1, h2 = api.handlers["h1"], api.handlers["h2"]
    mine = api.report()
    theirs = api.report(location_text="幸福里小区5号楼")
    assert (api.row(mine["number"]).assignee_id, api.row(theirs["number"]).assignee_id) == (h1, h2)

    listed = as_chat(api, 700, "GET", "/api/v1/orders")
    assert listed.status_code == 200, listed.text
    assert [o["number"] for o in listed.json()["items"]] == [mine["number"]]
    assert listed.json()["items"][0]["reporter_ref"] is None  # as for a handler's token

    accepted = as_chat(api, 700, "POST", f"/api/v1/orders/{mine['number']}/accept")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    progressed = as_chat(api, 700, "POST", f"/api/v1/orders/{mine['number']}/progress",
                         json={"note": "已上门了解情况"})
    assert progressed.json()["status"] == "in_progress"
    resolved = as_chat(api, 700, "POST", f"/api/v1/orders/{mine['number']}/resolve",
                       json={"note": "双方已达成协议"})
    assert resolved.json()["status"] == "resolved"
    assert [(e.action, e.actor) for e in api.events(mine["number"])][2:] == [
        ("accept", f"handler:{h1}"), ("progress", f"handler:{h1}"), ("resolve", f"handler:{h1}")]

    other = as_chat(api, 700, "POST", f"/api/v1/orders/{theirs['number']}/accept")
    assert other.status_code == 404  # not theirs: like a number that does not exist
    declined = as_chat(api, 701, "POST", f"/api/v1/orders/{theirs['number']}/decline",
                       json={"reason": "不在辖区"})
    assert declined.status_code == 200
    assert api.events(theirs["number"])[2].actor == f"handler:{h2}"
    # what a resident's agent may do, a handler may not
    refused = as_chat(api, 700, "GET", "/api/v1/orders/latest?reporter_ref=tg:5001")
    assert refused.status_code == 403


def test_a_linked_handler_is_named_by_their_account_or_their_id(api):
    as_chat(api, 700, "POST", "/api/v1/telegram/link-codes")
    lone = api.world.handler("赵调解", telegram_chat_id="702")  # no staff account
    assert as_chat(api, 702, "POST", "/api/v1/telegram/link-codes").status_code == 201
    assert [c.created_by for c in codes(api)] == ["staff:handler", f"staff:handler{lone}"]
    assert [c.handler_id for c in codes(api)] == [api.handlers["h1"], lone]


def test_the_bot_acts_as_a_linked_dispatcher_and_sees_the_pending_queue(any_api):
    api = any_api
    link(api, code_for(api, username="dispatcher")["code"], "-900")
    link(api, code_for(api, username="far_dispatcher")["code"], "-901")
    waiting = api.report(category="dispute.labor")  # nobody has the skill: pending
    assert waiting["status"] == "pending"
    api.report()  # assigned, not in the queue

    queue = as_chat(api, -900, "GET", "/api/v1/orders?status=pending")
    assert queue.status_code == 200, queue.text
    assert [o["number"] for o in queue.json()["items"]] == [waiting["number"]]
    far = as_chat(api, -901, "GET", "/api/v1/orders?status=pending")
    assert far.json()["items"] == []

    placed = as_chat(api, -900, "POST", f"/api/v1/orders/{waiting['number']}/reassign",
                     json={"handler_id": api.handlers["h2"]})
    assert placed.status_code == 200, placed.text
    assert api.events(waiting["number"])[-1].actor == "staff:dispatcher"


def test_an_unknown_chat_is_refused_and_staff_tokens_ignore_the_header(api):
    refused = as_chat(api, "31337", "GET", "/api/v1/orders")
    assert refused.status_code == 403
    assert refused.json()["detail"]["reason_zh"] == NOT_LINKED_ZH
    # the service without the header is still the service
    assert api.get("telegram", "/api/v1/orders/latest?reporter_ref=tg:5001").status_code == 200
    # a staff token with somebody else's chat stays that staff member
    own = api.call("supervisor", "GET", "/api/v1/orders", headers={"X-Telegram-Chat": "700"})
    assert own.status_code == 200
    api.report()
    assert api.call("handler2", "GET", "/api/v1/orders",
                    headers={"X-Telegram-Chat": "700"}).json()["items"] == []


def test_an_unlinked_or_deactivated_chat_no_longer_acts(api):
    link(api, code_for(api, username="dispatcher")["code"], "-900")
    assert as_chat(api, -900, "GET", "/api/v1/orders").status_code == 200
    set_staff_active(api.world.uow(), "dispatcher", False)
    assert as_chat(api, -900, "GET", "/api/v1/orders").status_code == 403
    assert as_chat(api, 700, "GET", "/api/v1/orders").status_code == 200
    api.call("telegram", "DELETE", "/api/v1/telegram/links/700")
    assert as_chat(api, 700, "GET", "/api/v1/orders").json()["detail"]["reason_zh"] == NOT_LINKED_ZH
