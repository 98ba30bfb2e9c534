"""The actions' client against a real work-order service on 127.0.0.1."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from actions.workorders_client import (
    ClientSettings,
    NotFound,
    Rejected,
    ServiceUnavailable,
    WorkOrderClient,
)
from tests.rasa.workorder_service import free_port, running_service

pytestmark = pytest.mark.slow

REPORT = {
    "category": "incident.facility",
    "description": "3号楼门口的路灯坏了好几天",
    "location_text": "幸福里社区3号楼",
    "area_code": "grid:cg-xingfuli",
    "reporter_ref": "web:client-test",
}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with running_service(tmp_path_factory.mktemp("workorders")) as service:
        yield service


def run(coroutine_factory, settings):
    async def main():
        client = WorkOrderClient(settings)
        try:
            return await coroutine_factory(client)
        finally:
            await client.close()
    return asyncio.run(main())


def test_create_is_idempotent_and_the_order_is_dispatched(service):
    settings = ClientSettings(service.url, service.token)
    key = str(uuid.uuid4())
    first = run(lambda c: c.create_order(REPORT, key), settings)
    again = run(lambda c: c.create_order(REPORT, key), settings)
    assert first["number"] == again["number"]
    assert first["status"] == "assigned"
    latest = run(lambda c: c.latest_order("web:client-test"), settings)
    assert latest["number"] == first["number"]


def test_another_residents_order_is_not_found(service):
    settings = ClientSettings(service.url, service.token)
    order = run(lambda c: c.create_order({**REPORT, "reporter_ref": "web:owner"}, str(uuid.uuid4())),
                settings)
    with pytest.raises(NotFound):
        run(lambda c: c.get_order(order["number"], "web:somebody-else"), settings)
    mine = run(lambda c: c.get_order(order["number"], "web:owner"), settings)
    assert mine["number"] == order["number"]


def test_cancel_then_cancel_again_is_rejected_with_a_chinese_reason(service):
    settings = ClientSettings(service.url, service.token)
    order = run(lambda c: c.create_order({**REPORT, "reporter_ref": "web:canceller"},
                                         str(uuid.uuid4())), settings)
    cancelled = run(lambda c: c.cancel(order["number"], "web:canceller"), settings)
    assert cancelled["status"] == "cancelled"
    with pytest.raises(Rejected) as error:
        run(lambda c: c.cancel(order["number"], "web:canceller"), settings)
    assert error.value.status == 409 and error.value.reason_zh


def test_unknown_category_is_rejected_not_retried(service):
    settings = ClientSettings(service.url, service.token)
    with pytest.raises(Rejected) as error:
        run(lambda c: c.create_order({**REPORT, "category": "incident.nonsense"},
                                     str(uuid.uuid4())), settings)
    assert error.value.status == 422


def test_a_service_that_is_down_raises_unavailable_after_retries():
    settings = ClientSettings(f"http://127.0.0.1:{free_port()}", "token", timeout_s=1,
                              retries=2, backoff_s=0.01)
    with pytest.raises(ServiceUnavailable):
        run(lambda c: c.latest_order("web:x"), settings)


def test_a_wrong_token_is_rejected(service):
    settings = ClientSettings(service.url, "not-the-token")
    with pytest.raises(Rejected) as error:
        run(lambda c: c.latest_order("web:x"), settings)
    assert error.value.status == 401


async def _losing_proxy(target: str, lose: int, seen: list):
    """A proxy to ``target`` that forwards every request but answers the first ``lose``
    with 502 (their answer is lost on the way back); records each Idempotency-Key."""
    from aiohttp import ClientSession, web

    async def forward(request):
        body = await request.read()
        seen.append((request.method, request.path, request.headers.get("Idempotency-Key")))
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with ClientSession() as session:
            async with session.request(request.method, target + request.path_qs, data=body,
                                       headers=headers) as response:
                payload, status = await response.read(), response.status
        if len(seen) <= lose:
            return web.Response(status=502)
        return web.Response(body=payload, status=status, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


def _through_lossy_proxy(service, call):
    """``call(client)`` through a proxy that loses the first answer; (result, keys seen)."""
    seen: list = []

    async def main():
        runner, url = await _losing_proxy(service.url, 1, seen)
        client = WorkOrderClient(ClientSettings(url, service.token, retries=2, backoff_s=0.01))
        try:
            return await call(client)
        finally:
            await client.close()
            await runner.cleanup()
    return asyncio.run(main()), seen


@pytest.mark.parametrize("action", ["cancel", "attach", "location"])
def test_a_retry_after_a_lost_answer_is_applied_once(service, action):
    settings = ClientSettings(service.url, service.token)
    ref = f"web:retry-{action}"
    order = run(lambda c: c.create_order({**REPORT, "reporter_ref": ref}, str(uuid.uuid4())),
                settings)
    number = order["number"]
    calls = {
        "cancel": lambda c: c.cancel(number, ref),
        "attach": lambda c: c.attach(number, "web:neighbour", "路灯还是不亮"),
        "location": lambda c: c.set_location(number, ref, 30.6586, 104.0648),
    }
    result, seen = _through_lossy_proxy(service, calls[action])
    # the first answer was lost: the client asked twice, with one key
    assert len(seen) == 2 and seen[0][2] and seen[0][2] == seen[1][2]
    assert result["number"] == number
    if action == "cancel":
        assert result["status"] == "cancelled"  # not the 409 of cancelling twice
    supervisor = service.staff_token(f"sup-{action}", "supervisor")
    status, events = service.call("GET", f"/api/v1/orders/{number}/history", supervisor)
    assert status == 200
    applied = [e["action"] for e in events][2:]  # after create and assign
    assert applied == {"cancel": ["cancel"], "attach": ["report"],
                       "location": ["location"]}[action], applied


def test_each_logical_request_has_its_own_key(service):
    settings = ClientSettings(service.url, service.token)
    ref = "web:two-reports"
    order = run(lambda c: c.create_order({**REPORT, "reporter_ref": ref}, str(uuid.uuid4())),
                settings)
    seen: list = []

    async def twice(client):
        await client.attach(order["number"], "web:n1", "一")
        await client.attach(order["number"], "web:n2", "二")

    async def main():
        runner, url = await _losing_proxy(service.url, 0, seen)
        client = WorkOrderClient(ClientSettings(url, service.token))
        try:
            await twice(client)
        finally:
            await client.close()
            await runner.cleanup()
    asyncio.run(main())
    assert len(seen) == 2 and seen[0][2] != seen[1][2]
