"""Web sender ids in signed cookies (integrations/web_sender.py)."""
from __future__ import annotations

import pytest

from integrations.web_sender import new_sender, sign, verify

KEY = b"k" * 32
DAY = 86400


def test_a_signed_sender_verifies():
    sender = new_sender()
    assert sender.startswith("web:") and len(sender) > 20
    assert new_sender() != sender
    assert verify(sign(sender, KEY, now=1000), KEY, DAY, now=1000 + DAY) == sender


def test_another_key_an_edited_sender_or_an_old_cookie_does_not():
    cookie = sign("web:alice", KEY, now=1000)
    assert verify(cookie, b"x" * 32, DAY, now=1000) is None
    assert verify(cookie, KEY, DAY, now=1000 + DAY + 1) is None
    forged_payload = sign("web:mallory", KEY, now=1000).split(".")[0]
    assert verify(forged_payload + "." + cookie.split(".")[1], KEY, DAY, now=1000) is None


@pytest.mark.parametrize("value", [None, "", "web:alice", "a.b.c", "!!!.???", "YQ.YQ"])
def test_garbage_does_not_verify(value):
    assert verify(value, KEY, DAY) is None


def test_only_web_senders_and_real_keys():
    with pytest.raises(ValueError):
        sign("tg:123", KEY)
    with pytest.raises(ValueError):
        sign("web:alice", b"short")
