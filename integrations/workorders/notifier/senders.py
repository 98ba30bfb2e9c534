"""Senders: how one outbox message reaches its receiver, one class per channel.

A sender gets a ``Delivery`` (an immutable copy of the outbox row) and either
returns (delivered) or raises:

- ``TransientError``: try again later (network error, timeout, receiver
  overloaded). ``retry_after`` (seconds), when the receiver said when, replaces
  the notifier's own backoff for that attempt.
- ``PermanentError``: trying again cannot help (the recipient blocked the bot,
  the receiver rejects the request). The row becomes dead for an operator.

Any other exception is a bug in a sender; the notifier treats it as transient,
so a fixed deployment still delivers the message.

Senders are looked up by channel in a ``SenderRegistry``. Channels without a
sender of their own go to the registry's fallback, normally ``LogSender``: the
Telegram and voice senders plug in later through ``registry.register``; until
then their messages are written to the log (redacted) and count as delivered.
The entrypoint warns at start-up about every channel served by the fallback.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from integrations.shared.delivery import CHANNELS, Delivery, PermanentError, Sender, TransientError
from integrations.shared.privacy import redact

__all__ = [
    "LogSender",
    "SenderRegistry",
    "WebhookSender",
    "parse_retry_after",
    "sign",
    "verify_signature",
]

# -------------------------------------------------------------------- log sender


class LogSender:
    """Writes each message as one JSON log line, phone numbers masked. Never fails.

    Serves the ``log`` channel and, as the registry's fallback, channels whose
    sender is not configured (so development runs need no bot token). Names in
    free text are not recognised by ``redact``; producers keep them out of
    notification texts.
    """

    def __init__(self, logger: logging.Logger | None = None, level: int = logging.INFO) -> None:
        self._logger = logger or logging.getLogger("integrations.workorders.notifier.outbox")
        self._level = level

    async def send(self, message: Delivery) -> None:
        line = json.dumps(
            {
                "event": "outbox.message",
                "id": message.id,
                "topic": message.topic,
                "channel": message.channel,
                "recipient_kind": message.recipient_kind,
                "recipient_ref": message.recipient_ref,
                "order_number": message.order_number,
                "dedupe_key": message.dedupe_key,
                "attempt": message.attempts + 1,
                "text": message.text,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        # redact() only rewrites digit runs into masks without quotes or
        # backslashes, so the line stays valid JSON.
        self._logger.log(self._level, "%s", redact(line))


# ---------------------------------------------------------------------- webhooks

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
_SIGNATURE_PREFIX = "sha256="
# Statuses worth retrying besides 5xx: request timeout, too early, too many requests.
_RETRYABLE_4XX = frozenset({408, 425, 429})
# Statuses whose Retry-After we honour.
_RETRY_AFTER_STATUSES = frozenset({429, 503})
_ERROR_SNIPPET = 200


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def sign(secret: str | bytes, timestamp: str | int, body: str | bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``, the ``X-Signature`` value."""
    mac = hmac.new(_as_bytes(secret), f"{timestamp}.".encode("ascii") + _as_bytes(body), hashlib.sha256)
    return _SIGNATURE_PREFIX + mac.hexdigest()


def verify_signature(
    secret: str | bytes,
    timestamp: str | int | None,
    body: str | bytes,
    header: str | None,
    max_age_s: float = 300,
    now: float | None = None,
) -> bool:
    """For receivers: True if ``header`` signs ``body`` at ``timestamp`` and is fresh.

    ``timestamp`` and ``header`` are the raw ``X-Timestamp`` and ``X-Signature``
    values, ``body`` the raw request body (bytes as received; re-serialised JSON
    would not match). The timestamp must be within ``max_age_s`` of ``now``
    (Unix seconds, default the current time) either way, which limits replays;
    receivers still de-duplicate on ``Idempotency-Key``. Never raises for bad
    input: it returns False.
    """
    if not header or timestamp is None or not secret:
        return False
    ts_text = str(timestamp).strip()
    if not ts_text.isascii() or not ts_text.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(ts_text)) > max_age_s:
        return False
    expected = sign(secret, ts_text, body)
    return hmac.compare_digest(expected.encode("ascii"), header.strip().encode("utf-8", "replace"))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _snippet(response: httpx.Response) -> str:
    try:
        text = response.text
    except Exception:  # undecodable body: the status is enough
        return ""
    text = " ".join(text.split())[:_ERROR_SNIPPET]
    return f": {redact(text)}" if text else ""


