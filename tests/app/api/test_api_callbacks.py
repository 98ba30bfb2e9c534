"""/api/v1/callbacks: the action server asks for a person; dispatchers read and close requests."""

from __future__ import annotations

import json
import logging

from sqlalchemy import select
from test_api_metrics import _sample

from integrations.workorders.adapters.orm import CallbackRequest
from integrations.workorders.service import create_staff_user

TRANSCRIPT = [{"speaker": "resident", "text": "我家门口的下水道又堵了"},
              {"speaker": "bot", "text": "抱歉，我没有听懂，请再说一遍。"},
              {"speaker": "resident", "text": "转人工"}]


def ask(api, who="actions", expect=201, headers=None, **overrides):
    body = {"reporter_ref": "voice:13800001111", "reason": "asked", "transcript": TRANSCRIPT}
    body.update(overrides)
    response = api.post(who, "/api/v1/callbacks", json=body, headers=headers or {})
    assert response.status_code == expect, response.text
    return response.json()


def rows(api):
    with api.world.db.session() as s:
        return list(s.scalars(select(CallbackRequest).order_by(CallbackRequest.id)))


def test_the_action_server_asks_for_a_person(any_api):
    api = any_api
    create_staff_user(api.world.uow(), "duty", "dispatcher", "token-duty-0123456789abcdefgh",
                      api.world.clock, areas=["township:qy-dz"], telegram_chat_id="-300")
    number = api.report(reporter_ref="voice:13800001111", category="incident.water")["number"]

    response = api.post("actions", "/api/v1/callbacks", headers={"Idempotency-Key": "turn-3"},
                        json={"reporter_ref": "voice:13800001111", "reason": "asked",
                              "transcript": TRANSCRIPT, "contact": "13900002222",
                              "order_number": number})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {"id": body["id"], "status": "open",
                    "created_at": api.world.clock.isoformat().replace("+00:00", "Z"),
                    "order_number": number}
    assert response.headers["Location"] == f"/api/v1/callbacks/{body['id']}"
    (row,) = rows(api)
    assert (row.id, row.reason, row.reporter_channel, row.area_code, row.client_ref) == (
        body["id"], "asked", "voice", "grid:qy-dz-01", "turn-3")
    assert "13900002222" not in row.contact_enc and "下水道" not in row.transcript_enc

    (message,) = api.outbox(topic="callback.requested")
    assert (message.recipient_ref, message.channel, message.payload["chat_id"]) == (
        "staff:duty", "telegram", "-300")
    assert message.payload["text"] == (
        f"居民请求人工服务（渠道：电话，涉及工单 {number}），请尽快联系。回拨请求 #{row.id}。")
    assert "13900002222" not in str(message.payload) and "13800001111" not in str(message.payload)

    replay = api.post("actions", "/api/v1/callbacks", headers={"Idempotency-Key": "turn-3"},
                      json={"reporter_ref": "voice:13800001111", "reason": "not_understood"})
    assert replay.status_code == 200 and replay.json() == body
    assert len(rows(api)) == 1 and len(api.outbox(topic="callback.requested")) == 1
    stolen = api.post("actions", "/api/v1/callbacks", headers={"Idempotency-Key": "turn-3"},
                      json={"reporter_ref": "tg:1", "reason": "asked"})
    assert stolen.status_code == 409
    assert stolen.json()["detail"]["reason_zh"] == "请求标识已被使用，请重新提交。"

    ask(api, reason="not_understood", transcript=[])  # no key: a new request
    metrics = api.get("admin", "/metrics").text
    assert _sample(metrics, "workorders_callbacks_requested_total", reason="asked") == 1
    assert _sample(metrics, "workorders_callbacks_requested_total", reason="not_understood") == 1
    assert _sample(metrics, "workorders_callbacks_open") == 2


def test_someone_elses_order_is_not_linked(api):
    other = api.report(reporter_ref="tg:77")["number"]
    body = ask(api, order_number=other)
    assert body["order_number"] is None
    assert (rows(api)[0].order_number, rows(api)[0].area_code) == (None, None)


