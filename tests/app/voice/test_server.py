"""The AudioSocket server and the control API over real sockets on 127.0.0.1: whatever a
peer sends, that call ends cleanly (logged, hang-up frame, closed) and the next call is
served as usual; the dialplan's API validates its input and remembers what follows a call."""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import uuid

import httpx
import pytest

from tests.app.voice.doubles import ToneSpeaker
from tests.app.voice.gateway_support import Gateway
from tests.audiosocket_client import AudioSocketClient
from voice import prompts
from voice.control import CallRegistry, InvalidCaller, NextAction, parse_caller
from voice.protocol import MAX_PAYLOAD


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def assert_serves_a_normal_call(gw: Gateway) -> None:
    """A well-behaved call after whatever came before: greeted, heard, relayed."""
    gw.model.say("路灯坏了")
    async with gw.client(caller="13900000001") as client:
        await client.wait_audio(timeout=3)
        await client.wait_quiet()
        await client.say(0.3, 0.5)
        await client.wait_audio(timeout=3, since=client.audio[-1].at + 0.01)
        await client.hangup()
    assert gw.rasa.texts_from(gw.sender("13900000001")) == ["/greet", "路灯坏了"]


async def ended_by_gateway(client: AudioSocketClient) -> None:
    await client.wait_closed(timeout=3)
    assert client.hung_up_by_gateway


async def raw_connection(gw: Gateway) -> AudioSocketClient:
    client = AudioSocketClient(gw.host, gw.port, send_call_id=False)
    await client.connect()
    return client


@pytest.mark.asyncio
async def test_random_bytes_end_that_connection_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "voice")
    rng = random.Random(6)
    async with Gateway() as gw:
        for _ in range(5):  # as the first frame
            client = await raw_connection(gw)
            await client.send_raw(bytes(rng.randrange(256) for _ in range(600)))
            await client.wait_closed(timeout=3)
            await client.close()
        async with gw.client() as client:  # in the middle of a call
            await client.wait_audio(timeout=3)
            await client.send_raw(b"\x42" + bytes(rng.randrange(256) for _ in range(600)))
            await ended_by_gateway(client)
            assert await client.next_action() == "hangup"
        assert "protocol error: unknown frame type 0x42" in caplog.text
        await assert_serves_a_normal_call(gw)
        await gw.wait_idle()


@pytest.mark.asyncio
@pytest.mark.parametrize("bad, logged", [
    (b"\x7f\x00\x00", "unknown frame type 0x7f"),
    (b"\x10" + (MAX_PAYLOAD + 1).to_bytes(2, "big") + bytes(64), "exceeds"),
    (b"\x03\x00\x01Z", "not a DTMF digit"),
])
async def test_a_bad_frame_mid_call_is_logged_and_the_call_hung_up(
        bad: bytes, logged: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "voice")
    async with Gateway() as gw:
        async with gw.client() as client:
            await client.wait_audio(timeout=3)
            await client.send_raw(bad)
            await ended_by_gateway(client)
        assert logged in caplog.text
        await assert_serves_a_normal_call(gw)


@pytest.mark.asyncio
async def test_a_disconnect_in_mid_frame_frees_the_call(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "voice")
    async with Gateway() as gw:
        async with gw.client() as client:
            await client.wait_audio(timeout=3)
            await client.send_raw(b"\x10\x01\x40" + bytes(100))
            await client.close()
        await gw.wait_idle()
        assert "inside a AUDIO payload" in caplog.text
        await assert_serves_a_normal_call(gw)


@pytest.mark.asyncio
async def test_a_connection_must_name_its_call_first(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "voice")
    async with Gateway() as gw:
        silent = await raw_connection(gw)  # says nothing at all
        await ended_by_gateway(silent)
        assert "no call id within 0.5 s" in caplog.text

        audio_first = await raw_connection(gw)
        await audio_first.send_audio(bytes(320))
        await ended_by_gateway(audio_first)
        assert "first frame was AUDIO, not the call id" in caplog.text

        half = await raw_connection(gw)  # half a call id, then gone
        await half.send_raw(b"\x01\x00\x10" + bytes(8))
        await half.close()
        await assert_serves_a_normal_call(gw)
        assert not gw.rasa.texts_from(f"voice:unknown-{silent.call_id}")


@pytest.mark.asyncio
async def test_twenty_calls_at_once_and_one_more_hears_the_line_is_busy() -> None:
    async with Gateway(voice_max_calls=20) as gw:
        clients = [gw.client(caller=f"1380000{i:04d}") for i in range(20)]
        await asyncio.gather(*(c.connect() for c in clients))
        await asyncio.gather(*(c.wait_audio(timeout=5) for c in clients))
        assert gw.server.active_calls == 20

        async with gw.client(caller="13700000000") as extra:
            await ended_by_gateway(extra)
            assert extra.audio, "the busy prompt is spoken"
            assert len(extra.audio) == ToneSpeaker.frames_for(prompts.BUSY)
            assert await extra.next_action() == "hangup"
        assert gw.speaker.spoken.count(prompts.BUSY) == 1
        assert not gw.rasa.texts_from(gw.sender("13700000000"))

        await asyncio.gather(*(c.hangup() for c in clients))
        await gw.wait_idle()
        senders = {s for s, text in gw.rasa.messages if text == "/greet"}
        assert senders == {gw.sender(f"1380000{i:04d}") for i in range(20)}
        await assert_serves_a_normal_call(gw)


