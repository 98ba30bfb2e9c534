"""The one client of the work-order service for the Telegram channel.

Everything the channel asks of the service goes through ``ChannelServiceClient``:
photos residents send, linking a chat to a handler or staff account, and the
handlers' actions on their orders. Calls for a handler carry the Telegram token
and ``X-Telegram-Chat: <chat id>``; the service then acts as whoever is linked
to that chat, so the bot never holds a staff token.

Failures are typed, so the bot answers by type:

    NotLinked           403 "the Telegram chat is not linked to anybody"
    StaleOrder          404 / 409 on an order action, or "not the assignee" (403):
                        reassigned, already accepted, resolved or cancelled
    Rejected            any other 4xx (a role's refusal is 403); ``reason_zh`` is the
                        service's own Chinese reason
    RateLimited         429 (too many link attempts, ...); ``retry_after`` if given
    ServiceUnavailable  network error, timeout, 5xx, or a wrong Telegram token;
                        idempotent GETs are retried once first

Tokens never reach a log line or an exception message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = [
    "CHAT_HEADER",
    "OPEN_STATUSES",
    "ChannelServiceClient",
    "ChannelServiceError",
    "Link",
    "NotLinked",
    "RateLimited",
    "Rejected",
    "ServiceUnavailable",
    "StaleOrder",
]

log = logging.getLogger(__name__)

API = "/api/v1"
CHAT_HEADER = "X-Telegram-Chat"
#: An assignee's open orders (what ``/orders`` lists).
OPEN_STATUSES = ("assigned", "accepted", "in_progress")
#: How many orders one list shows at most (a chat is no place for more).
LIST_LIMIT = 20
#: What a service refusal says when it gives no reason of its own.
_DEFAULT_REASON_ZH = "操作未能完成，请稍后再试。"
# The service's reasons (English, stable) for a chat linked to nobody, and for a
# caller who is not the order's assignee (any more).
_NOT_LINKED = "not linked to anybody"
_NOT_ASSIGNEE = "is not the assignee"


class ChannelServiceError(Exception):
    """A call to the work-order service failed; ``reason_zh`` may be shown to a person."""

    reason_zh = "系统繁忙，请稍后再试。"

    def __init__(self, reason: str, reason_zh: str | None = None) -> None:
        super().__init__(reason)
        if reason_zh:
            self.reason_zh = reason_zh


class NotLinked(ChannelServiceError):
    """No handler or staff account is linked to this chat."""

    reason_zh = "请先发送绑定码完成绑定。"


class StaleOrder(ChannelServiceError):
    """The order is no longer this chat's to act on (reassigned, already done)."""

    reason_zh = "该工单已改派或已办结，无需操作。"


class Rejected(ChannelServiceError):
    """The service refused the request; ``reason_zh`` says why, in its own words."""

    def __init__(self, reason: str, reason_zh: str | None = None, status: int = 400) -> None:
        super().__init__(reason, reason_zh or _DEFAULT_REASON_ZH)
        self.status = status


