"""The dialplan's HTTP API, and the calls it tells the gateway about.

Asterisk's dialplan (``CURL()``) registers the caller's number before it
hands the call to ``AudioSocket()``, and asks afterwards what to do next.
Every request but ``/health`` must carry the shared secret
(``VOICE_CONTROL_SECRET``; ``make run`` writes it to
``var/run/voice-control-secret``) as ``Authorization: Bearer <secret>``, or
as the password of HTTP Basic authentication (any user name); without it, or
with a wrong one: 401. Asterisk sends the header with
``Set(CURLOPT(httpheader)=...)`` (Asterisk 13.x and later; options set on a
channel apply to each later ``CURL()`` of that channel). A header set that way
removes ``CURL()``'s default form content type, so the dialplan sets that
header too. Older versions can send Basic authentication with
``Set(CURLOPT(userpwd)=dialplan:<secret>)``.

    POST /calls              {"call_id": "<uuid>", "caller": "13800000000"} → 201
                             (or the same as a form: call_id=<uuid>&caller=138...)
    GET  /calls/{id}/next    plain text ``hangup`` or ``transfer``
    GET  /health             {"status": "ok", ...}

For example (``CURL(url,data)`` posts a form; commas would split a JSON body)::

    [globals]
    VOICE_CONTROL_SECRET=<the secret>   ; or ${ENV(VOICE_CONTROL_SECRET)}

    exten => 12345,1,Answer()
     same => n,Set(CURLOPT(httpheader)=Authorization: Bearer ${GLOBAL(VOICE_CONTROL_SECRET)})
     same => n,Set(CURLOPT(httpheader)=Content-Type: application/x-www-form-urlencoded)
     same => n,Set(CALL=${UUID()})
     same => n,Set(R=${CURL(http://127.0.0.1:9093/calls,call_id=${CALL}&caller=${CALLERID(num)})})
     same => n,AudioSocket(${CALL},127.0.0.1:9092)
     same => n,Set(NEXT=${CURL(http://127.0.0.1:9093/calls/${CALL}/next)})
     same => n,GotoIf($["${NEXT}" = "transfer"]?operators,s,1)
     same => n,Hangup()

Errors are ``{"detail": {"reason": ..., "reason_zh": ..., "field": ...}}``
with status 400 (bad input), 401 (no or a wrong secret), 404 (unknown call) or 503
(the shared registry is unreachable), like the work-order API.
Without ``VOICE_REDIS_URL`` the registry lives in memory: one gateway process
per PBX, so the dialplan's requests and the AudioSocket connections of a call
reach the same process. With it, gateways share their registry in Redis
(``voice/redis_registry.py``): the dialplan may ask any of them, and a call's
AudioSocket connection may reach any of them; a call registered there that
never ended (its gateway was killed) answers ``transfer``. While Redis cannot be reached
the API answers 503 with the reason (calls in progress go on).
It listens on the bind host only (localhost or the PBX's private network).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol
from urllib.parse import parse_qsl

from aiohttp import web

from integrations.shared.privacy import normalize_phone

#: Caller ids Asterisk gives for a withheld number.
WITHHELD = frozenset({"", "anonymous", "unknown", "restricted", "private", "unavailable"})
MAX_BODY = 4096


class NextAction(StrEnum):
    HANGUP = "hangup"
    TRANSFER = "transfer"


class InvalidCaller(ValueError):
    """Not a phone number the line can answer to."""


def parse_caller(value: object) -> str | None:
    """The caller's number as the bot knows it, None if withheld.

    Mainland numbers are normalised (``+86 138-0000-0000`` → ``13800000000``);
    other all-digit numbers (extensions, numbers abroad) are kept as dialled.
    """
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 32:
        raise InvalidCaller("caller must be a phone number (a string of at most 32 characters)")
    text = value.strip()
    if text.lower() in WITHHELD:
        return None
    national = normalize_phone(text)
    if national:
        return national
    plus, digits = text.startswith("+"), text.lstrip("+")
    if digits.isascii() and digits.isdigit() and 3 <= len(digits) <= 15:
        return ("+" if plus else "") + digits
    raise InvalidCaller("caller must be 3 to 15 digits, a mainland number, or empty when withheld")


@dataclass
class _Entry:
    caller: str | None
    next_action: NextAction
    expires: float


class RegistryUnavailable(RuntimeError):
    """The shared registry (Redis) cannot be reached; the message says why."""


class Registry(Protocol):
    """Where the gateway keeps the calls the dialplan announced (``CallRegistry``
    in memory, ``RedisCallRegistry`` shared by several gateways).

    ``register``, ``caller`` and ``next_action`` raise ``RegistryUnavailable``
    when the answer cannot be had; ``finish`` never does (a shared registry
    writes it later)."""

    async def register(self, call_id: uuid.UUID, caller: str | None) -> None: ...

    async def caller(self, call_id: uuid.UUID) -> str | None: ...

    async def finish(self, call_id: uuid.UUID, action: NextAction) -> None: ...

    async def next_action(self, call_id: uuid.UUID) -> NextAction | None: ...

    def health(self) -> dict[str, object]: ...


class CallRegistry:
    """Calls the dialplan announced: the caller's number, and what follows the call.

    Entries expire ``ttl_s`` after registration or after the call ended; at
    most ``max_entries`` are kept (the oldest go first).
    """

    def __init__(self, ttl_s: float = 600.0, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_s
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[uuid.UUID, _Entry] = OrderedDict()

    def _prune(self) -> None:
        now = self._clock()
        for key in [k for k, e in self._entries.items() if e.expires <= now]:
            del self._entries[key]
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def _get(self, call_id: uuid.UUID) -> _Entry | None:
        self._prune()
        return self._entries.get(call_id)

    def register_now(self, call_id: uuid.UUID, caller: str | None) -> None:
        self._entries[call_id] = _Entry(caller, NextAction.HANGUP, self._clock() + self._ttl)
        self._entries.move_to_end(call_id)
        self._prune()

    def caller_now(self, call_id: uuid.UUID) -> str | None:
        entry = self._get(call_id)
        return entry.caller if entry else None

    def finish_now(self, call_id: uuid.UUID, action: NextAction) -> None:
        """The call ended: the dialplan will do ``action`` (kept ``ttl_s`` from now)."""
        entry = self._get(call_id)
        if entry is None:
            entry = self._entries[call_id] = _Entry(None, action, 0.0)
        entry.next_action = action
        entry.expires = self._clock() + self._ttl
        self._entries.move_to_end(call_id)
        self._prune()

    def next_action_now(self, call_id: uuid.UUID) -> NextAction | None:
        entry = self._get(call_id)
        return entry.next_action if entry else None

    # the Registry protocol
    async def register(self, call_id: uuid.UUID, caller: str | None) -> None:
        self.register_now(call_id, caller)

    async def caller(self, call_id: uuid.UUID) -> str | None:
        return self.caller_now(call_id)

    async def finish(self, call_id: uuid.UUID, action: NextAction) -> None:
        self.finish_now(call_id, action)

    async def next_action(self, call_id: uuid.UUID) -> NextAction | None:
        return self.next_action_now(call_id)

    def health(self) -> dict[str, object]:
        return {"registry": "memory"}

    def __len__(self) -> int:
        self._prune()
        return len(self._entries)


def _error(status: int, reason: str, reason_zh: str, field: str | None = None) -> web.Response:
    detail: dict[str, str] = {"reason": reason, "reason_zh": reason_zh}
    if field:
        detail["field"] = field
    return web.json_response({"detail": detail}, status=status)


def _unavailable(exc: RegistryUnavailable) -> web.Response:
    """503: the shared registry is down (the dialplan hangs up on anything but "transfer")."""
    response = _error(503, f"the call registry is unavailable: {exc}", "通话登记服务暂时不可用，请稍后再试")
    response.headers["Retry-After"] = "1"
    return response


def _call_id(text: object) -> uuid.UUID | None:
    if not isinstance(text, str) or len(text) > 45:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


REGISTRY_KEY: web.AppKey[Registry] = web.AppKey("registry")
HEALTH_KEY: web.AppKey[Callable[[], dict]] = web.AppKey("health")
SECRET_KEY = web.AppKey("secret", bytes)
#: Shorter secrets are refused at start-up: ``make run`` generates 43 characters.
MIN_SECRET_CHARS = 16


def presented_secret(authorization: str | None) -> bytes | None:
    """The secret in an ``Authorization`` header: a Bearer token, or Basic's password."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value.encode("utf-8", "surrogateescape")
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
        _, colon, password = decoded.partition(b":")
        return password if colon and password else None
    return None


