"""The REST channel's token rules (bot/channels.py), without a server; the
running channel is tested end to end in tests/app/e2e/test_rasa_hops.py."""
from __future__ import annotations

import pytest

from bot.channels import TokenRestInput, channel_of, refusal, sender_allowed, tokens_from_env

TOKENS = {"web": "web-token", "tg": "tg-token", "voice": "voice-token"}


def test_tokens_come_from_the_environment_and_an_unset_one_is_off():
    env = {"CHANNEL_TOKEN_WEB": "w", "CHANNEL_TOKEN_TELEGRAM": "  ", "CHANNEL_TOKEN_VOICE": "v"}
    assert tokens_from_env(env) == {"web": "w", "voice": "v"}


def test_the_token_names_its_channel():
    assert channel_of("tg-token", TOKENS) == "tg"
    assert channel_of("tg-token2", TOKENS) is None
    assert channel_of(None, TOKENS) is None
    assert channel_of("web-token", {}) is None


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer nope", "web-token",
                                           "Basic web-token", "Bearer web-token2"])
def test_no_or_an_unknown_token_is_401(authorization):
    status, reason, reason_zh = refusal(authorization, {"sender": "web:1"}, TOKENS)
    assert status == 401 and reason_zh == "未授权的访问。"


@pytest.mark.parametrize("token, body", [
    ("web-token", {"sender": "tg:123"}),
    ("tg-token", {"sender": "web:x"}),
    ("voice-token", {"sender": "tg:123"}),
    ("web-token", {"sender": "web:"}),
    ("web-token", {"sender": "web"}),
    ("web-token", {"sender": "web:a b"}),
    ("web-token", {"sender": "web:" + "x" * 200}),
    ("web-token", {"sender": 7}),
    ("web-token", {}),
    ("web-token", None),
])
def test_a_sender_outside_the_tokens_prefix_is_403(token, body):
    assert refusal(f"Bearer {token}", body, TOKENS)[0] == 403


@pytest.mark.parametrize("token, sender", [("web-token", "web:abc"), ("tg-token", "tg:123"),
                                           ("voice-token", "voice:h:0a1b"),
                                           ("voice-token", "voice:13800138000")])
def test_the_right_pair_passes(token, sender):
    assert refusal(f"bearer {token}", {"sender": sender, "message": "你好"}, TOKENS) is None


def test_sender_prefix_is_exact():
    assert not sender_allowed("web", "webx:1")
    assert sender_allowed("web", "web:1")


def test_a_channel_needs_its_own_token():
    with pytest.raises(ValueError, match="own token"):
        TokenRestInput({"web": "same", "tg": "same"})


def test_the_channel_keeps_rasas_rest_path_and_input_channel():
    channel = TokenRestInput(TOKENS)
    assert channel.name() == "rest" and channel.url_prefix() == "rest"
    assert channel._extract_input_channel(None) == "rest"
