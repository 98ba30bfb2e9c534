"""End to end, with staff on the other side: a handler resolves the order
and the resident answers the follow-up visit (回访) in the chat; a resident
asks for a person and the dispatchers' queue holds the request with the
conversation so far. Everything goes through the real stack: Rasa's REST
channel, the action server, the work-order API and its database."""
from __future__ import annotations

import httpx
import pytest
from e2e_support import orders_for

from tests.staff_accounts import create_staff

pytestmark = pytest.mark.slow


def staff_token(stack, username: str, role: str, handler_id: int | None = None) -> str:
    return create_staff(stack.database_url, username, role, handler_id)


def call(stack, token: str, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, stack.api_url.rstrip("/") + path, timeout=10,
                         headers={"Authorization": f"Bearer {token}"}, **kwargs)


def test_resolved_then_not_satisfied_reopens_and_satisfied_closes(stack):
    sender = "tg:80010001"
    for text in ("幸福里小区7号楼的楼道灯坏了，晚上黑漆漆的", "不用了"):
        stack.say(sender, text)
    opened = " ".join(stack.say(sender, "对"))
    [order] = orders_for(stack.database_url, sender)
    assert order["number"] in opened and order["assignee_id"] is not None

    handler = staff_token(stack, "e2e-handler", "handler", order["assignee_id"])
    number = order["number"]
    assert call(stack, handler, "POST", f"/api/v1/orders/{number}/accept").status_code == 200
    resolved = call(stack, handler, "POST", f"/api/v1/orders/{number}/resolve",
                    json={"note": "灯泡已更换"})
    assert resolved.status_code == 200, resolved.text

    status = " ".join(stack.say(sender, "我的事怎么样了"))
    assert "已办结" in status and "灯泡已更换" in status and "满意" in status

    reply = " ".join(stack.say(sender, "不满意，灯还是一闪一闪的"))
    assert "重新受理" in reply and number in reply
    [order] = orders_for(stack.database_url, sender)
    assert order["status"] not in ("resolved", "closed")  # reopened, dispatched again

    handler = staff_token(stack, "e2e-handler-2", "handler", order["assignee_id"])
    call(stack, handler, "POST", f"/api/v1/orders/{number}/accept")
    assert call(stack, handler, "POST", f"/api/v1/orders/{number}/resolve",
                json={"note": "整条线路已检修"}).status_code == 200
    reply = " ".join(stack.say(sender, "满意"))
    assert "感谢您的评价" in reply
    [order] = orders_for(stack.database_url, sender)
    assert order["status"] == "closed"


def test_asking_for_a_person_reaches_the_dispatchers_with_the_conversation(stack):
    sender = "web:e2e-callback"
    stack.say(sender, "楼上漏水把我家天花板泡坏了")
    reply = " ".join(stack.say(sender, "转人工"))
    assert "工作人员" in reply
    supervisor = staff_token(stack, "e2e-supervisor", "supervisor")
    page = call(stack, supervisor, "GET", "/api/v1/callbacks", params={"status": "open"}).json()
    mine = [item for item in page["items"] if item["reporter_ref"] == sender]
    assert len(mine) == 1 and mine[0]["reason"] == "asked"
    said = [line["text"] for line in mine[0]["transcript"] if line["speaker"] == "resident"]
    assert said == ["楼上漏水把我家天花板泡坏了", "转人工"]
    assert orders_for(stack.database_url, sender) == []