@pytest.mark.asyncio
async def test_a_caller_hanging_up_stops_everything_for_that_call() -> None:
    async with Gateway() as gw:
        async with gw.client() as client:
            await client.wait_audio(timeout=3)  # the greeting is playing
            await client.hangup()
        await gw.wait_idle()
        frames_then = len(client.audio)
        gc.collect()
        assert gw.model.live_recognizers == 0
        assert gw.model.closed == gw.model.made == 1  # its decoder went back to the model
        tasks = [t for t in asyncio.all_tasks() if (t.get_name() or "").startswith("call-")]
        assert tasks == []
        await asyncio.sleep(0.2)
        assert len(client.audio) == frames_then
        await assert_serves_a_normal_call(gw)


@pytest.mark.asyncio
async def test_stopping_the_gateway_hands_calls_in_progress_to_a_person() -> None:
    async with Gateway() as gw:
        client = gw.client()
        await client.connect()
        await client.wait_quiet()
        await gw.server.stop(grace_s=3)
        await ended_by_gateway(client)
        assert gw.speaker.spoken[-1] == prompts.TRANSFER
        assert await client.next_action() == "transfer"
        with pytest.raises(OSError):
            await asyncio.open_connection(gw.host, gw.port)
        await client.close()


@pytest.mark.asyncio
async def test_no_phone_number_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, "voice")
    async with Gateway() as gw:
        await assert_serves_a_normal_call(gw)
    assert "13900000001" not in caplog.text
    assert "139****0001" in caplog.text


# ---------------------------------------------------------------------- control API


@pytest.mark.asyncio
async def test_control_api_registers_callers_and_tells_what_follows() -> None:
    async with Gateway() as gw, httpx.AsyncClient(base_url=gw.control_url,
                                                  headers=bearer(gw.secret)) as http:
        call = uuid.uuid4()
        created = await http.post("/calls", json={"call_id": str(call), "caller": "+86 138-0000-0000"})
        assert created.status_code == 201
        assert created.json() == {"call_id": str(call), "caller_known": True}
        assert await gw.registry.caller(call) == "13800000000"
        next_ = await http.get(f"/calls/{call}/next")
        assert (next_.status_code, next_.text) == (200, "hangup")
        await gw.registry.finish(call, NextAction.TRANSFER)
        assert (await http.get(f"/calls/{call}/next")).text == "transfer"

        unknown = await http.get(f"/calls/{uuid.uuid4()}/next")
        assert (unknown.status_code, unknown.text) == (404, "hangup")

        withheld = await http.post("/calls", json={"call_id": str(uuid.uuid4()), "caller": "anonymous"})
        assert withheld.json()["caller_known"] is False

        # what Asterisk's CURL(url,data) sends: a form
        form_call = uuid.uuid4()
        form = await http.post("/calls", content=f"call_id={form_call}&caller=%2B8613912345678",
                               headers={"content-type": "application/x-www-form-urlencoded"})
        assert form.status_code == 201 and await gw.registry.caller(form_call) == "13912345678"
        smuggled = await http.post(
            "/calls", content=f"call_id={uuid.uuid4()}&caller=1&call_id={form_call}",
            headers={"content-type": "application/x-www-form-urlencoded"})
        assert smuggled.status_code == 400

        health = await http.get("/health")
        assert health.json() == {"status": "ok", "calls": 0}


@pytest.mark.asyncio
@pytest.mark.parametrize("body, field", [
    ({"call_id": "not-a-uuid", "caller": "13800000000"}, "call_id"),
    ({"call_id": 42, "caller": "13800000000"}, "call_id"),
    ({"caller": "13800000000"}, "call_id"),
    ({"call_id": "UUID", "caller": "1" * 40}, "caller"),
    ({"call_id": "UUID", "caller": "12"}, "caller"),
    ({"call_id": "UUID", "caller": "13800000000; DROP"}, "caller"),
    ({"call_id": "UUID", "caller": 13800000000}, "caller"),
    ({"call_id": "UUID", "caller": "１２３４５６７８９０１２３４５６"}, "caller"),
])
async def test_control_api_refuses_bad_input_with_a_reason(body: dict, field: str) -> None:
    if body.get("call_id") == "UUID":
        body["call_id"] = str(uuid.uuid4())
    async with Gateway() as gw, httpx.AsyncClient(base_url=gw.control_url,
                                                  headers=bearer(gw.secret)) as http:
        response = await http.post("/calls", json=body)
        assert response.status_code == 400
        detail = response.json()["detail"]
        assert detail["field"] == field and detail["reason"] and detail["reason_zh"]
        assert len(gw.registry) == 0
        bad_path = await http.get("/calls/nope/next")
        assert bad_path.status_code == 400
        not_json = await http.post("/calls", content=b"{oops", headers={"content-type": "application/json"})
        assert not_json.status_code == 400
        not_object = await http.post("/calls", json=["x"])
        assert not_object.status_code == 400


