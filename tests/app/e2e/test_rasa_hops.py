"""End to end: the Rasa hops of the running stack are authenticated.

- Rasa's REST channel answers only `Authorization: Bearer <channel token>`,
  and each channel's token speaks only for its own senders (web:*, tg:*,
  voice:*): none or an unknown token 401, another channel's sender 403.
- The action server answers only Rasa (the shared secret Rasa sends from
  bot/endpoints.yml), so a conversation works while a direct call does not.
- Rasa's own HTTP API stays behind --auth-token.

One stack for the module (the `stack` fixture of conftest.py).
"""
from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.slow

GREETING = "您好"


def post_rest(stack, body: dict, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.post(stack.rest_url, json=body, headers=headers, timeout=60)


def hello(sender: str) -> dict:
    return {"sender": sender, "message": "你好"}


def test_no_token_gets_401(stack):
    response = post_rest(stack, hello("web:hops-none"), None)
    assert response.status_code == 401
    assert response.json()["detail"]["reason_zh"]
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("authorization", ["Bearer not-a-channel-token", "Bearer", "Basic abc",
                                           "web-token-without-scheme"])
def test_an_unknown_token_gets_401(stack, authorization):
    if authorization == "web-token-without-scheme":
        authorization = stack.channel_token("web:")
    response = httpx.post(stack.rest_url, json=hello("web:hops-unknown"),
                          headers={"Authorization": authorization}, timeout=60)
    assert response.status_code == 401


@pytest.mark.parametrize("channel, sender", [
    ("web:", "tg:123"),            # a web front end speaking as a Telegram resident
    ("web:", "voice:13800138000"),  # ... or as a phone caller
    ("tg:", "web:x"),
    ("tg:", "voice:13800138000"),
    ("voice:", "tg:123"),
    ("web:", "webx:1"),
    ("web:", "web:"),
    ("web:", "web:two words"),
    ("web:", None),                # Rasa would call a missing sender "default"
])
def test_a_token_speaks_only_for_its_own_senders(stack, channel, sender):
    body = {"message": "我的事怎么样了"} if sender is None else \
        {"sender": sender, "message": "我的事怎么样了"}
    response = post_rest(stack, body, stack.channel_token(channel))
    assert response.status_code == 403, response.text
    detail = response.json()["detail"]
    assert detail["reason_zh"] == "无权以该身份发送消息。"
    assert channel.rstrip(":") in detail["reason"]


@pytest.mark.parametrize("sender", ["web:hops-web", "tg:80020002", "voice:13900001111"])
def test_each_channel_token_with_its_own_sender_gets_the_bot(stack, sender):
    response = post_rest(stack, hello(sender), stack.channel_token(sender))
    assert response.status_code == 200, response.text
    replies = response.json()
    assert replies and GREETING in replies[0]["text"]
    assert replies[0]["recipient_id"] == sender


def test_metadata_is_kept_and_the_input_channel_cannot_be_chosen(stack):
    sender = "web:hops-metadata"
    body = {**hello(sender), "metadata": {"page": "/report"}, "input_channel": "telegram"}
    assert post_rest(stack, body, stack.channel_token(sender)).status_code == 200
    tracker = httpx.get(f"{stack.rasa_url}/conversations/{sender}/tracker",
                        params={"token": stack.rasa_token}, timeout=30).json()
    assert tracker["latest_message"]["metadata"] == {"page": "/report"}
    assert tracker["latest_input_channel"] == "rest"


def test_rasa_http_api_needs_its_token(stack):
    url = f"{stack.rasa_url}/conversations/web:hops-web/tracker"
    assert httpx.get(url, timeout=30).status_code == 401
    assert httpx.get(url, params={"token": stack.channel_token("web:")},
                     timeout=30).status_code == 401
    assert httpx.get(url, params={"token": stack.rasa_token}, timeout=30).status_code == 200
    parse = httpx.post(f"{stack.rasa_url}/model/parse", json={"text": "你好"}, timeout=30)
    assert parse.status_code == 401
    # the channel's token check stays on the channel: the API's own POSTs work with its token
    parse = httpx.post(f"{stack.rasa_url}/model/parse", params={"token": stack.rasa_token},
                       json={"text": "你好"}, timeout=30)
    assert parse.status_code == 200 and parse.json()["intent"]["name"] == "greet"


def test_the_action_server_answers_rasa_only(stack):
    call = {"next_action": "action_status", "sender_id": "voice:13900001111",
            "tracker": {"sender_id": "voice:13900001111", "slots": {}, "latest_message": {},
                        "events": []}, "domain": {}, "version": "3.6.2"}
    direct = httpx.post(f"{stack.actions_url}/webhook", json=call, timeout=30)
    assert direct.status_code == 401
    wrong = httpx.post(f"{stack.actions_url}/webhook", json=call, timeout=30,
                       headers={"Authorization": f"Bearer {stack.channel_token('web:')}"})
    assert wrong.status_code == 401
    # through Rasa (which sends the secret) the action runs: action_status answers
    replies = stack.say("web:hops-status", "我的事怎么样了")
    assert "您目前没有正在办理的反映" in "".join(replies), replies
