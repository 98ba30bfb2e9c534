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
with status 400 (bad input), 401 (no or a wrong secret) or 404 (unknown call),
like the work-order API.
The registry lives in memory: one gateway process per PBX, so the dialplan's
requests and the AudioSocket connections of a call reach the same process.
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

    def register(self, call_id: uuid.UUID, caller: str | None) -> None:
        self._entries[call_id] = _Entry(caller, NextAction.HANGUP, self._clock() + self._ttl)
        self._entries.move_to_end(call_id)
        self._prune()

    def caller(self, call_id: uuid.UUID) -> str | None:
        entry = self._get(call_id)
        return entry.caller if entry else None

    def finish(self, call_id: uuid.UUID, action: NextAction) -> None:
        """The call ended: the dialplan will do ``action`` (kept ``ttl_s`` from now)."""
        entry = self._get(call_id)
        if entry is None:
            entry = self._entries[call_id] = _Entry(None, action, 0.0)
        entry.next_action = action
        entry.expires = self._clock() + self._ttl
        self._entries.move_to_end(call_id)
        self._prune()

    def next_action(self, call_id: uuid.UUID) -> NextAction | None:
        entry = self._get(call_id)
        return entry.next_action if entry else None

    def __len__(self) -> int:
        self._prune()
        return len(self._entries)


def _error(status: int, reason: str, reason_zh: str, field: str | None = None) -> web.Response:
    detail: dict[str, str] = {"reason": reason, "reason_zh": reason_zh}
    if field:
        detail["field"] = field
    return web.json_response({"detail": detail}, status=status)


def _call_id(text: object) -> uuid.UUID | None:
    if not isinstance(text, str) or len(text) > 45:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


REGISTRY_KEY = web.AppKey("registry", CallRegistry)
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
    request.app[REGISTRY_KEY].register(call_id, caller)
    return web.json_response({"call_id": str(call_id), "caller_known": caller is not None},
                             status=201)


async def next_action(request: web.Request) -> web.Response:
    call_id = _call_id(request.match_info["call_id"])
    if call_id is None:
        return _error(400, "call id must be a UUID", "通话编号须为 UUID", "call_id")
    action = request.app[REGISTRY_KEY].next_action(call_id)
    if action is None:  # the dialplan hangs up on anything but "transfer"
        return web.Response(text=NextAction.HANGUP, status=404)
    return web.Response(text=action)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", **request.app[HEALTH_KEY]()})


def control_app(registry: CallRegistry, secret: str,
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