@web.middleware
async def require_secret(request: web.Request, handler):
    """401 unless the request carries the shared secret (compared in constant time)."""
    if request.path == "/health":
        return await handler(request)
    given = presented_secret(request.headers.get("Authorization"))
    if given is None or not hmac.compare_digest(given, request.app[SECRET_KEY]):
        response = _error(401, "the dialplan's shared secret is missing or wrong",
                          "缺少或错误的接口密钥")
        response.headers["WWW-Authenticate"] = 'Bearer realm="voice-control"'
        return response
    return await handler(request)


async def _body(request: web.Request) -> dict[str, object] | None:
    """A JSON object, or a form (each field once: a caller id cannot smuggle in a call id)."""
    try:
        text = await request.text()
    except UnicodeDecodeError:
        return None
    if request.content_type == "application/x-www-form-urlencoded":
        pairs = parse_qsl(text, keep_blank_values=True)
        keys = [k for k, _ in pairs]
        return dict(pairs) if len(keys) == len(set(keys)) else None
    try:
        body = json.loads(text)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def register_call(request: web.Request) -> web.Response:
    if request.content_length is not None and request.content_length > MAX_BODY:
        return _error(413, "body too large", "请求内容过大")
    body = await _body(request)
    if body is None:
        return _error(400, "body must be a JSON object or a form with call_id and caller",
                      "请求内容须为 JSON 对象或表单（call_id、caller）")
    call_id = _call_id(body.get("call_id"))
    if call_id is None:
        return _error(400, "call_id must be a UUID", "call_id 须为 UUID", "call_id")
    try:
        caller = parse_caller(body.get("caller"))
    except InvalidCaller as exc:
        return _error(400, str(exc), "来电号码无效", "caller")
    try:
        await request.app[REGISTRY_KEY].register(call_id, caller)
    except RegistryUnavailable as exc:
        return _unavailable(exc)
    return web.json_response({"call_id": str(call_id), "caller_known": caller is not None},
                             status=201)


