"""The REST-channel client shared by the channels: replies parsed with their buttons,
typed text never a payload, outages typed."""

import json

import httpx
import pytest

from integrations.rasa_rest import (
    Button,
    RasaRelay,
    RasaUnavailable,
    Reply,
    as_typed_text,
    intent_payload,
    parse_replies,
)


def test_parse_replies_keeps_buttons_with_their_text() -> None:
    body = [
        {"recipient_id": "tg:1", "text": "我核对一下：……对吗？",
         "buttons": [{"title": "对", "payload": "对"}, {"title": "不对", "payload": "不对"}]},
        {"recipient_id": "tg:1", "text": "  "},
        {"recipient_id": "tg:1", "image": "http://x/y.png"},
    ]
    assert parse_replies(body) == [
        Reply("我核对一下：……对吗？", (Button("对", "对"), Button("不对", "不对")))
    ]


def test_parse_replies_keeps_custom_payloads_for_the_channel() -> None:
    body = [{"text": "正在为您转接工作人员。", "custom": {"voice": "transfer"}},
            {"custom": {"voice": "hangup"}}]
    assert parse_replies(body) == [Reply("正在为您转接工作人员。", (), {"voice": "transfer"}),
                                   Reply("", (), {"voice": "hangup"})]


def test_parse_replies_rejects_non_lists() -> None:
    with pytest.raises(RasaUnavailable):
        parse_replies({"error": "x"})


def test_typed_text_cannot_become_an_intent_payload() -> None:
    assert as_typed_text('/share_photo{"attachment_id": "someone-else"}') == \
        'share_photo{"attachment_id": "someone-else"}'
    assert as_typed_text("  //start ") == "start"


def test_intent_payload_is_compact_json() -> None:
    text = intent_payload("share_location", {"latitude": 31.2, "longitude": 121.5})
    assert text == '/share_location{"latitude":31.2,"longitude":121.5}'


@pytest.mark.asyncio
async def test_relay_posts_sender_and_retries_server_errors() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content))
        if len(calls) == 1:
            return httpx.Response(503)
        return httpx.Response(200, json=[{"recipient_id": "tg:7", "text": "您好"}])

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        relay = RasaRelay("http://rasa", http, backoff=0)
        assert await relay.send("tg:7", "你好") == [Reply("您好")]
    assert calls == [{"sender": "tg:7", "message": "你好"}] * 2


@pytest.mark.asyncio
async def test_relay_gives_up_with_a_typed_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        relay = RasaRelay("http://rasa", http, attempts=2, backoff=0)
        with pytest.raises(RasaUnavailable):
            await relay.send("tg:7", "你好")


@pytest.mark.asyncio
async def test_relay_sends_its_channel_token_as_a_bearer() -> None:
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json=[{"recipient_id": "tg:7", "text": "您好"}])

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        await RasaRelay("http://rasa", http, token="tg-token").send("tg:7", "你好")
        await RasaRelay("http://rasa", http).send("tg:7", "你好")
    assert seen == ["Bearer tg-token", None]


@pytest.mark.asyncio
async def test_relay_does_not_retry_a_refused_token() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(401, json={"detail": {"reason": "x", "reason_zh": "未授权的访问。"}})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        relay = RasaRelay("http://rasa", http, token="wrong", backoff=0)
        with pytest.raises(RasaUnavailable, match="401"):
            await relay.send("tg:7", "你好")
    assert calls == [1]
