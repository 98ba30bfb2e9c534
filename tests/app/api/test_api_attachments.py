"""Photos and later coordinates over HTTP: upload, attach, create with photos, staff download."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from integrations.workorders.adapters.orm import Attachment
from tests.app.image_samples import JPEG, WEBP, noisy_png, png

UPLOAD = "/api/v1/attachments"
FIVE_MIB = 5 * 1024 * 1024
REPO_ROOT = Path(__file__).resolve().parents[3]


def upload(api, data: bytes, kind: str = "image/png", ref: str = "tg:7", who: str = "actions",
           **kw):
    headers = {"Content-Type": kind, **kw.pop("headers", {})}
    return api.post(who, UPLOAD, params={"reporter_ref": ref}, content=data, headers=headers,
                    **kw)


def staged(api, data: bytes | None = None, ref: str = "tg:7") -> str:
    data = png(1) if data is None else data
    kind = {JPEG: "image/jpeg", WEBP: "image/webp"}.get(data, "image/png")
    response = upload(api, data, kind, ref=ref)
    assert response.status_code in (200, 201), response.text
    return response.json()["id"]


def rows(api) -> list[Attachment]:
    with api.world.db.session() as s:
        return list(s.scalars(select(Attachment).order_by(Attachment.id)))


def attach(api, number: str, photo_id: str, ref: str = "tg:7"):
    return api.post("actions", f"/api/v1/orders/{number}/attachments",
                    json={"reporter_ref": ref, "attachment_id": photo_id})


def close(api, number: str, ref: str) -> None:
    handler = api.who_handles(api.row(number).assignee_id)
    assert api.post(handler, f"/api/v1/orders/{number}/accept").status_code == 200
    assert api.post(handler, f"/api/v1/orders/{number}/resolve", json={"note": "好了"}).is_success
    done = api.post("actions", f"/api/v1/orders/{number}/satisfaction",
                    json={"reporter_ref": ref, "answer": "satisfied"})
    assert done.status_code == 200 and api.row(number).status == "closed"


# --------------------------------------------------------------------- upload


def test_the_service_uploads_jpeg_png_and_webp_once_each(api):
    first = upload(api, JPEG, "image/jpeg")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body == {"id": body["id"], "content_type": "image/jpeg", "size": len(JPEG),
                    "sha256": hashlib.sha256(JPEG).hexdigest(), "order_number": None}
    again = upload(api, JPEG, "image/jpeg")
    assert (again.status_code, again.json()) == (200, body)
    assert upload(api, png(1)).status_code == 201
    assert upload(api, WEBP, "image/webp").status_code == 201
    assert upload(api, JPEG, "image/jpeg", ref="tg:8").json()["id"] != body["id"]
    stored = rows(api)
    assert [(r.reporter_ref, r.content_type) for r in stored] == [
        ("tg:7", "image/jpeg"), ("tg:7", "image/png"), ("tg:7", "image/webp"),
        ("tg:8", "image/jpeg")]
    assert stored[0].public_id == body["id"] and all(r.order_id is None for r in stored)


def test_a_photo_larger_than_the_general_body_limit_goes_through(api):
    big = noisy_png(200)  # about 120 KB: over the 64 KB of the other endpoints
    assert len(big) > 64 * 1024
    response = upload(api, big)
    assert response.status_code == 201, response.text
    assert response.json()["size"] == len(big)
    other = api.post("actions", "/api/v1/orders", content=big,
                     headers={"Content-Type": "application/json"})
    assert other.status_code == 413  # the rest of the API keeps its limit


def test_what_is_not_an_accepted_image_is_415_and_empty_is_422(api):
    for data, kind in ((b"hello", "text/plain"), (png(1), "image/jpeg"),
                       (b"GIF89a....", "image/gif"), (b"<svg/>", "image/png")):
        response = upload(api, data, kind)
        assert response.status_code == 415, (kind, response.text)
        assert response.json()["detail"]["reason_zh"] == "只能上传 JPG、PNG 或 WebP 图片。"
    empty = upload(api, b"")
    assert empty.status_code == 422 and empty.json()["detail"]["field"] == "body"
    no_ref = api.post("actions", UPLOAD, content=png(1), headers={"Content-Type": "image/png"})
    assert no_ref.status_code == 422 and no_ref.json()["detail"]["field"] == "reporter_ref"
    assert rows(api) == []


def test_a_photo_over_the_limit_is_413_with_or_without_content_length(api):
    too_big = b"\x89PNG\r\n\x1a\n" + b"\0" * FIVE_MIB
    declared = upload(api, too_big)
    assert declared.status_code == 413
    assert declared.json()["detail"]["reason_zh"] == "图片太大了，请发送不超过5MB的图片。"

    sent = []

    def chunks():  # no Content-Length: counted while reading, refused past the limit
        sent.append(b"\x89PNG\r\n\x1a\n")
        yield sent[-1]
        for _ in range(6 * 16):
            sent.append(b"\0" * 64 * 1024)
            yield sent[-1]

    streamed = upload(api, chunks())
    assert streamed.status_code == 413
    assert streamed.json()["detail"]["reason_zh"].startswith("图片太大了")
    assert rows(api) == []


def test_only_the_service_uploads(api):
    assert upload(api, png(1), who=None).status_code == 401
    for who in ("admin", "dispatcher", "handler"):
        assert upload(api, png(1), who=who).status_code == 403
    assert rows(api) == []


# ------------------------------------------------------------ attach to an order


def test_the_reporter_attaches_a_photo_to_their_own_order(api):
    order = api.report(reporter_ref="tg:7")
    photo = staged(api)
    attached = attach(api, order["number"], photo)
    assert attached.status_code == 200, attached.text
    assert attached.json()["attachments"] == 1 and attached.json()["number"] == order["number"]
    assert rows(api)[0].order_id == api.row(order["number"]).id
    event = api.events(order["number"])[-1]
    assert (event.action, event.note) == ("attachment", f"attachment:{photo}")
    (told,) = api.outbox(order["number"], topic="order.attachment_added")
    assert told.recipient_ref == str(api.handlers["h1"]) and told.payload["chat_id"] == "700"
    assert told.payload["text"] == f"工单 {order['number']} 收到居民补充的照片，请在系统中查看。"

    retry = attach(api, order["number"], photo)
    assert retry.status_code == 200 and retry.json()["attachments"] == 1
    assert api.actions(order["number"]).count("attachment") == 1
    # the same bytes uploaded again now name the order they belong to
    assert upload(api, png(1)).json()["order_number"] == order["number"]
    seen = api.get("actions", f"/api/v1/orders/{order['number']}",
                   params={"reporter_ref": "tg:7"}).json()
    assert seen["attachments"] == 1
    history = api.get("actions", f"/api/v1/orders/{order['number']}/history",
                      params={"reporter_ref": "tg:7"}).json()
    assert history[-1]["action"] == "attachment" and history[-1]["action_label"] == "补充照片"


def test_other_peoples_orders_and_photos_are_404(api):
    mine = api.report(reporter_ref="tg:7")["number"]
    theirs = api.report(reporter_ref="tg:8")["number"]
    my_photo, their_photo = staged(api, ref="tg:7"), staged(api, png(2), ref="tg:8")
    for number, photo in ((theirs, my_photo), (mine, their_photo), (mine, "unknown-id"),
                          ("00000000", my_photo)):
        response = attach(api, number, photo)
        assert response.status_code == 404, response.text
    assert all(r.order_id is None for r in rows(api))
    assert api.outbox(topic="order.attachment_added") == []
    # staff may not attach in a resident's name
    assert api.post("admin", f"/api/v1/orders/{mine}/attachments",
                    json={"reporter_ref": "tg:7", "attachment_id": my_photo}).status_code == 403


def test_a_photo_on_another_order_or_a_closed_order_is_409(api):
    first = api.report(reporter_ref="tg:7")["number"]
    second = api.report(reporter_ref="tg:7", location_text="幸福里小区9号楼")["number"]
    photo = staged(api)
    assert attach(api, first, photo).status_code == 200
    elsewhere = attach(api, second, photo)
    assert elsewhere.status_code == 409
    assert elsewhere.json()["detail"]["reason_zh"] == f"这张照片已添加到工单 {first}。"

    close(api, second, "tg:7")
    closed = attach(api, second, staged(api, png(5)))
    assert closed.status_code == 409
    assert closed.json()["detail"]["reason_zh"] == "该工单已结案或已撤销，不能再添加照片。"
    assert api.actions(second)[-1] == "satisfied"


def test_an_order_takes_at_most_ten_photos(api):
    number = api.report(reporter_ref="tg:7")["number"]
    ids = [staged(api, png(i)) for i in range(11)]
    assert all(attach(api, number, i).status_code == 200 for i in ids[:10])
    full = attach(api, number, ids[10])
    assert full.status_code == 409
    assert full.json()["detail"]["reason_zh"] == "每个工单最多添加10张照片。"
    assert api.actions(number).count("attachment") == 10


# ------------------------------------------------------------ create with photos


def test_an_order_is_created_with_photos_and_a_retry_returns_it(api):
    ids = [staged(api, png(i)) for i in range(2)]
    headers = {"Idempotency-Key": "report-77"}
    body = {"category": "incident.facility", "description": "路灯坏了，晚上很黑。",
            "location_text": "幸福里小区北门", "area_code": "grid:qy-dz-01",
            "reporter_ref": "tg:7", "attachment_ids": ids}
    created = api.post("actions", "/api/v1/orders", json=body, headers=headers)
    assert created.status_code == 201, created.text
    number = created.json()["number"]
    assert created.json()["attachments"] == 2
    assert api.actions(number) == ["create", "attachment", "attachment", "dispatch"]
    assert {r.order_id for r in rows(api)} == {api.row(number).id}

    replay = api.post("actions", "/api/v1/orders", json=body, headers=headers)
    assert replay.status_code == 200, replay.text
    assert replay.json()["number"] == number and replay.json()["attachments"] == 2
    assert len(api.orders()) == 1
    staff = api.get("admin", f"/api/v1/orders/{number}").json()
    assert staff["attachments"] == 2
    listed = api.get("admin", "/api/v1/orders").json()["items"]
    assert [(o["number"], o["attachments"]) for o in listed] == [(number, 2)]


def test_photos_not_staged_for_the_reporter_refuse_the_order(api):
    theirs = staged(api, ref="tg:8")
    for ids in ([theirs], ["made-up"], [staged(api, png(2))] + [theirs]):
        response = api.post("actions", "/api/v1/orders", json={
            "category": "incident.facility", "description": "路灯坏了", "location_text": "北门",
            "area_code": "grid:qy-dz-01", "reporter_ref": "tg:7", "attachment_ids": ids})
        assert response.status_code == 422, response.text
        assert response.json()["detail"]["field"] == "attachment_ids"
        assert response.json()["detail"]["reason_zh"] == "照片已失效，请重新发送。"
    assert api.orders() == [] and all(r.order_id is None for r in rows(api))


# ------------------------------------------------------------------- location


def test_the_reporter_adds_coordinates_to_their_open_order(api):
    number = api.report(reporter_ref="tg:7")["number"]
    path = f"/api/v1/orders/{number}/location"
    located = api.post("actions", path, json={"reporter_ref": "tg:7", "latitude": 30.6586123,
                                              "longitude": 104.0647591})
    assert located.status_code == 200, located.text
    assert located.json()["number"] == number
    row = api.row(number)
    assert (row.latitude, row.longitude) == (30.6586123, 104.0647591)
    assert (api.events(number)[-1].action, api.events(number)[-1].note) == (
        "location", "30.65861,104.06476")

    out_of_range = api.post("actions", path, json={"reporter_ref": "tg:7", "latitude": 95,
                                                   "longitude": 104})
    assert out_of_range.status_code == 422
    assert out_of_range.json()["detail"]["field"] == "latitude"
    assert api.post("actions", path, json={"reporter_ref": "tg:8", "latitude": 30,
                                           "longitude": 104}).status_code == 404
    assert api.post("admin", path, json={"reporter_ref": "tg:7", "latitude": 30,
                                         "longitude": 104}).status_code == 403
    close(api, number, "tg:7")
    closed = api.post("actions", path, json={"reporter_ref": "tg:7", "latitude": 30,
                                             "longitude": 104})
    assert closed.status_code == 409
    assert closed.json()["detail"]["reason_zh"] == "该工单已结案或已撤销，不能再修改位置。"
    assert api.row(number).latitude == 30.6586123


# ---------------------------------------------------------------------- staff


def test_staff_list_and_download_the_photos_of_orders_they_see(api, caplog):
    number = api.report(reporter_ref="tg:7")["number"]  # a dispute for 王调解 in 东镇
    photo = staged(api, JPEG)
    assert attach(api, number, photo).status_code == 200
    listing = f"/api/v1/orders/{number}/attachments"
    for who in ("admin", "supervisor", "dispatcher", "handler"):
        response = api.get(who, listing)
        assert response.status_code == 200, (who, response.text)
        (item,) = response.json()
        assert item == {"id": photo, "content_type": "image/jpeg", "size": len(JPEG),
                        "sha256": hashlib.sha256(JPEG).hexdigest(),
                        "created_at": item["created_at"]}
    assert [i["id"] for i in api.get("actions", listing,
                                     params={"reporter_ref": "tg:7"}).json()] == [photo]
    for who, params in (("far_dispatcher", {}), ("handler2", {}),
                        ("actions", {"reporter_ref": "tg:8"})):
        assert api.get(who, listing, params=params).status_code == 404, who

    with caplog.at_level(logging.INFO, logger="integrations.workorders.api.audit"):
        for who in ("admin", "supervisor", "dispatcher", "handler"):
            download = api.get(who, f"/api/v1/attachments/{photo}")
            assert download.status_code == 200, (who, download.text)
            assert download.content == JPEG
            assert download.headers["content-type"] == "image/jpeg"
            assert download.headers["x-content-type-options"] == "nosniff"
    assert f"attachment viewed: id={photo} order={number} actor=staff:dispatcher" in caplog.text
    assert JPEG.hex()[:40] not in caplog.text
    for who in ("far_dispatcher", "handler2"):
        hidden = api.get(who, f"/api/v1/attachments/{photo}")
        assert hidden.status_code == 404 and number not in hidden.text
    assert api.get("actions", f"/api/v1/attachments/{photo}").status_code == 403
    assert api.get("admin", "/api/v1/attachments/no-such-photo").status_code == 404


def test_a_staged_photo_is_for_admins_only(api):
    photo = staged(api, WEBP)
    assert api.get("admin", f"/api/v1/attachments/{photo}").content == WEBP
    for who in ("supervisor", "dispatcher", "handler"):
        assert api.get(who, f"/api/v1/attachments/{photo}").status_code == 404, who


def test_the_attachment_endpoints_work_on_both_databases(any_api):
    api = any_api
    photo = staged(api, JPEG)
    assert upload(api, JPEG, "image/jpeg").json()["id"] == photo
    number = api.report(reporter_ref="tg:7", attachment_ids=[photo])["number"]
    assert api.get("admin", f"/api/v1/orders/{number}").json()["attachments"] == 1
    second = staged(api, png(9))
    assert attach(api, number, second).json()["attachments"] == 2
    assert api.get("handler", f"/api/v1/attachments/{second}").content == png(9)


# ------------------------------------------------------- a real server over TCP

SERVER_TOKEN = "attachments-server-token-0123456789"


@pytest.fixture
def server(tmp_path):
    """``python -m integrations.workorders.api`` on 127.0.0.1 (a fresh SQLite); its port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKORDERS_")}
    env.update(PYTHONPATH=str(REPO_ROOT), WORKORDERS_ACTIONS_TOKEN=SERVER_TOKEN,
               WORKORDERS_DATABASE_URL=f"sqlite:///{tmp_path / 'wo.db'}")
    process = subprocess.Popen(
        [sys.executable, "-m", "integrations.workorders.api", "--port", str(port),
         "--log-level", "warning"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read().decode()
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def raw_request(port: int, head: str, body_parts, timeout: float = 10) -> bytes:
    """Send ``head`` and then ``body_parts`` as far as the server reads them; its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(head.encode())
        try:
            for part in body_parts:
                conn.sendall(part)
        except OSError:  # the server answered and closed before we were done
            pass
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


@pytest.mark.slow
def test_a_real_server_takes_photos_and_refuses_big_bodies_early(server):
    base, auth = f"http://127.0.0.1:{server}", {"Authorization": f"Bearer {SERVER_TOKEN}"}
    photo = noisy_png(200)
    ok = httpx.post(f"{base}{UPLOAD}", params={"reporter_ref": "tg:7"}, content=photo,
                    headers={**auth, "Content-Type": "image/png"})
    assert ok.status_code == 201, ok.text
    assert ok.json()["sha256"] == hashlib.sha256(photo).hexdigest()

    path = f"{UPLOAD}?reporter_ref=tg:7"
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {SERVER_TOKEN}"
            "\r\nContent-Type: image/png\r\n")
    # a declared length over the limit: answered after the headers, no body needed
    started = time.monotonic()
    declared = raw_request(server, head + f"Content-Length: {FIVE_MIB + 1}\r\n\r\n", [])
    assert declared.startswith(b"HTTP/1.1 413"), declared[:200]
    assert time.monotonic() - started < 5

    # no length (chunked): refused once what arrived passes the limit
    def chunked():
        piece = b"\x89PNG\r\n\x1a\n" + b"\0" * (256 * 1024 - 8)
        for _ in range(FIVE_MIB // len(piece) + 4):
            yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        yield b"0\r\n\r\n"

    streamed = raw_request(server, head + "Transfer-Encoding: chunked\r\n\r\n", chunked())
    assert streamed.startswith(b"HTTP/1.1 413"), streamed[:200]
    listing = httpx.get(f"{base}/api/v1/orders/latest", params={"reporter_ref": "tg:7"},
                        headers=auth)
    assert listing.status_code == 200  # the server is still serving
