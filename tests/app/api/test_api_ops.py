"""Health, OpenAPI, the database going away, Chinese validation messages, parallel requests."""

from __future__ import annotations

import asyncio
import os
from collections import Counter

import httpx
import pytest
from api_support import ACTIONS_TOKEN
from fastapi.testclient import TestClient

from integrations.workorders.api import create_app
from integrations.workorders.api.config import ApiSettings, as_api_settings
from integrations.workorders.api.validation_zh import reason_zh, translate
from integrations.workorders.settings import load_settings


def test_openapi_lists_the_routes(api):
    document = api.client.get("/openapi.json").json()
    assert document["info"]["title"].startswith("社区工单服务")
    assert document["info"]["version"] == "1.0.0"
    paths = document["paths"]
    for path in ("/api/v1/orders", "/api/v1/orders/{number}/accept", "/api/v1/handlers/{handler_id}",
                 "/api/v1/metrics", "/api/v1/audit/verify", "/open311/v2/requests.{fmt}",
                 "/api/v1/areas/resolve", "/api/v1/areas/{code}/aliases", "/api/v1/callbacks",
                 "/api/v1/callbacks/{request_id}/done",
                 "/metrics", "/health"):
        assert path in paths, path
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    create = paths["/api/v1/orders"]["post"]
    assert {"201", "200", "401", "403", "409", "422"} <= set(create["responses"])
    schemas = document["components"]["schemas"]
    assert {"OrderCreate", "OrderPublic", "ResidentOrderPublic", "HandlerCreate",
            "HandlerUpdate", "HandlerPublic", "AreaPublic", "AreaMatchPublic", "CallbackCreate",
            "CallbackReceipt", "CallbackPublic"} <= set(schemas)
    assert "contact" not in schemas["CallbackReceipt"]["properties"]
    assert "reporter_contact" not in schemas["OrderPublic"]["properties"]
    open311_body = paths["/open311/v2/requests.{fmt}"]["post"]["requestBody"]["content"]
    assert "application/x-www-form-urlencoded" in open311_body


def test_docs_can_be_switched_off(sqlite_db):
    settings = ApiSettings(database_url=sqlite_db.url, actions_token=ACTIONS_TOKEN,
                           public_docs=False)
    with TestClient(create_app(settings)) as client:
        assert client.get("/openapi.json").status_code == 404
        assert client.get("/health").json()["status"] == "ok"


def test_plain_settings_get_the_api_defaults():
    settings = load_settings(follow_up_hours=24)
    api_settings = as_api_settings(settings)
    assert api_settings.max_body_bytes == 64 * 1024 and api_settings.open311_default_area is None
    assert api_settings.follow_up_hours == 24
    # no channel account and no Open311 key unless configured (fail closed)
    assert (api_settings.actions_token, api_settings.telegram_token) == (None, None)
    assert api_settings.open311_api_keys == ()


@pytest.fixture
def unreachable_client():
    settings = ApiSettings(database_url="postgresql://postgres@127.0.0.1:9/nothing",
                           actions_token=ACTIONS_TOKEN)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_health_and_requests_without_a_database_are_503(unreachable_client):
    client = unreachable_client
    health = client.get("/health")
    assert health.status_code == 503
    assert health.json() == {"status": "error", "database": "unavailable"}
    response = client.post("/api/v1/orders", headers={"Authorization": f"Bearer {ACTIONS_TOKEN}"},
                           json={"category": "incident.water", "description": "x",
                                 "location_text": "y", "area_code": "grid:a",
                                 "reporter_ref": "tg:1"})
    assert response.status_code == 503
    assert response.json()["detail"]["reason_zh"] == "服务暂时不可用，请稍后重试。"
    assert response.headers["Retry-After"] == "5"


def test_unknown_routes_and_methods_answer_in_the_same_shape(api):
    missing = api.get("admin", "/api/v1/nope")
    assert missing.status_code == 404
    assert missing.json()["detail"]["reason_zh"] == "请求的地址不存在。"
    wrong = api.call("admin", "DELETE", "/api/v1/orders")
    assert wrong.status_code == 405
    assert wrong.json()["detail"]["reason_zh"] == "不支持该请求方法。"