class WebhookSender:
    """POSTs each message as signed JSON to one URL.

    Body (UTF-8 JSON)::

        {"dedupe_key", "topic", "recipient": {"kind", "ref"}, "order_number",
         "payload", "sent_at"}

    Headers: ``X-Timestamp`` (Unix seconds), ``X-Signature: sha256=<hex>``
    (HMAC-SHA256 with the shared secret over ``"<X-Timestamp>.<raw body>"``;
    check with ``verify_signature``) and ``Idempotency-Key: <dedupe_key>``: a
    redelivery carries the same key, so the receiver acts on it once.

    Outcomes: any 2xx is delivered; 408, 425, 429, 5xx, timeouts and network
    errors are transient (429 and 503 honour ``Retry-After``); any other status
    (other 4xx, and 1xx/3xx: redirects are not followed, a moved endpoint is a
    configuration error) is permanent.
    """

    def __init__(
        self,
        url: str,
        secret: str,
        client: httpx.AsyncClient,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not url:
            raise ValueError("a webhook sender needs a URL")
        if not secret:
            raise ValueError("a webhook sender needs a secret to sign with")
        self._url = url
        self._secret = secret.encode("utf-8")
        self._client = client
        self._timeout = timeout
        self._clock = clock

    def __repr__(self) -> str:  # never the secret
        return f"<WebhookSender url={self._url!r}>"

    def body(self, message: Delivery, now_s: float) -> dict[str, Any]:
        """What the receiver gets for ``message`` (subclasses send other shapes)."""
        return {
            "dedupe_key": message.dedupe_key,
            "topic": message.topic,
            "recipient": {"kind": message.recipient_kind, "ref": message.recipient_ref},
            "order_number": message.order_number,
            "payload": dict(message.payload),
            "sent_at": datetime.fromtimestamp(now_s, UTC).isoformat(timespec="seconds"),
        }

    def build_request(self, message: Delivery) -> tuple[bytes, dict[str, str]]:
        """The body and headers for ``message``, signed now."""
        now_s = self._clock()
        timestamp = str(int(now_s))
        body = json.dumps(
            self.body(message, now_s), ensure_ascii=False, separators=(",", ":")
        ).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            IDEMPOTENCY_HEADER: message.dedupe_key,
        }
        return body, headers

    async def send(self, message: Delivery) -> None:
        body, headers = self.build_request(message)
        try:
            response = await self._client.post(
                self._url, content=body, headers=headers, timeout=self._timeout
            )
        except httpx.TimeoutException as exc:
            raise TransientError(f"webhook timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"webhook unreachable ({type(exc).__name__}: {redact(str(exc))})") from exc
        self._raise_for(response)

    def _raise_for(self, response: httpx.Response) -> None:
        status = response.status_code
        if response.is_success:
            return
        detail = f"webhook answered HTTP {status}{_snippet(response)}"
        if response.is_server_error or status in _RETRYABLE_4XX:
            retry_after = None
            if status in _RETRY_AFTER_STATUSES:
                retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock())
            raise TransientError(detail, retry_after=retry_after)
        raise PermanentError(detail)


# ---------------------------------------------------------------------- registry


class SenderRegistry:
    """Channel → sender, with a fallback for channels that have none.

    ``fallback=None`` makes an unknown channel a permanent failure (the
    notifier marks such rows dead); the entrypoint uses a ``LogSender``.
    """

    def __init__(
        self,
        senders: Mapping[str, Sender] | None = None,
        fallback: Sender | None = None,
    ) -> None:
        self._senders: dict[str, Sender] = dict(senders or {})
        self.fallback = fallback

    def register(self, channel: str, sender: Sender) -> None:
        self._senders[channel] = sender

    def unserved(self, channels: Iterable[str] = CHANNELS) -> list[str]:
        """Of ``channels``, those that only the fallback (or nothing) serves."""
        return [c for c in channels if c not in self._senders]

    def sender_for(self, channel: str) -> Sender:
        sender = self._senders.get(channel, self.fallback)
        if sender is None:
            raise PermanentError(f"no sender for channel {channel!r}")
        return sender