async def next_action(request: web.Request) -> web.Response:
    call_id = _call_id(request.match_info["call_id"])
    if call_id is None:
        return _error(400, "call id must be a UUID", "通话编号须为 UUID", "call_id")
    try:
        action = await request.app[REGISTRY_KEY].next_action(call_id)
    except RegistryUnavailable as exc:
        return _unavailable(exc)
    if action is None:  # the dialplan hangs up on anything but "transfer"
        return web.Response(text=NextAction.HANGUP, status=404)
    return web.Response(text=action)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", **request.app[HEALTH_KEY]()})


def control_app(registry: Registry, secret: str,
                health_info: Callable[[], dict] | None = None) -> web.Application:
    """The dialplan's API over ``registry``, for requests that carry ``secret``;
    ``health_info`` adds fields to ``/health``."""
    if not isinstance(secret, str) or len(secret.strip()) < MIN_SECRET_CHARS:
        raise ValueError(f"the control API needs a secret of at least {MIN_SECRET_CHARS} characters")
    app = web.Application(client_max_size=MAX_BODY, middlewares=[require_secret])
    app[SECRET_KEY] = secret.strip().encode("utf-8")
    app[REGISTRY_KEY] = registry
    app[HEALTH_KEY] = health_info or dict
    app.router.add_post("/calls", register_call)
    app.router.add_get("/calls/{call_id}/next", next_action)
    app.router.add_get("/health", health)
    return app


async def start_control(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve ``app`` on ``host:port`` (port 0: any free port); clean up with ``runner.cleanup()``."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The port a runner listens on (for port 0)."""
    if not runner.addresses:
        raise RuntimeError("the control API is not listening")
    return runner.addresses[0][1]
