"""Sender ids a browser cannot choose, for a web front end of the REST channel.

The front end's server holds the web channel's token (``CHANNEL_TOKEN_WEB``,
``var/run/channel-token``); the browser never sees it. On a visitor's first
request the server issues a random ``web:<id>`` and sets it in a signed,
HttpOnly cookie; every message then goes browser → front-end server (which
reads the sender from the verified cookie) → Rasa (with the token). A
browser can keep or drop its cookie, but cannot forge another visitor's id.

    sender = new_sender()                              # "web:3q2…"
    cookie = sign(sender, key)                         # Set-Cookie value
    verify(cookie, key, max_age_s=30 * 86400)          # -> sender, or None

``key``: the front end's own secret (32 random bytes), not the channel token.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time

PREFIX = "web:"
MIN_KEY_BYTES = 16


def new_sender() -> str:
    """A fresh random web sender id (128 bits)."""
    return PREFIX + secrets.token_urlsafe(16)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> bytes:
    return hmac.new(key, b"web-sender|" + payload.encode("utf-8"), hashlib.sha256).digest()


def _check_key(key: bytes) -> None:
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the signing key needs at least {MIN_KEY_BYTES} random bytes")


def sign(sender: str, key: bytes, now: float | None = None) -> str:
    """The cookie value for ``sender``: ``<sender>.<issued>.<HMAC-SHA256>`` (base64url)."""
    _check_key(key)
    if not sender.startswith(PREFIX) or len(sender) <= len(PREFIX):
        raise ValueError("a web sender id looks like 'web:<id>'")
    payload = f"{sender}|{int(time.time() if now is None else now)}"
    return f"{_b64(payload.encode('utf-8'))}.{_b64(_mac(key, payload))}"


def verify(value: str | None, key: bytes, max_age_s: float,
           now: float | None = None) -> str | None:
    """The sender of a cookie this key signed, not older than ``max_age_s``; else None."""
    _check_key(key)
    if not value or value.count(".") != 1:
        return None
    encoded, signature = value.split(".")
    try:
        payload = _unb64(encoded).decode("utf-8")
        given = _unb64(signature)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not hmac.compare_digest(given, _mac(key, payload)):
        return None
    sender, _, issued = payload.rpartition("|")
    if not sender.startswith(PREFIX) or not issued.isdigit():
        return None
    age = (time.time() if now is None else now) - int(issued)
    return sender if 0 <= age <= max_age_s else None
