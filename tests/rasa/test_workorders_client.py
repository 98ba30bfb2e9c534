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