class RateLimited(ChannelServiceError):
    """Too many attempts; ``retry_after`` seconds if the service said."""

    reason_zh = "尝试次数过多，请稍后再试。"

    def __init__(self, reason: str, reason_zh: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(reason, reason_zh)
        self.retry_after = retry_after


class ServiceUnavailable(ChannelServiceError):
    """The service did not answer usefully (down, slow, failing); the call may not have run."""


@dataclass(frozen=True)
class Link:
    """Who a chat now belongs to (the answer of ``link``)."""

    kind: str  # "handler" or "staff"
    role: str | None
    handler_id: int | None
    username: str | None

    @property
    def is_dispatcher(self) -> bool:
        return self.role == "dispatcher"


def _detail(response: httpx.Response) -> tuple[str, str | None]:
    """``(reason, reason_zh)`` of an error answer (see the service's ``api/errors.py``)."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}", None
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, dict):
        reason = detail.get("reason")
        reason_zh = detail.get("reason_zh")
        return (str(reason) if reason else f"HTTP {response.status_code}",
                str(reason_zh) if reason_zh else None)
    if isinstance(detail, str):
        return detail, None
    return f"HTTP {response.status_code}", None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class ChannelServiceClient:
    """The channel's calls to the work-order service (``/api/v1``), one method each.

    ``http`` is shared and owned by the caller (its lifetime is the process's);
    ``timeout`` bounds every call. Order numbers and chat ids go into paths and
    headers as given; the service validates them.
    """

    def __init__(self, base_url: str, token: str, http: httpx.AsyncClient,
                 timeout: float = 5) -> None:
        if not token:
            raise ValueError("the channel needs its work-order token (WORKORDERS_TELEGRAM_TOKEN)")
        self._base = base_url.rstrip("/")
        self._token = token
        self._http = http
        self._timeout = timeout

    def __repr__(self) -> str:  # never the token
        return f"<ChannelServiceClient {self._base}>"

    # ------------------------------------------------------------- residents

    async def upload_photo(self, reporter_ref: str, data: bytes, content_type: str) -> str:
        """Store a resident's photo; returns the attachment's id for the report."""
        body = await self._call(
            "POST", f"{API}/attachments", params={"reporter_ref": reporter_ref},
            content=data, headers={"Content-Type": content_type},
        )
        return str(body["id"])

    # ---------------------------------------------------------------- linking

    async def link(self, code: str, chat_id: int | str) -> Link:
        """Link this chat to the account a one-time code was issued for."""
        body = await self._call(
            "POST", f"{API}/telegram/links", json={"code": code, "chat_id": str(chat_id)},
        )
        return Link(
            kind=str(body.get("kind") or "handler"),
            role=body.get("role"),
            handler_id=body.get("handler_id"),
            username=body.get("username"),
        )

    async def unlink(self, chat_id: int | str) -> None:
        """Nobody is linked to this chat any more (fine if nobody was)."""
        await self._call("DELETE", f"{API}/telegram/links/{chat_id}")

    # ------------------------------------------------------------ order actions

    async def accept(self, chat_id: int | str, number: str) -> dict[str, Any]:
        """签收; returns the order as staff see it."""
        return await self._order_action(chat_id, number, "accept", {})

    async def decline(self, chat_id: int | str, number: str, reason: str | None) -> dict[str, Any]:
        """Give the order back; the service re-dispatches it at once."""
        return await self._order_action(chat_id, number, "decline", {"reason": reason})

    async def progress(self, chat_id: int | str, number: str, note: str | None) -> dict[str, Any]:
        """A progress note; the first one moves the order to 处理中."""
        return await self._order_action(chat_id, number, "progress", {"note": note})

    async def resolve(self, chat_id: int | str, number: str, note: str | None) -> dict[str, Any]:
        """办结 with a note (the resident reads it)."""
        return await self._order_action(chat_id, number, "resolve", {"note": note})

    async def reclassify(self, chat_id: int | str, number: str, category: str,
                         note: str | None = None) -> dict[str, Any]:
        """重新分类 the chat's order as ``category``; it is dispatched again (to someone else)."""
        return await self._order_action(chat_id, number, "reclassify",
                                        {"category": category, "note": note})

    async def order(self, chat_id: int | str, number: str) -> dict[str, Any]:
        """One order, if this chat's account may see it (else ``StaleOrder``)."""
        try:
            return await self._call("GET", f"{API}/orders/{number}", chat_id=chat_id)
        except Rejected as exc:
            if exc.status == 404:
                raise StaleOrder(f"order {number} is not visible to this chat") from exc
            raise

    # ------------------------------------------------------------------ lists

    async def my_orders(self, chat_id: int | str) -> list[dict[str, Any]]:
        """The open orders of the chat's handler (a dispatcher: of their areas)."""
        return await self._list(chat_id, OPEN_STATUSES)

    async def pending_queue(self, chat_id: int | str) -> list[dict[str, Any]]:
        """Orders waiting for a dispatcher (the dispatcher's areas).

        ``Rejected`` (403) for a chat whose account does not oversee dispatch
        (a handler): the order list would silently show a handler only their
        own orders, so the role is checked first with a read that only
        dispatchers, supervisors and admins may make (the handlers' list,
        filtered to nothing).
        """
        await self._call("GET", f"{API}/handlers", chat_id=chat_id, params={"role": "-"})
        return await self._list(chat_id, ("pending",))

    async def _list(self, chat_id: int | str, statuses: Sequence[str]) -> list[dict[str, Any]]:
        params = [("status", s) for s in statuses] + [("limit", str(LIST_LIMIT))]
        body = await self._call("GET", f"{API}/orders", chat_id=chat_id, params=params)
        items = body.get("items") if isinstance(body, dict) else None
        return list(items or [])

    # ---------------------------------------------------------------- plumbing

    async def _order_action(self, chat_id: int | str, number: str, action: str,
                            body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return await self._call("POST", f"{API}/orders/{number}/{action}",
                                    chat_id=chat_id, json=dict(body))
        except Rejected as exc:
            if exc.status in (404, 409):
                raise StaleOrder(f"{action} {number}: {exc}") from exc
            if exc.status == 403 and _NOT_ASSIGNEE in str(exc):
                # The chat is linked, but the order is no longer assigned to it.
                raise StaleOrder(f"{action} {number}: not the assignee any more") from exc
            raise

    async def _call(
        self,
        method: str,
        path: str,
        *,
        chat_id: int | str | None = None,
        params: Any = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        all_headers = {"Authorization": f"Bearer {self._token}", **(headers or {})}
        if chat_id is not None:
            all_headers[CHAT_HEADER] = str(chat_id)
        attempts = 2 if method == "GET" else 1  # retry idempotent reads once
        for attempt in range(1, attempts + 1):
            try:
                response = await self._http.request(
                    method, self._base + path, params=params, json=json, content=content,
                    headers=all_headers, timeout=self._timeout,
                )
            except httpx.TimeoutException as exc:
                failure = ServiceUnavailable(f"{method} {path} timed out ({type(exc).__name__})")
            except httpx.TransportError as exc:
                failure = ServiceUnavailable(f"{method} {path} failed ({type(exc).__name__})")
            else:
                if response.is_success:
                    return response.json() if response.content else None
                if not response.is_server_error:
                    raise self._error(method, path, response)
                failure = ServiceUnavailable(
                    f"{method} {path} answered HTTP {response.status_code}")
            log.warning("work-order service: %s (attempt %s of %s)", failure, attempt, attempts)
        raise failure

    @staticmethod
    def _error(method: str, path: str, response: httpx.Response) -> ChannelServiceError:
        status = response.status_code
        reason, reason_zh = _detail(response)
        what = f"{method} {path} answered HTTP {status}: {reason}"
        if status == 401:
            # A wrong or missing Telegram token: an operator must fix the configuration.
            log.error("the work-order service refused the channel's token (HTTP 401)")
            return ServiceUnavailable(what)
        if status == 403 and _NOT_LINKED in reason:
            return NotLinked(what)
        if status == 429:
            return RateLimited(what, reason_zh, retry_after=_retry_after(response))
        return Rejected(what, reason_zh, status=status)
