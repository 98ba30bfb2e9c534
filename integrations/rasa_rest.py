"""The one client of Rasa's REST channel, shared by the channels (Telegram, the voice line):
a resident's message in, the bot's replies out."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/rest/webhook"


class RasaUnavailable(Exception):
    """Rasa did not answer (down, restarting, overloaded): the message was not taken."""


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: tuple[Button, ...] = field(default_factory=tuple)
    #: a custom payload (``json_message``) for the channel, e.g. ``{"voice": "transfer"}``
    custom: dict[str, Any] | None = None


def intent_payload(intent: str, entities: dict[str, Any]) -> str:
    """``/intent{"entity": value}``: how a channel hands Rasa an event it already understood."""
    return f"/{intent}{json.dumps(entities, ensure_ascii=False, separators=(',', ':'))}"


def as_typed_text(text: str) -> str:
    """What a resident typed, never read by Rasa as an intent payload (``/intent{...}``)."""
    return text.strip().lstrip("/").strip()


def parse_replies(body: Any) -> list[Reply]:
    """Rasa's REST answer (a list of ``{"text", "buttons", "custom", ...}``) as replies.

    Buttons without a text of their own join the text before; a custom
    payload without text is a reply of its own with an empty text.
    """
    if not isinstance(body, list):
        raise RasaUnavailable("Rasa answered something that is not a list of messages")
    replies: list[Reply] = []
    for item in body:
        if not isinstance(item, dict):
            continue
        text = item.get("text")
        buttons = tuple(
            Button(str(b.get("title", "")), str(b.get("payload") or b.get("title", "")))
            for b in item.get("buttons") or []
            if isinstance(b, dict) and b.get("title")
        )
        custom = item.get("custom") if isinstance(item.get("custom"), dict) else None
        if isinstance(text, str) and text.strip():
            replies.append(Reply(text.strip(), buttons, custom))
        elif custom is not None:
            replies.append(Reply("", buttons, custom))
        elif buttons and replies:  # buttons without their own text belong to the text before
            last = replies.pop()
            replies.append(Reply(last.text, last.buttons + buttons))
    return replies


class RasaRelay:
    """POSTs to the REST channel with a few quick retries (Rasa restarting, a dropped connection).

    ``token`` is the channel's token (``CHANNEL_TOKEN_TELEGRAM``, ``CHANNEL_TOKEN_VOICE``),
    sent as ``Authorization: Bearer``; the REST channel lets it speak only for
    the channel's own senders (``tg:*``, ``voice:*``) and refuses a request
    without one (401, here RasaUnavailable).
    """

    def __init__(self, base_url: str, http: httpx.AsyncClient, *, token: str | None = None,
                 timeout: float = 20.0, attempts: int = 3, backoff: float = 0.5) -> None:
        self._url = base_url.rstrip("/") + WEBHOOK_PATH
        self._http = http
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        if not token:
            log.warning("no channel token for Rasa's REST channel: it will refuse every message")
        self._timeout = timeout
        self._attempts = max(1, attempts)
        self._backoff = backoff

    async def send(self, sender: str, text: str, metadata: dict[str, Any] | None = None) -> list[Reply]:
        body: dict[str, Any] = {"sender": sender, "message": text}
        if metadata:
            body["metadata"] = metadata
        last_error = ""
        for attempt in range(self._attempts):
            if attempt:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
            try:
                response = await self._http.post(self._url, json=body, headers=self._headers,
                                                 timeout=self._timeout)
            except httpx.TimeoutException:
                # Rasa may have taken the message: sending it again could repeat a
                # turn, so a timeout is not retried here.
                raise RasaUnavailable("Rasa timed out") from None
            except httpx.TransportError as exc:
                last_error = f"{type(exc).__name__}"
                continue
            if response.is_server_error:
                last_error = f"HTTP {response.status_code}"
                continue
            if not response.is_success:
                raise RasaUnavailable(f"Rasa refused the message: HTTP {response.status_code}")
            try:
                return parse_replies(response.json())
            except ValueError as exc:
                raise RasaUnavailable("Rasa answered with invalid JSON") from exc
        raise RasaUnavailable(f"Rasa unreachable ({last_error})")