def test_dispatchers_read_their_queue_and_close_requests(api, caplog):
    east_order = api.report(reporter_ref="tg:1")["number"]
    west_order = api.report(reporter_ref="tg:2", area_code="grid:qy-xz-01")["number"]
    east = ask(api, reporter_ref="tg:1", order_number=east_order, contact="13900002222")
    api.tick(minutes=1)
    west = ask(api, reporter_ref="tg:2", order_number=west_order)
    api.tick(minutes=1)
    unplaced = ask(api, who="dispatcher", reporter_ref="web:desk-1", reason="service_error")

    def ids(who, **params):
        response = api.get(who, "/api/v1/callbacks", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    with caplog.at_level(logging.INFO, logger="integrations.workorders.api.audit"):
        page = api.get("dispatcher", "/api/v1/callbacks", params={"status": "open"}).json()
    assert "callback requests read: actor=staff:dispatcher status=open count=2" in caplog.text
    assert [i["id"] for i in page["items"]] == [east["id"], unplaced["id"]]  # oldest first
    first = page["items"][0]
    assert (first["contact"], first["reporter_ref"], first["order_number"]) == (
        "13900002222", "tg:1", east_order)
    assert first["transcript"] == TRANSCRIPT and first["reason"] == "asked"
    assert ids("far_dispatcher", status="open") == [west["id"], unplaced["id"]]
    assert ids("supervisor") == [unplaced["id"], west["id"], east["id"]]  # newest first

    assert api.get("far_dispatcher", f"/api/v1/callbacks/{east['id']}").status_code == 404
    assert api.get("dispatcher", f"/api/v1/callbacks/{east['id']}").json()["contact"] == (
        "13900002222")
    assert api.post("far_dispatcher", f"/api/v1/callbacks/{east['id']}/done").status_code == 404
    assert api.post("supervisor", f"/api/v1/callbacks/{east['id']}/done").status_code == 403

    api.tick(minutes=10)
    done = api.post("dispatcher", f"/api/v1/callbacks/{east['id']}/done",
                    json={"note": "已回电，约好明天上门"})
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["done_by"], done.json()["note"]) == (
        "done", "staff:dispatcher", "已回电，约好明天上门")
    row = next(r for r in rows(api) if r.id == east["id"])
    assert (row.status, row.done_at, row.done_by) == ("done", api.world.clock, "staff:dispatcher")
    again = api.post("admin", f"/api/v1/callbacks/{east['id']}/done")
    assert again.status_code == 409
    assert again.json()["detail"]["reason_zh"] == "该回拨请求已处理完毕。"
    assert ids("dispatcher", status="open") == [unplaced["id"]]
    assert ids("dispatcher", status="done") == [east["id"]]
    assert api.post("admin", "/api/v1/callbacks/999/done").status_code == 404


def test_requests_are_validated_in_chinese(api):
    def reason_of(**overrides):
        body = ask(api, expect=422, **overrides)
        return body["detail"]["field"], body["detail"]["reason_zh"]

    assert reason_of(reason="bored") == (
        "reason", "原因的取值不正确，可选：asked、not_understood、service_error")
    assert reason_of(transcript=[{"speaker": "operator", "text": "你好"}]) == (
        "transcript.0.speaker", "说话人的取值不正确，可选：resident、bot")
    assert reason_of(transcript=[{"speaker": "bot", "text": 5}]) == (
        "transcript.0.text", "对话内容应为文本")
    assert reason_of(contact="12345") == ("contact", "联系电话格式不正确。")
    assert reason_of(reporter_ref="nobody") == ("reporter_ref", "反映人渠道标识有误。")
    missing = api.post("actions", "/api/v1/callbacks", json={"reason": "asked"})
    assert missing.json()["detail"]["reason_zh"] == "缺少反映人标识"
    assert rows(api) == [] and api.outbox(topic="callback.requested") == []


def test_the_transcript_is_cut_as_documented(api):
    lines = [{"speaker": "resident", "text": f"{i}" + "话" * 700} for i in range(80)]
    created = ask(api, transcript=lines)
    stored = api.get("admin", f"/api/v1/callbacks/{created['id']}").json()["transcript"]
    assert len(stored) == 50 and stored[0]["text"].startswith("30话")
    assert {len(line["text"]) for line in stored} == {500}
    assert json.dumps(stored, ensure_ascii=False).count("话") == 50 * 498
    # this path takes bodies up to 256 KB (the others keep the 64 KB limit)
    huge = api.post("actions", "/api/v1/callbacks", json={
        "reporter_ref": "tg:1", "reason": "asked",
        "transcript": [{"speaker": "bot", "text": "话" * 1000}] * 90})
    assert huge.status_code == 413
    assert huge.json()["detail"]["reason_zh"] == "请求内容过大，不能超过256KB。"
    big_order = api.post("actions", "/api/v1/orders", json={"description": "话" * 30000})
    assert big_order.status_code == 413
    assert big_order.json()["detail"]["reason_zh"] == "请求内容过大，不能超过64KB。"
