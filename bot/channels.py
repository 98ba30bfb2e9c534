"""Rasa's REST channel with channel tokens: each caller speaks only for its own senders.

bot/credentials.yml registers ``bot.channels.TokenRestInput`` instead of
Rasa's ``rest``. It serves the same path, ``POST /webhooks/rest/webhook``,
with the same request (``sender``, ``message``, ``metadata``) and answer, but
only to ``Authorization: Bearer <channel token>``:

- no token, or one no channel has: 401;
- a known token and a ``sender`` outside its prefix (the Telegram adapter's
  token with ``web:x``): 403.

The tokens come from the environment, one per channel; a channel whose token
is unset is off:

    CHANNEL_TOKEN_WEB       web:*    web front ends, tools and tests
    CHANNEL_TOKEN_TELEGRAM  tg:*     integrations/telegram
    CHANNEL_TOKEN_VOICE     voice:*  the phone line (voice/)

The caller cannot choose the input channel either: it is always ``rest``.

A message Rasa could not handle (the lock store or the tracker store
unreachable, ...) is answered ``503`` with a reason and ``Retry-After``,
not Rasa's ``200 []``: the turn was not saved, so the channel may send the
message again (integrations/rasa_rest.py retries, Telegram's inbox keeps it)
instead of taking silence for the bot's answer.
"""
from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request

log = logging.getLogger(__name__)

#: sender prefix -> environment variable with that channel's token
CHANNEL_TOKEN_ENV: Mapping[str, str] = {
    "web": "CHANNEL_TOKEN_WEB",
    "tg": "CHANNEL_TOKEN_TELEGRAM",
    "voice": "CHANNEL_TOKEN_VOICE",
}
MAX_SENDER_CHARS = 128
#: What a resident is told when their message could not be handled now.
UNAVAILABLE_ZH = "系统暂时无法处理您的消息，请稍后再发一次。"
RETRY_AFTER_S = 2

#: The errors of the request being handled (one list per request, set by its middleware).
_turn_errors: ContextVar[list[BaseException] | None] = ContextVar("turn_errors", default=None)


def unavailable_reason(error: BaseException) -> str:
    """What could not be reached, for the 503's ``reason`` (no message text, no sender)."""
    classes = type(error).__mro__
    if any(c.__name__ == "LockError" for c in classes):
        return "the conversation lock store is unavailable"
    if any(c.__name__ == "TrackerStoreUnavailable"
           or c.__module__.partition(".")[0] in ("sqlalchemy", "psycopg2", "psycopg") for c in classes):
        return "the conversation store is unavailable"
    return "the message could not be handled"


def tokens_from_env(env: Mapping[str, str]) -> dict[str, str]:
    """{prefix: token} of the channels whose token is set."""
    return {prefix: env[name].strip() for prefix, name in CHANNEL_TOKEN_ENV.items()
            if (env.get(name) or "").strip()}


def bearer(authorization: str | None) -> str | None:
    scheme, _, value = (authorization or "").partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and value else None


def channel_of(token: str | None, tokens: Mapping[str, str]) -> str | None:
    """The prefix whose token this is (every token compared, in constant time)."""
    if not token:
        return None
    found = None
    for prefix, known in tokens.items():
        if hmac.compare_digest(token.encode(), known.encode()):
            found = prefix
    return found


def sender_allowed(prefix: str, sender: Any) -> bool:
    """``<prefix>:<id>`` with a non-empty id without spaces."""
    if not isinstance(sender, str) or len(sender) > MAX_SENDER_CHARS:
        return False
    head, sep, rest = sender.partition(":")
    return head == prefix and bool(sep) and bool(rest) and not any(c.isspace() for c in rest)


def refusal(authorization: str | None, body: Any,
            tokens: Mapping[str, str]) -> tuple[int, str, str] | None:
    """(status, reason, reason_zh) if the request may not be served, else None."""
    prefix = channel_of(bearer(authorization), tokens)
    if prefix is None:
        return 401, "a channel token is required: Authorization: Bearer <token>", "未授权的访问。"
    sender = body.get("sender") if isinstance(body, dict) else None
    if not sender_allowed(prefix, sender):
        return (403, f"this channel's token may speak only for senders '{prefix}:<id>'",
                "无权以该身份发送消息。")
    return None


class TokenRestInput(RestInput):
    """RestInput behind channel tokens (see the module's docstring)."""

    def __init__(self, tokens: Mapping[str, str] | None = None) -> None:
        self.tokens = dict(tokens_from_env(os.environ) if tokens is None else tokens)
        if len(set(self.tokens.values())) != len(self.tokens):
            raise ValueError("each channel needs its own token: "
                             + ", ".join(CHANNEL_TOKEN_ENV.values()) + " must differ")
        if not self.tokens:
            log.warning("no channel token is set (%s): the REST channel refuses every message",
                        ", ".join(CHANNEL_TOKEN_ENV.values()))
        else:
            log.info("REST channel open to senders %s",
                     ", ".join(f"{p}:*" for p in sorted(self.tokens)))

    @classmethod
    def name(cls) -> str:
        return "rest"  # the same path: /webhooks/rest/webhook

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> TokenRestInput:
        return cls()

    def _extract_input_channel(self, req: Request) -> str:
        return self.name()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        async def noting_errors(message: UserMessage) -> None:
            try:
                await on_new_message(message)
            except Exception as error:
                errors = _turn_errors.get()
                if errors is not None:
                    errors.append(error)
                log.error("a message could not be handled, answering 503: %s (%s)",
                          unavailable_reason(error), type(error).__name__)
                # not raised on: Rasa's channel would log the resident's text with it
                if errors is None:
                    raise

        webhook = super().blueprint(noting_errors)

        @webhook.middleware("request")
        async def authenticate(request: Request) -> response.HTTPResponse | None:
            if request.method != "POST":
                return None  # GET /webhooks/rest/: the channel's health, no data
            try:
                body = request.json
            except Exception:  # Sanic raises InvalidUsage on malformed JSON
                body = None
            refused = refusal(request.headers.get("authorization"), body, self.tokens)
            if refused is None:
                request.ctx.turn_errors = []
                _turn_errors.set(request.ctx.turn_errors)
                return None
            status, reason, reason_zh = refused
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            return response.json({"detail": {"reason": reason, "reason_zh": reason_zh}},
                                 status=status, headers=headers)

        @webhook.middleware("response")
        async def unavailable(request: Request, answer: response.HTTPResponse
                              ) -> response.HTTPResponse | None:
            errors = getattr(request.ctx, "turn_errors", None)
            if not errors:
                return None
            return response.json(
                {"detail": {"reason": unavailable_reason(errors[0]), "reason_zh": UNAVAILABLE_ZH}},
                status=503, headers={"Retry-After": str(RETRY_AFTER_S)})

        return webhook
