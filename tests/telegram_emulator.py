"""A Telegram Bot API emulator for tests and benchmarks.

Real aiogram clients talk to it over HTTP exactly as to api.telegram.org, with
``AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url))``. Tests feed
updates as a resident would (``user_sends``, ``user_presses``), read what the
bot did (``sent``, ``wait_sent``) and inject failures (``fail_next``, ``block``).

Three ways to run it:

- ``async with BotApiEmulator() as emu:`` in the test's own event loop;
- ``emu.start_in_thread()`` / ``emu.stop()`` (or ``with BotApiEmulator().start_in_thread()
  as emu:``): its own loop in a daemon thread, for synchronous code; every control
  method is thread-safe;
- ``python -m tests.telegram_emulator --port 8090 --bot 123:secret``, standalone, for
  other processes, which drive it with the JSON endpoints under ``/_emu/``:
  ``POST /_emu/updates`` (``{"token", "chat_id", "text", ...}`` as ``user_sends``;
  ``"kind": "callback"`` with ``message_id`` and ``data``; ``"kind": "redeliver"``
  with ``update_id``; or ``{"token", "update": {...}}``), ``GET /_emu/sent?token=&
  chat_id=&method=``, ``POST /_emu/faults`` (``fail_next``'s arguments),
  ``POST /_emu/block`` (``{"token", "chat_id", "blocked": true|false}``) and
  ``GET /_emu/stats``. Each answers ``{"ok": true, "result": ...}``.

Times (``SentCall.at``, ``update_times``) are ``time.monotonic()`` values, which
on Linux are comparable between processes of one machine.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import copy
import functools
import json
import logging
import mimetypes
import secrets
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

BLOCKED = "Forbidden: bot was blocked by the user"
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a content and reply markup of the current message")
ChatId = int | str

# Form values that stay text; every other value is JSON-decoded when it parses
# (aiogram JSON-encodes reply_markup, lists, numbers and booleans).
_TEXT_PARAMS = frozenset({
    "text", "caption", "callback_query_id", "url", "secret_token", "file_id", "parse_mode",
    "action", "inline_message_id", "ip_address", "language_code", "business_connection_id",
    "message_effect_id", "emoji",
})
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: emulated failure",
    401: "Unauthorized",
    403: BLOCKED,
    404: "Not Found",
    409: "Conflict: emulated failure",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_dumps = functools.partial(json.dumps, ensure_ascii=False)


class _ApiError(Exception):
    """A Bot API error answer: HTTP status, description, optional parameters."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.code,
                                "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass(frozen=True)
class SentCall:
    """One Bot API call the emulator answered (every method except successful getUpdates)."""

    token: str
    method: str  # canonical name, e.g. "sendMessage"
    chat_id: ChatId | None  # for answerCallbackQuery: the chat of the pressed message
    params: dict[str, Any]  # decoded: reply_markup etc. are dicts/lists
    status: int  # the HTTP status answered: 200, 400, 403, 429, ...
    at: float  # time.monotonic() when the request arrived
    message_id: int | None = None  # the sent/edited/deleted/pressed message
    description: str | None = None  # the error description when status != 200

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def text(self) -> str | None:
        return self.params.get("text")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["params"] = {k: f"<{len(v)} bytes>" if isinstance(v, bytes) else v
                          for k, v in self.params.items()}
        return data

    def summary(self, since: float = 0.0) -> str:
        params = {k: v for k, v in self.to_json()["params"].items() if k != "chat_id"}
        shown = _dumps(params)
        shown = shown if len(shown) <= 200 else shown[:197] + "..."
        return (f"+{self.at - since:7.3f}s {self.method} chat={self.chat_id} "
                f"status={self.status} {shown}")


@dataclass(eq=False)
class _Pending:
    update: dict[str, Any]
    redelivery: bool = False  # handed out once more even below the confirmed offset
    handed_out: bool = False

    @property
    def update_id(self) -> int:
        return self.update["update_id"]


@dataclass(eq=False)
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes

    def fields(self) -> dict[str, Any]:
        return {"file_id": self.file_id, "file_unique_id": self.file_unique_id,
                "file_size": len(self.data)}


@dataclass(eq=False)
class _Bot:
    token: str
    user: dict[str, Any]
    queue: list[_Pending] = field(default_factory=list)
    history: dict[int, dict[str, Any]] = field(default_factory=dict)
    confirmed_offset: int = 0
    poll_generation: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    webhook_url: str = ""
    webhook_secret: str | None = None
    webhook_error: tuple[int, str] | None = None
    webhook_task: asyncio.Task | None = None
    message_ids: dict[ChatId, int] = field(default_factory=dict)
    messages: dict[tuple[ChatId, int], dict[str, Any]] = field(default_factory=dict)
    blocked: set[ChatId] = field(default_factory=set)
    files: dict[str, _StoredFile] = field(default_factory=dict)
    commands: list[Any] = field(default_factory=list)

    def wake(self) -> None:
        """Wake long polls and the webhook sender: the queue or the mode changed."""
        self.changed.set()
        self.changed = asyncio.Event()


