"""``Idempotency-Key`` on a channel's requests on an existing order: applied once,
answered again."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from api_support import ACTIONS_TOKEN


def _key(k):
    return {"Idempotency-Key": k}


def test_a_retried_cancel_is_applied_once_and_answered_again(any_api):
    api = any_api
    number = api.report(reporter_ref="tg:1")["number"]
    first = api.post("actions", f"/api/v1/orders/{number}/cancel", json={"reporter_ref": "tg:1"},
                     headers=_key("c-1"))
    again = api.post("actions", f"/api/v1/orders/{number}/cancel", json={"reporter_ref": "tg:1"},
                     headers=_key("c-1"))
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and first.json()["status"] == "cancelled"
    assert api.actions(number).count("cancel") == 1
    # without the key, a second cancel is what it is: 409
    twice = api.post("actions", f"/api/v1/orders/{number}/cancel", json={"reporter_ref": "tg:1"})
    assert twice.status_code == 409


def test_a_retried_attach_and_satisfaction_are_applied_once(api):
    number = api.report(category="incident.water", reporter_ref="tg:1")["number"]
    body = {"reporter_ref": "tg:2", "description": "我家楼下也在漏水"}
    for _ in range(3):
        response = api.post("actions", f"/api/v1/orders/{number}/attach", json=body,
                            headers=_key("a-1"))
        assert response.status_code == 200 and response.json()["number"] == number
    assert api.actions(number).count("report") == 1
    assert api.post("worker", f"/api/v1/orders/{number}/accept").status_code == 200
    assert api.post("worker", f"/api/v1/orders/{number}/resolve",
                    json={"note": "已修好"}).status_code == 200
    answers = [api.post("actions", f"/api/v1/orders/{number}/satisfaction",
                        json={"reporter_ref": "tg:1", "answer": "unsatisfied"},
                        headers=_key("s-1")) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    assert api.actions(number).count("unsatisfied") == 1


def test_one_key_for_another_request_is_a_conflict(api):
    mine = api.report(category="incident.water", reporter_ref="tg:1")["number"]
    other = api.report(category="incident.water", reporter_ref="tg:3")["number"]
    path = f"/api/v1/orders/{mine}/location"
    assert api.post("actions", path, json={"reporter_ref": "tg:1", "latitude": 30,
                                          "longitude": 120}, headers=_key("k")).status_code == 200
    for method_path, body in (
        (path, {"reporter_ref": "tg:1", "latitude": 31, "longitude": 120}),  # another body
        (f"/api/v1/orders/{other}/location", {"reporter_ref": "tg:3", "latitude": 30,
                                              "longitude": 120}),  # another order
        (f"/api/v1/orders/{mine}/cancel", {"reporter_ref": "tg:1"}),  # another action
    ):
        response = api.post("actions", method_path, json=body, headers=_key("k"))
        assert response.status_code == 409, response.text
        assert response.json()["detail"]["reason_zh"] == "请求标识已被使用，请重新提交。"
    assert api.row(mine).latitude == 30 and api.row(mine).status == "assigned"
    assert api.row(other).latitude is None
    # keys are per channel account: the Telegram adapter's "k" is its own
    assert api.post("telegram", f"/api/v1/orders/{mine}/cancel", json={"reporter_ref": "tg:1"},
                    headers=_key("k")).status_code == 200


def test_a_failed_request_keeps_no_key(api):
    number = api.report(reporter_ref="tg:1")["number"]
    path = f"/api/v1/orders/{number}/satisfaction"
    body = {"reporter_ref": "tg:1", "answer": "satisfied"}
    early = api.post("actions", path, json=body, headers=_key("s"))
    assert early.status_code == 409  # not resolved yet: nothing applied, no key kept
    assert api.post("handler", f"/api/v1/orders/{number}/accept").status_code == 200
    assert api.post("handler", f"/api/v1/orders/{number}/resolve",
                    json={"note": "已调解"}).status_code == 200
    later = api.post("actions", path, json=body, headers=_key("s"))
    assert later.status_code == 200 and later.json()["status"] == "closed"


def test_concurrent_copies_of_one_request_apply_once(any_api):
    api = any_api
    number = api.report(category="incident.water", reporter_ref="tg:1")["number"]
    transport = httpx.ASGITransport(app=api.client.app)

    async def main():
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await asyncio.gather(*(client.post(
                f"/api/v1/orders/{number}/attach",
                headers={"Authorization": f"Bearer {ACTIONS_TOKEN}", "Idempotency-Key": "same"},
                json={"reporter_ref": "tg:9", "description": "同一条补充"}) for _ in range(4)))

    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    assert api.actions(number).count("report") == 1


@pytest.mark.parametrize("key", ["", "x" * 129])
def test_a_malformed_key_is_refused(api, key):
    number = api.report(reporter_ref="tg:1")["number"]
    response = api.post("actions", f"/api/v1/orders/{number}/cancel",
                        json={"reporter_ref": "tg:1"}, headers=_key(key))
    assert response.status_code == 422
    assert api.row(number).status == "assigned"