@pytest.mark.parametrize(("error", "expected"), [
    ({"type": "missing", "loc": ("body", "category")}, "缺少事项类别"),
    ({"type": "string_too_long", "loc": ("body", "description"), "ctx": {"max_length": 2000}},
     "描述不能超过2000字"),
    ({"type": "string_too_short", "loc": ("body", "name"), "ctx": {"min_length": 1}}, "姓名不能为空"),
    ({"type": "string_too_short", "loc": ("body", "reporter_ref"), "ctx": {"min_length": 3}},
     "反映人标识不能少于3字"),
    ({"type": "literal_error", "loc": ("body", "answer"),
      "ctx": {"expected": "'satisfied', 'basically_satisfied' or 'unsatisfied'"}},
     "回访结果的取值不正确，可选：satisfied、basically_satisfied、unsatisfied"),
    ({"type": "enum", "loc": ("query", "group_by"), "ctx": {"expected": "'a' or 'b'"}},
     "分组方式的取值不正确，可选：a、b"),
    ({"type": "int_parsing", "loc": ("path", "handler_id")}, "处理人员必须是整数"),
    ({"type": "value_error", "loc": ("body", "phone"), "ctx": {"error": "号码不对"}}, "号码不对"),
    ({"type": "value_error", "loc": ("body", "phone"), "ctx": {"error": "bad"}}, "联系电话格式不正确"),
    ({"type": "datetime_from_date_parsing", "loc": ("query", "from")}, "开始时间不是有效的日期时间"),
    ({"type": "something_new", "loc": ("body", "x_field")}, "x_field不正确"),
])
def test_chinese_reasons(error, expected):
    assert reason_zh(error) == expected


def test_translated_errors_keep_the_english_field():
    entry = translate({"type": "missing", "loc": ("body", "items", 0, "name"), "msg": "Field required"})
    assert entry == {"field": "items.0.name", "location": "body", "reason": "Field required",
                     "reason_zh": "缺少姓名"}


def _parallel_creates(api, count, keys):
    async def run():
        transport = httpx.ASGITransport(app=api.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            async def one(i):
                key = keys[i % len(keys)]
                return await client.post(
                    "/api/v1/orders",
                    headers={"Authorization": f"Bearer {ACTIONS_TOKEN}", "Idempotency-Key": key},
                    json={"category": "dispute.neighbor", "description": f"第{i}次反映",
                          "location_text": "幸福里", "area_code": "grid:qy-dz-01",
                          "reporter_ref": f"tg:{key}"})
            return await asyncio.gather(*(one(i) for i in range(count)))
    return asyncio.run(run())


def test_parallel_requests_make_each_order_once_and_respect_capacity(any_api):
    api = any_api
    keys = [f"k{i}" for i in range(16)]
    responses = _parallel_creates(api, 48, keys)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 16, 200: 32}, [r.text for r in responses if r.status_code >= 300]
    rows = api.orders()
    assert len(rows) == 16
    by_key = {}
    for r in responses:
        by_key.setdefault(r.request.headers["Idempotency-Key"], set()).add(r.json()["number"])
    assert all(len(numbers) == 1 for numbers in by_key.values())
    # two mediators of capacity 5: ten assigned, six waiting, nobody over capacity
    assignees = Counter(row.assignee_id for row in rows if row.status == "assigned")
    assert sorted(assignees.values()) == [5, 5]
    assert sum(row.status == "pending" for row in rows) == 6
    assert api.get("supervisor", "/api/v1/audit/verify").json()["ok"] is True


def test_the_thread_pool_is_sized_for_the_database(api, sqlite_db):
    from anyio import to_thread

    from integrations.workorders.api.config import db_threads

    def tokens(client):
        return client.portal.call(lambda: to_thread.current_default_thread_limiter().total_tokens)

    assert tokens(api.client) == 1  # SQLite: one writer at a time
    assert db_threads(ApiSettings(database_url="postgresql://x@h/db")) == 4
    assert db_threads(ApiSettings(database_url="postgresql://x@h/db", db_threads=7)) == 7
    settings = ApiSettings(database_url=sqlite_db.url, actions_token=ACTIONS_TOKEN, db_threads=3)
    with TestClient(create_app(settings)) as client:
        assert tokens(client) == 3


def test_channel_credentials_are_checked_and_never_printed(monkeypatch, capsys):
    from integrations.workorders.api.__main__ import main

    for name in [k for k in os.environ if k.startswith("WORKORDERS_")]:
        monkeypatch.delenv(name)
    same = "same-token-for-two-channels-0123456789"
    for env in ({"WORKORDERS_ACTIONS_TOKEN": same, "WORKORDERS_TELEGRAM_TOKEN": same},
                {"WORKORDERS_TELEGRAM_TOKEN": "short-" + "x"},
                {"WORKORDERS_OPEN311_API_KEYS": f"{same},tiny"}):
        with monkeypatch.context() as m:
            for k, v in env.items():
                m.setenv(k, v)
            assert main(["--port", "1"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("invalid settings:")
        assert same not in err and "short-x" not in err and "tiny" not in err
    keys = ApiSettings(open311_api_keys=f" {same} , other-key-0123456789abcdefgh ")
    assert keys.open311_api_keys == (same, "other-key-0123456789abcdefgh")