@dataclass(eq=False)
class _Fault:
    method: str
    error_code: int
    retry_after: int | None
    remaining: int
    chat_id: ChatId | None
    token: str | None
    description: str | None

    def matches(self, token: str, method: str, chat_id: ChatId | None) -> bool:
        return ((self.method == "*" or self.method.lower() == method.lower())
                and self.token in (None, token) and self.chat_id in (None, chat_id))

    def error(self) -> _ApiError:
        template = self.description or _DEFAULT_DESCRIPTIONS.get(
            self.error_code, f"Error {self.error_code}: emulated failure")
        parameters = {"retry_after": self.retry_after} if self.retry_after else None
        return _ApiError(self.error_code, template.format(retry_after=self.retry_after), parameters)


class BotApiEmulator:
    """An emulated Bot API server holding several bots; see the module docstring."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 webhook_attempts: int = 3, webhook_retry_delay: float = 0.2) -> None:
        self.host, self.port = host, port
        self.webhook_attempts, self.webhook_retry_delay = webhook_attempts, webhook_retry_delay
        self._bots: dict[str, _Bot] = {}
        self._faults: list[_Fault] = []
        self._callbacks: dict[str, tuple[str, ChatId, int]] = {}
        self._last_update_id = 0
        self._serial = 0  # file and callback query ids
        self._records: list[SentCall] = []
        self._listeners: list[Callable[[SentCall], None]] = []
        self._update_times: dict[int, float] = {}
        self._cond = threading.Condition()  # guards _records and _update_times
        self._get_updates_calls = 0
        self._started_at = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._closing = False
        handlers = {
            "getMe": self._get_me, "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook, "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info, "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action, "deleteMessage": self._delete_message,
            "setMyCommands": self._set_my_commands, "getMyCommands": self._get_my_commands,
            "getFile": self._get_file,
        }
        self._methods = {name.lower(): (name, handler) for name, handler in handlers.items()}

    # -- lifecycle ---------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the emulator is not running")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> BotApiEmulator:
        """Serve in the running event loop (``port=0``: a free port, see ``base_url``)."""
        self._loop, self._loop_thread = asyncio.get_running_loop(), threading.get_ident()
        self._closing = False
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_route("*", "/_emu/{action}", self._handle_control)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, self.host, self.port).start()
        self.port = runner.addresses[0][1]
        self._client = aiohttp.ClientSession()
        self._runner = runner
        return self

    async def aclose(self) -> None:
        if self._runner is None:
            return
        self._closing = True
        tasks = [bot.webhook_task for bot in self._bots.values() if bot.webhook_task]
        for bot in self._bots.values():
            bot.wake()  # long polls return at once
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        runner, self._runner = self._runner, None
        await runner.cleanup()
        if self._client is not None:
            await self._client.close()

    async def __aenter__(self) -> BotApiEmulator:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def start_in_thread(self) -> BotApiEmulator:
        """Serve from a daemon thread with its own event loop; returns once listening."""
        started: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # noqa: BLE001 (handed to the caller)
                started.set_exception(exc)
                loop.close()
                return
            started.set_result(None)
            loop.run_forever()
            loop.run_until_complete(self.aclose())
            loop.close()

        self._thread = threading.Thread(target=run, name="telegram-emulator", daemon=True)
        self._thread.start()
        started.result(timeout=10)
        return self

    def stop(self) -> None:
        """Stop a server started with ``start_in_thread`` (in a loop: ``await aclose()``)."""
        if self._thread is None or self._loop is None:
            raise RuntimeError("stop() ends start_in_thread(); in an event loop use aclose()")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> BotApiEmulator:
        return self if self._thread else self.start_in_thread()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the emulator's loop (at once when already there) and return its result."""
        loop = self._loop
        if loop is None or self._runner is None or threading.get_ident() == self._loop_thread:
            return fn()
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 (re-raised in the caller's thread)
                done.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return done.result(timeout=10)

    # -- control: bots, updates, faults ------------------------------------

    def add_bot(self, token: str, username: str = "community_bot", *,
                first_name: str = "社区助手") -> int:
        """Register a bot; returns its id (the digits before the colon of the token)."""
        head, sep, secret = token.partition(":")
        if not (head.isdigit() and sep and secret):
            raise ValueError("a bot token looks like '<digits>:<secret>'")
        user = {"id": int(head), "is_bot": True, "first_name": first_name, "username": username,
                "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}
        self._call(lambda: self._bots.setdefault(token, _Bot(token, user)))
        return int(head)

    def user_sends(self, token: str, chat_id: int, text: str | None = None, *,
                   location: tuple[float, float] | None = None, photo: bytes | None = None,
                   sticker: bool = False, document: bytes | tuple[str, bytes] | None = None,
                   contact: str | None = None, voice: bytes | None = None,
                   user_id: int | None = None, first_name: str = "张三") -> int:
        """A resident's message in a private chat; returns its update_id.

        ``photo`` is stored as two sizes: a thumbnail (a truncated copy, not a
        valid image) and the full bytes, last, as Telegram orders them. With a
        photo, document or voice, ``text`` becomes the caption.
        """
        media = dict(location=location, photo=photo, sticker=sticker, document=document,
                     contact=contact, voice=voice)
        return self._call(lambda: self._user_message(token, chat_id, text, media,
                                                     user_id, first_name))

    def user_presses(self, token: str, chat_id: int, message_id: int, data: str, *,
                     user_id: int | None = None, first_name: str = "张三") -> int:
        """A press on an inline button of the bot's message ``message_id``; returns update_id."""
        return self._call(lambda: self._user_press(token, chat_id, message_id, data,
                                                   user_id, first_name))

    def push_update(self, token: str, update: dict[str, Any]) -> int:
        """Queue a raw update (given an update_id unless it has one); returns the update_id."""
        return self._call(lambda: self._enqueue(self._bot(token), copy.deepcopy(update)))

    def redeliver(self, token: str, update_id: int) -> int:
        """Hand an already queued update out once more, same update_id, whatever the offset."""
        def again() -> int:
            bot = self._bot(token)
            if update_id not in bot.history:
                raise ValueError(f"no update {update_id} for this bot")
            return self._enqueue(bot, bot.history[update_id], redelivery=True)
        return self._call(again)

    def update(self, token: str, update_id: int) -> dict[str, Any]:
        """A copy of an update as it was queued (e.g. to read a callback query id)."""
        return self._call(lambda: copy.deepcopy(self._bot(token).history[update_id]))

    def fail_next(self, method: str, error_code: int = 429, *, retry_after: int | None = None,
                  times: int = 1, chat_id: ChatId | None = None, description: str | None = None,
                  token: str | None = None) -> None:
        """The next ``times`` calls of ``method`` ("*": any) fail with ``error_code``.

        A 429 carries ``parameters.retry_after`` (default 1 s); the default
        descriptions are Telegram's ("Too Many Requests: retry after 3", ...).
        """
        if error_code == 429 and not retry_after:
            retry_after = 1
        fault = _Fault(method, error_code, retry_after, times, chat_id, token, description)
        self._call(lambda: self._faults.append(fault))

    def block(self, token: str, chat_id: ChatId) -> None:
        """Every call to this chat answers 403 "Forbidden: bot was blocked by the user"."""
        self._call(lambda: self._bot(token).blocked.add(chat_id))

    def unblock(self, token: str, chat_id: ChatId) -> None:
        self._call(lambda: self._bot(token).blocked.discard(chat_id))

    # -- reading what happened ---------------------------------------------

    def add_listener(self, listener: Callable[[SentCall], None]) -> None:
        """Call ``listener(call)`` for every call recorded from now on, on the emulator's loop.

        For load generators: cheaper than polling ``sent()``. It must not block.
        """
        with self._cond:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[SentCall], None]) -> None:
        with self._cond:
            self._listeners.remove(listener)

    def sent(self, token: str | None = None, chat_id: ChatId | None = None,
             method: str | None = None) -> list[SentCall]:
        """The recorded calls, oldest first, filtered by bot token, chat and method."""
        with self._cond:
            calls = list(self._records)
        return [c for c in calls
                if (token is None or c.token == token) and (chat_id is None or c.chat_id == chat_id)
                and (method is None or c.method.lower() == method.lower())]

    def _matching(self, what: Callable[[SentCall], bool] | int, token: str | None,
                  chat_id: ChatId | None, method: str | None) -> list[SentCall] | None:
        calls = self.sent(token, chat_id, method)
        if isinstance(what, int):
            return calls if len(calls) >= what else None
        return [c for c in calls if what(c)] or None

    def _timeout_error(self, what: object, token: str | None, chat_id: ChatId | None,
                       method: str | None, timeout: float) -> TimeoutError:
        wanted = f"{what} call(s)" if isinstance(what, int) else "a call matching the predicate"
        lines = [f"no {wanted} with token={token} chat_id={chat_id} method={method} "
                 f"within {timeout} s; recorded calls:"]
        lines += ["  " + c.summary(self._started_at) for c in self.sent()] or ["  (none)"]
        return TimeoutError("\n".join(lines))

    async def wait_sent(self, what: Callable[[SentCall], bool] | int = 1, *,
                        token: str | None = None, chat_id: ChatId | None = None,
                        method: str | None = None, timeout: float = 10.0) -> list[SentCall]:
        """Wait for ``what`` calls (a count, or a predicate) among the filtered ones.

        Returns the filtered calls (count) or those the predicate accepts;
        raises TimeoutError listing every recorded call.
        """
        deadline = time.monotonic() + timeout
        while (found := self._matching(what, token, chat_id, method)) is None:
            if time.monotonic() >= deadline:
                raise self._timeout_error(what, token, chat_id, method, timeout)
            await asyncio.sleep(0.01)
        return found

    def wait_sent_sync(self, what: Callable[[SentCall], bool] | int = 1, *,
                       token: str | None = None, chat_id: ChatId | None = None,
                       method: str | None = None, timeout: float = 10.0) -> list[SentCall]:
        """``wait_sent`` for synchronous code (not on the emulator's own loop)."""
        if threading.get_ident() == self._loop_thread and self._runner is not None:
            raise RuntimeError("wait_sent_sync would block the emulator's loop; use wait_sent")
        with self._cond:
            found = self._cond.wait_for(lambda: self._matching(what, token, chat_id, method),
                                        timeout)
        if found is None:
            raise self._timeout_error(what, token, chat_id, method, timeout)
        return found

    @property
    def update_times(self) -> dict[int, float]:
        """update_id → monotonic time it was first handed out (getUpdates) or posted (webhook)."""
        with self._cond:
            return dict(self._update_times)

    @property
    def get_updates_calls(self) -> int:
        """How many getUpdates requests all bots made."""
        return self._get_updates_calls

    def confirmed_offset(self, token: str) -> int:
        """The highest offset the bot sent to getUpdates (0: none yet)."""
        return self._bot(token).confirmed_offset

    # -- state changes (always on the emulator's loop) ---------------------

    def _bot(self, token: str) -> _Bot:
        try:
            return self._bots[token]
        except KeyError:
            bot_id = token.split(":")[0]
            raise KeyError(f"unknown bot token {bot_id}:...; call add_bot first") from None

    def _next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def _next_message_id(self, bot: _Bot, chat_id: ChatId) -> int:
        bot.message_ids[chat_id] = bot.message_ids.get(chat_id, 0) + 1
        return bot.message_ids[chat_id]

    def _note_handed_out(self, update_id: int) -> None:
        with self._cond:
            self._update_times.setdefault(update_id, time.monotonic())

    def _enqueue(self, bot: _Bot, update: dict[str, Any], *, redelivery: bool = False) -> int:
        if "update_id" not in update:
            update = {"update_id": self._last_update_id + 1, **update}
        self._last_update_id = max(self._last_update_id, update["update_id"])
        bot.history.setdefault(update["update_id"], update)
        bot.queue.append(_Pending(update, redelivery))
        bot.queue.sort(key=lambda pending: pending.update_id)  # handed out in id order
        bot.wake()
        self._ensure_webhook_sender(bot)
        return update["update_id"]

    def _store_file(self, bot: _Bot, folder: str, suffix: str, data: bytes) -> _StoredFile:
        serial = self._next_serial()
        stored = _StoredFile(f"AgAC{serial:06d}{secrets.token_hex(8)}", f"AQAD{serial:06d}",
                             f"{folder}/file_{serial}{suffix}", bytes(data))
        bot.files[stored.file_id] = stored
        return stored

    def _user_message(self, token: str, chat_id: int, text: str | None, media: dict[str, Any],
                      user_id: int | None, first_name: str) -> int:
        bot = self._bot(token)
        user = _user(user_id or chat_id, first_name)
        message: dict[str, Any] = {
            "message_id": self._next_message_id(bot, chat_id), "from": user,
            "chat": {"id": chat_id, "type": "private", "first_name": first_name},
            "date": int(time.time()),
        }
        if media["location"] is not None:
            latitude, longitude = media["location"]
            message["location"] = {"latitude": float(latitude), "longitude": float(longitude)}
        if media["photo"] is not None:
            photo = bytes(media["photo"])
            thumb = self._store_file(bot, "photos", ".jpg", photo[:max(1, len(photo) // 20)])
            full = self._store_file(bot, "photos", ".jpg", photo)
            message["photo"] = [{**thumb.fields(), "width": 90, "height": 68},
                                {**full.fields(), "width": 1280, "height": 960}]
        if media["sticker"]:
            stored = self._store_file(bot, "stickers", ".webp", b"RIFF\0\0\0\0WEBPVP8 ")
            message["sticker"] = {**stored.fields(), "type": "regular", "width": 512,
                                  "height": 512, "is_animated": False, "is_video": False,
                                  "emoji": "👍"}
        if media["document"] is not None:
            document = media["document"]
            name, data = document if isinstance(document, tuple) else ("document.bin", document)
            stored = self._store_file(bot, "documents", "", data)
            message["document"] = {**stored.fields(), "file_name": name, "mime_type":
                                   mimetypes.guess_type(name)[0] or "application/octet-stream"}
        if media["voice"] is not None:
            stored = self._store_file(bot, "voice", ".oga", media["voice"])
            message["voice"] = {**stored.fields(), "duration": 3, "mime_type": "audio/ogg"}
        if media["contact"] is not None:
            message["contact"] = {"phone_number": media["contact"], "first_name": first_name,
                                  "user_id": user["id"]}
        if text is not None:
            if any(media[k] is not None for k in ("photo", "document", "voice")):
                message["caption"] = text
            else:
                message["text"] = text
                if text.startswith("/"):
                    command = text.split()[0] if text.split() else text
                    message["entities"] = [{"type": "bot_command", "offset": 0,
                                            "length": len(command.encode("utf-16-le")) // 2}]
        return self._enqueue(bot, {"message": message})

    def _user_press(self, token: str, chat_id: int, message_id: int, data: str,
                    user_id: int | None, first_name: str) -> int:
        bot = self._bot(token)
        message = bot.messages.get((chat_id, message_id))
        if message is None:
            raise ValueError(f"the bot has sent no message {message_id} to chat {chat_id}")
        query_id = f"{self._next_serial()}{secrets.token_hex(6)}"
        self._callbacks[query_id] = (token, chat_id, message_id)
        query = {"id": query_id, "from": _user(user_id or chat_id, first_name),
                 "message": copy.deepcopy(message), "chat_instance": str(chat_id), "data": data}
        return self._enqueue(bot, {"callback_query": query})

    # -- HTTP --------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        at = time.monotonic()
        try:
            params = await _read_params(request)
        except ValueError:
            return web.json_response(_ApiError(400, "Bad Request: can't parse request").body(),
                                     status=400)
        status, body = await self._execute(request.match_info["token"],
                                           request.match_info["method"], params, at)
        return web.json_response(body, status=status, dumps=_dumps)

    async def _execute(self, token: str, method: str, params: dict[str, Any],
                       at: float) -> tuple[int, dict[str, Any]]:
        """Answer one Bot API call and record it; returns (HTTP status, JSON body)."""
        bot = self._bots.get(token)
        if bot is None:
            return 401, _ApiError(401, "Unauthorized").body()
        name, handler = self._methods.get(method.lower(), (method, None))
        chat_id = params.get("chat_id") if isinstance(params.get("chat_id"), (int, str)) else None
        message_id = params.get("message_id")
        origin = self._callbacks.get(str(params.get("callback_query_id")))
        if name == "answerCallbackQuery" and origin is not None:
            _, chat_id, message_id = origin
        description = None
        try:
            if handler is None:
                raise _ApiError(404, "Not Found: method not found")
            self._take_fault(token, name, chat_id)
            if chat_id is not None and chat_id in bot.blocked:
                raise _ApiError(403, BLOCKED)
            result = await handler(bot, params)
            status, body = 200, {"ok": True, "result": result}
            if isinstance(result, dict) and "message_id" in result:
                message_id = result["message_id"]
        except _ApiError as exc:
            status, body, description = exc.code, exc.body(), exc.description
        if name != "getUpdates" or status != 200:
            call = SentCall(token, name, chat_id, params, status, at,
                            message_id if isinstance(message_id, int) else None, description)
            with self._cond:
                self._records.append(call)
                self._cond.notify_all()
                listeners = list(self._listeners)
            for listener in listeners:
                try:
                    listener(call)
                except Exception:  # a broken listener must not break the API it watches
                    logging.getLogger(__name__).exception("emulator listener failed")
        return status, body

    def _take_fault(self, token: str, method: str, chat_id: ChatId | None) -> None:
        for fault in self._faults:
            if fault.matches(token, method, chat_id):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                raise fault.error()

    async def _handle_file(self, request: web.Request) -> web.Response:
        bot = self._bots.get(request.match_info["token"])
        path = request.match_info["path"]
        for stored in bot.files.values() if bot else ():
            if stored.file_path == path:
                return web.Response(body=stored.data, content_type="application/octet-stream")
        return web.json_response(_ApiError(404, "Not Found").body(), status=404)

    # -- Bot API methods ---------------------------------------------------

    async def _get_me(self, bot: _Bot, params: dict[str, Any]) -> dict[str, Any]:
        return bot.user

    async def _get_updates(self, bot: _Bot, params: dict[str, Any]) -> list[dict[str, Any]]:
        self._get_updates_calls += 1
        if bot.webhook_url:
            raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                 "use deleteWebhook to delete the webhook first")
        bot.poll_generation += 1
        generation = bot.poll_generation
        bot.wake()  # an older poll of this bot ends with 409, as on Telegram
        offset = _int_param(params, "offset", 0)
        if offset > 0:
            bot.confirmed_offset = max(bot.confirmed_offset, offset)
            bot.queue = [p for p in bot.queue if p.update_id >= offset
                         or (p.redelivery and not p.handed_out)]
        limit = min(max(_int_param(params, "limit", 100), 1), 100)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(_int_param(params, "timeout", 0), 0)
        while not bot.queue and not self._closing and loop.time() < deadline:
            changed = bot.changed
            try:
                await asyncio.wait_for(changed.wait(), deadline - loop.time())
            except TimeoutError:
                pass
            if bot.poll_generation != generation:
                raise _ApiError(409, "Conflict: terminated by other getUpdates request; make sure "
                                     "that only one bot instance is running")
            if bot.webhook_url:
                raise _ApiError(409, "Conflict: terminated by setWebhook request")
        ready = bot.queue[:limit]
        for pending in ready:
            pending.handed_out = True
            self._note_handed_out(pending.update_id)
        return [p.update for p in ready]

    async def _set_webhook(self, bot: _Bot, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            bot.queue.clear()
        bot.webhook_url = str(params.get("url") or "")
        bot.webhook_secret = params.get("secret_token") or None
        bot.webhook_error = None
        bot.wake()
        self._ensure_webhook_sender(bot)
        return True

    async def _delete_webhook(self, bot: _Bot, params: dict[str, Any]) -> bool:
        return await self._set_webhook(bot, {"drop_pending_updates":
                                             params.get("drop_pending_updates")})

    async def _get_webhook_info(self, bot: _Bot, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {"url": bot.webhook_url, "has_custom_certificate": False,
                                "pending_update_count": len(bot.queue)}
        if bot.webhook_url:
            info["max_connections"] = 40
        if bot.webhook_error:
            info["last_error_date"], info["last_error_message"] = bot.webhook_error
        return info

    async def _send_message(self, bot: _Bot, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = _require_chat(params)
        text = _require_text(params)
        message: dict[str, Any] = {"message_id": self._next_message_id(bot, chat_id),
                                   "from": bot.user, "chat": _chat(chat_id),
                                   "date": int(time.time()), "text": text}
        markup = _inline_markup(params)
        if markup is not None:  # a Message shows inline keyboards only
            message["reply_markup"] = markup
        bot.messages[(chat_id, message["message_id"])] = message
        return message

    def _message_to_edit(self, bot: _Bot, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("inline_message_id") is not None:
            raise _ApiError(400, "Bad Request: inline messages are not emulated")
        chat_id = _require_chat(params)
        if params.get("message_id") is None:
            raise _ApiError(400, "Bad Request: message identifier is not specified")
        message = bot.messages.get((chat_id, _int_param(params, "message_id", 0)))
        if message is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        return message

    async def _edit_message_text(self, bot: _Bot, params: dict[str, Any]) -> dict[str, Any]:
        message = self._message_to_edit(bot, params)
        text, markup = _require_text(params), _inline_markup(params)
        if message.get("text") == text and message.get("reply_markup") == markup:
            raise _ApiError(400, NOT_MODIFIED)
        message["text"] = text
        return _edited(message, markup)

    async def _edit_message_reply_markup(self, bot: _Bot,
                                         params: dict[str, Any]) -> dict[str, Any]:
        message = self._message_to_edit(bot, params)
        markup = _inline_markup(params)
        if message.get("reply_markup") == markup:
            raise _ApiError(400, NOT_MODIFIED)
        return _edited(message, markup)

    async def _answer_callback_query(self, bot: _Bot, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        origin = self._callbacks.get(query_id)
        if origin is None or origin[0] != bot.token:
            raise _ApiError(400, "Bad Request: query is too old and response timeout expired "
                                 "or query ID is invalid")
        del self._callbacks[query_id]
        return True

    async def _send_chat_action(self, bot: _Bot, params: dict[str, Any]) -> bool:
        _require_chat(params)
        if not params.get("action"):
            raise _ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    async def _delete_message(self, bot: _Bot, params: dict[str, Any]) -> bool:
        chat_id = _require_chat(params)
        if params.get("message_id") is None:
            raise _ApiError(400, "Bad Request: message identifier is not specified")
        if bot.messages.pop((chat_id, _int_param(params, "message_id", 0)), None) is None:
            raise _ApiError(400, "Bad Request: message to delete not found")
        return True

    async def _set_my_commands(self, bot: _Bot, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _ApiError(400, "Bad Request: parameter \"commands\" is required")
        bot.commands = commands
        return True

    async def _get_my_commands(self, bot: _Bot, params: dict[str, Any]) -> list[Any]:
        return bot.commands

    async def _get_file(self, bot: _Bot, params: dict[str, Any]) -> dict[str, Any]:
        stored = bot.files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise _ApiError(400, "Bad Request: invalid file_id")
        return {**stored.fields(), "file_path": stored.file_path}

    # -- webhook delivery --------------------------------------------------

    def _ensure_webhook_sender(self, bot: _Bot) -> None:
        if (bot.webhook_url and not self._closing and self._loop is not None
                and (bot.webhook_task is None or bot.webhook_task.done())):
            bot.webhook_task = self._loop.create_task(self._webhook_sender(bot))

    async def _webhook_sender(self, bot: _Bot) -> None:
        """Post the bot's queued updates to its webhook, one at a time, in order."""
        while bot.webhook_url and not self._closing:
            if not bot.queue:
                await bot.changed.wait()
                continue
            pending = bot.queue[0]
            pending.handed_out = True
            await self._post_update(bot, pending.update)
            if pending in bot.queue:
                bot.queue.remove(pending)

    async def _post_update(self, bot: _Bot, update: dict[str, Any]) -> None:
        """POST one update, retrying failures; run a method the webhook answers with."""
        assert self._client is not None
        self._note_handed_out(update["update_id"])
        secret = bot.webhook_secret
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        for attempt in range(self.webhook_attempts):
            if attempt:
                await asyncio.sleep(self.webhook_retry_delay)
            if not bot.webhook_url:
                return
            try:
                async with self._client.post(bot.webhook_url, json=update, headers=headers,
                                             timeout=aiohttp.ClientTimeout(total=30)) as resp:
                    if 200 <= resp.status < 300:
                        reply = await _read_webhook_reply(resp)
                        break
                    error = f"Wrong response from the webhook: {resp.status} {resp.reason}"
            except (TimeoutError, aiohttp.ClientError) as exc:
                error = f"Connection failed: {type(exc).__name__}: {exc}"
            bot.webhook_error = (int(time.time()), error)
        else:
            return
        if reply.get("method"):
            method = str(reply.pop("method"))
            await self._execute(bot.token, method, _decode_params(reply), time.monotonic())

    # -- control endpoints -------------------------------------------------

    async def _handle_control(self, request: web.Request) -> web.Response:
        try:
            body = await request.json() if request.can_read_body else {}
            args = {**request.query, **body}
            result = self._control(request.method, request.match_info["action"], args)
        except KeyError as exc:
            return web.json_response({"ok": False, "description": f"missing or unknown: {exc}"},
                                     status=400)
        except LookupError as exc:
            return web.json_response({"ok": False, "description": str(exc)}, status=404)
        except (ValueError, TypeError) as exc:
            return web.json_response({"ok": False, "description": f"{exc}"}, status=400)
        return web.json_response({"ok": True, "result": result}, dumps=_dumps)

    def _control(self, http_method: str, action: str, args: dict[str, Any]) -> Any:
        chat_id = int(args["chat_id"]) if args.get("chat_id") not in (None, "") else None
        token = args.get("token")
        if (http_method, action) == ("GET", "sent"):
            return [c.to_json() for c in self.sent(token, chat_id, args.get("method"))]
        if (http_method, action) == ("GET", "stats"):
            return {"get_updates_calls": self.get_updates_calls,
                    "confirmed_offsets": {t: b.confirmed_offset for t, b in self._bots.items()},
                    "update_times": {str(k): v for k, v in self.update_times.items()}}
        if (http_method, action) == ("POST", "faults"):
            self.fail_next(args["method"], int(args.get("error_code", 429)),
                           retry_after=args.get("retry_after"), times=int(args.get("times", 1)),
                           chat_id=chat_id, description=args.get("description"), token=token)
            return True
        if (http_method, action) == ("POST", "block"):
            (self.block if args.get("blocked", True) else self.unblock)(args["token"], chat_id)
            return True
        if (http_method, action) == ("POST", "updates"):
            return self._inject(args["token"], chat_id, args)
        raise LookupError(f"no control endpoint {http_method} /_emu/{action}")

    def _inject(self, token: str, chat_id: int | None, args: dict[str, Any]) -> int:
        if "update" in args:
            return self.push_update(token, args["update"])
        kind = args.get("kind", "message")
        if kind == "redeliver":
            return self.redeliver(token, int(args["update_id"]))
        if chat_id is None:
            raise ValueError("chat_id is required")
        user = {"user_id": args.get("user_id"), "first_name": args.get("first_name", "张三")}
        if kind == "callback":
            return self.user_presses(token, chat_id, int(args["message_id"]), args["data"], **user)
        if kind != "message":
            raise ValueError(f"unknown kind {kind!r}")
        document = _b64(args.get("document_b64"))
        location = args.get("location")
        return self.user_sends(
            token, chat_id, args.get("text"), location=tuple(location) if location else None,
            photo=_b64(args.get("photo_b64")), sticker=bool(args.get("sticker")),
            document=(args.get("document_name", "document.bin"), document) if document else None,
            contact=args.get("contact"), voice=_b64(args.get("voice_b64")), **user)


# -- helpers ---------------------------------------------------------------

def _user(user_id: int, first_name: str) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "zh-hans"}


def _chat(chat_id: int) -> dict[str, Any]:
    if chat_id < 0:
        return {"id": chat_id, "type": "supergroup", "title": "群组"}
    return {"id": chat_id, "type": "private"}


def _b64(value: str | None) -> bytes | None:
    return base64.b64decode(value) if value else None


def _decode_params(raw: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, str) and key not in _TEXT_PARAMS:
            try:
                value = json.loads(value)
            except ValueError:
                pass
        params[key] = value
    return params


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Query string plus body (multipart or urlencoded form, or JSON), decoded."""
    raw: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("the JSON body is not an object")
            raw.update(body)
        else:
            for key, value in (await request.post()).items():
                raw[key] = value.file.read() if isinstance(value, web.FileField) else value
    return _decode_params(raw)


async def _read_webhook_reply(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    """A webhook may answer with a method call, as JSON or as a multipart form (aiogram)."""
    if resp.content_type == "multipart/form-data":
        fields: dict[str, Any] = {}
        async for part in aiohttp.MultipartReader.from_response(resp):
            if isinstance(part, aiohttp.BodyPartReader) and part.name:
                fields[part.name] = await part.read() if part.filename else await part.text()
        return fields
    try:
        data = json.loads(await resp.read() or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _int_param(params: dict[str, Any], name: str, default: int) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _ApiError(400, f"Bad Request: invalid {name} specified") from None


def _require_chat(params: dict[str, Any]) -> int:
    chat_id = params.get("chat_id")
    if chat_id is None or chat_id == "":
        raise _ApiError(400, "Bad Request: chat_id is empty")
    if not isinstance(chat_id, int) or isinstance(chat_id, bool):
        raise _ApiError(400, "Bad Request: chat not found")
    return chat_id


def _require_text(params: dict[str, Any]) -> str:
    text = params.get("text")
    if text is None or not str(text).strip():
        raise _ApiError(400, "Bad Request: message text is empty")
    if len(str(text)) > 4096:
        raise _ApiError(400, "Bad Request: message is too long")
    return str(text)


def _inline_markup(params: dict[str, Any]) -> dict[str, Any] | None:
    markup = params.get("reply_markup")
    return markup if isinstance(markup, dict) and "inline_keyboard" in markup else None


def _edited(message: dict[str, Any], markup: dict[str, Any] | None) -> dict[str, Any]:
    message.pop("reply_markup", None)
    if markup is not None:
        message["reply_markup"] = markup
    message["edit_date"] = int(time.time())
    return message


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Telegram Bot API emulator for tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090, help="0: any free port")
    parser.add_argument("--bot", action="append", required=True, metavar="TOKEN",
                        help="a bot token '<id>:<secret>' (repeatable)")
    args = parser.parse_args(argv)

    async def serve() -> None:
        emulator = BotApiEmulator(args.host, args.port)
        for token in args.bot:
            emulator.add_bot(token)
        await emulator.start()
        print(f"telegram emulator listening on {emulator.base_url}", flush=True)
        stopping = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stopping.set)
        await stopping.wait()
        await emulator.aclose()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