@pytest.mark.asyncio
async def test_a_registered_number_becomes_the_sender_and_an_unknown_one_the_call_id() -> None:
    async with Gateway() as gw:
        async with gw.client(caller="010-8765 4321") as known:
            await known.wait_audio(timeout=3)
        async with gw.client(caller=None) as unknown:  # the dialplan registered nothing
            await unknown.wait_audio(timeout=3)
    assert gw.rasa.texts_from(gw.sender("01087654321")) == ["/greet"]
    assert gw.rasa.texts_from(f"voice:unknown-{unknown.call_id}") == ["/greet"]


def test_parse_caller() -> None:
    assert parse_caller("13800000000") == "13800000000"
    assert parse_caller("008613800000000") == "13800000000"
    assert parse_caller("(0755)12345678") == "075512345678"
    assert parse_caller("1001") == "1001"  # an extension
    assert parse_caller("+442071234567") == "+442071234567"
    assert parse_caller(None) is None
    assert parse_caller(" Anonymous ") is None
    assert parse_caller("") is None
    for bad in ("12", "1" * 16, "abc", "+", "13８00000000x", 42, ["1"]):
        with pytest.raises(InvalidCaller):
            parse_caller(bad)


def test_registry_forgets_calls_after_the_ttl_and_keeps_a_bounded_number() -> None:
    now = [0.0]
    registry = CallRegistry(ttl_s=600, max_entries=3, clock=lambda: now[0])
    a, b = uuid.uuid4(), uuid.uuid4()
    registry.register_now(a, "13800000000")
    now[0] = 500
    registry.finish_now(a, NextAction.TRANSFER)  # kept 600 s from the end of the call
    now[0] = 1000
    assert registry.next_action_now(a) is NextAction.TRANSFER
    assert registry.caller_now(a) == "13800000000"
    now[0] = 1101
    assert registry.next_action_now(a) is None
    registry.finish_now(b, NextAction.HANGUP)  # a call the dialplan never registered
    assert registry.next_action_now(b) is NextAction.HANGUP and registry.caller_now(b) is None
    for _ in range(5):
        registry.register_now(uuid.uuid4(), None)
    assert len(registry) == 3 and registry.next_action_now(b) is None



# ---------------------------------------------------------------------- the dialplan's secret


@pytest.mark.asyncio
async def test_control_api_answers_only_the_dialplan_with_its_secret() -> None:
    async with Gateway() as gw, httpx.AsyncClient(base_url=gw.control_url) as http:
        call = uuid.uuid4()
        body = {"call_id": str(call), "caller": "13800000000"}
        for headers in ({}, bearer("wrong-secret-0123456789"), bearer(gw.secret + "x"),
                        {"Authorization": gw.secret}, {"Authorization": "Bearer"},
                        {"Authorization": "Basic !!notbase64"}):
            refused = await http.post("/calls", data=body, headers=headers)
            assert refused.status_code == 401, headers
            assert refused.json()["detail"]["reason_zh"] == "缺少或错误的接口密钥"
            assert (await http.get(f"/calls/{call}/next", headers=headers)).status_code == 401
        assert len(gw.registry) == 0 and await gw.registry.caller(call) is None

        # CURLOPT(httpheader)=Authorization: Bearer ..., and CURLOPT(userpwd)=dialplan:...
        accepted = await http.post("/calls", data=body, headers=bearer(gw.secret))
        assert accepted.status_code == 201 and await gw.registry.caller(call) == "13800000000"
        basic = await http.get(f"/calls/{call}/next", auth=("dialplan", gw.secret))
        assert (basic.status_code, basic.text) == (200, "hangup")
        assert (await http.get("/health")).status_code == 200  # for the launcher's probe


def test_control_api_needs_a_real_secret() -> None:
    from voice.control import control_app
    for secret in ("", "   ", "short"):
        with pytest.raises(ValueError):
            control_app(CallRegistry(), secret)


@pytest.mark.asyncio
async def test_rasa_hears_a_keyed_hash_and_the_number_only_encrypted() -> None:
    from integrations.shared.identity import CALLER_CONTEXT, METADATA_KEY, caller_number
    async with Gateway() as gw:
        await assert_serves_a_normal_call(gw)
    sender = gw.sender("13900000001")
    assert sender.startswith("voice:h:") and len(sender) == len("voice:h:") + 32
    assert [s for s, _ in gw.rasa.messages] == [sender, sender]
    tokens = [m[METADATA_KEY] for m in gw.rasa.metadata]
    assert all("13900000001" not in t for t in tokens)
    assert {gw.vault.decrypt(t, context=CALLER_CONTEXT) for t in tokens} == {"13900000001"}
    assert caller_number(gw.vault, tokens[0], sender) == "13900000001"
