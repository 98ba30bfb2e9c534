"""The one client of the work-order service that the actions use.

Async (aiohttp, which Rasa already ships), with a timeout per call, a few
retries with backoff for what is worth retrying (network errors, timeouts,
502/503/504, 429), and typed errors for the rest. Every POST carries an
Idempotency-Key, one per logical request and the same on each of its
retries, so a retry after a lost answer never opens a second order, cancels,
answers or attaches twice. Within an action call the action server serves
(``CALL_KEY``, set by bot/action_server.py), a POST's key is derived from the
call and the request, so when Rasa makes the same call again (the action
server that had it went away, bot/serve.py) the POSTs repeat their keys too.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.call_keys import CALL_KEY

logger = logging.getLogger(__name__)

RETRYABLE = frozenset({429, 502, 503, 504})

def request_key(path: str, body: Mapping[str, Any]) -> str:
    """The Idempotency-Key of a POST: derived from the action call and the request
    when there is a call, else random."""
    call = CALL_KEY.get()
    if call is None:
        return uuid.uuid4().hex
    seed = json.dumps([call, path, body], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(seed.encode()).hexdigest()[:32]


class WorkOrderServiceError(Exception):
    """Base of the client's errors."""


class ServiceUnavailable(WorkOrderServiceError):
    """The service could not be reached or answered 5xx/429: try again later."""


class Rejected(WorkOrderServiceError):
    """The service refused the request (4xx); `reason_zh` is safe to show."""

    def __init__(self, status: int, reason: str, reason_zh: str | None = None,
                 field: str | None = None) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason
        self.reason_zh = reason_zh
        self.field = field  # the request field to blame, when the service names one


class NotFound(Rejected):
    """No such order for this resident (or no such order at all)."""


@dataclass(frozen=True)
class ClientSettings:
    base_url: str
    token: str
    timeout_s: float = 3.0
    retries: int = 2
    backoff_s: float = 0.3

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ClientSettings:
        return cls(
            base_url=env.get("WORKORDERS_URL", "http://127.0.0.1:8000").rstrip("/"),
            token=env.get("WORKORDERS_ACTIONS_TOKEN", ""),
            timeout_s=float(env.get("WORKORDERS_TIMEOUT_S", "3")),
            retries=int(env.get("WORKORDERS_RETRIES", "2")),
        )


class WorkOrderClient:
    """Calls of the work-order API made on behalf of a resident (the actions token)."""

    def __init__(self, settings: ClientSettings,
                 session: aiohttp.ClientSession | None = None) -> None:
        self._settings = settings
        self._session = session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    # -- orders ----------------------------------------------------------------
    async def create_order(self, report: Mapping[str, Any], idempotency_key: str) -> dict:
        return await self._call("POST", "/api/v1/orders", json=dict(report),
                                headers={"Idempotency-Key": idempotency_key})

    async def latest_order(self, reporter_ref: str,
                           awaiting_satisfaction: bool = False) -> dict | None:
        params = {"reporter_ref": reporter_ref}
        if awaiting_satisfaction:
            params["awaiting_satisfaction"] = "true"
        return await self._call("GET", "/api/v1/orders/latest", params=params)

    async def get_order(self, number: str, reporter_ref: str) -> dict:
        return await self._call("GET", f"/api/v1/orders/{number}",
                                params={"reporter_ref": reporter_ref})

    async def history(self, number: str, reporter_ref: str) -> list:
        return await self._call("GET", f"/api/v1/orders/{number}/history",
                                params={"reporter_ref": reporter_ref})

    async def find_duplicate(self, category: str, area_code: str, location: str,
                             reporter_ref: str | None = None) -> dict | None:
        """An open order of the same matter at the place; for a dispute only this
        resident's own (``reporter_ref``), never someone else's."""
        params = {"category": category, "area_code": area_code, "location": location}
        if reporter_ref:
            params["reporter_ref"] = reporter_ref
        return await self._call("GET", "/api/v1/orders/duplicate", params=params)

    async def attach(self, number: str, reporter_ref: str, description: str) -> dict:
        return await self._post(f"/api/v1/orders/{number}/attach",
                                {"reporter_ref": reporter_ref, "description": description})

    async def add_attachment(self, number: str, reporter_ref: str, attachment_id: str) -> dict:
        """Attach a photo the channel staged for this resident to their own order
        (NotFound: not theirs; Rejected 409: closed, or it has all the photos it may carry)."""
        return await self._post(f"/api/v1/orders/{number}/attachments",
                                {"reporter_ref": reporter_ref, "attachment_id": attachment_id})

    async def set_location(self, number: str, reporter_ref: str, latitude: float,
                           longitude: float) -> dict:
        """Set the coordinates of the resident's own open order."""
        return await self._post(f"/api/v1/orders/{number}/location", {
            "reporter_ref": reporter_ref, "latitude": latitude, "longitude": longitude})

    async def cancel(self, number: str, reporter_ref: str) -> dict:
        return await self._post(f"/api/v1/orders/{number}/cancel",
                                {"reporter_ref": reporter_ref})

    async def answer_satisfaction(self, number: str, reporter_ref: str, answer: str,
                                  reason: str | None = None) -> dict:
        return await self._post(f"/api/v1/orders/{number}/satisfaction", {
            "reporter_ref": reporter_ref, "answer": answer, "reason": reason})

    # -- places and people ------------------------------------------------------
    async def resolve_area(self, text: str) -> dict | None:
        """The grid area a place belongs to: {code, name, matched, alias}; None if unknown."""
        try:
            return await self._call("GET", "/api/v1/areas/resolve", params={"text": text[:200]})
        except NotFound:
            return None

    async def request_callback(self, reporter_ref: str, reason: str, transcript: list,
                               idempotency_key: str, contact: str | None = None,
                               order_number: str | None = None,
                               caller_token: str | None = None) -> dict:
        """Ask a dispatcher to contact the resident, with the conversation so far
        (``caller_token``: a phone caller's encrypted number, as the contact)."""
        body = {"reporter_ref": reporter_ref, "reason": reason, "transcript": transcript,
                "contact": contact, "order_number": order_number}
        if caller_token:
            body["caller_token"] = caller_token
        return await self._call("POST", "/api/v1/callbacks", json=body,
                                headers={"Idempotency-Key": idempotency_key})

    # -- plumbing --------------------------------------------------------------
    async def _post(self, path: str, body: Mapping[str, Any]) -> Any:
        """A POST on an existing order: its Idempotency-Key (``request_key``), kept across
        its retries."""
        return await self._call("POST", path, json=dict(body),
                                headers={"Idempotency-Key": request_key(path, body)})

    async def _session_or_new(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._settings.timeout_s),
                headers={"Authorization": f"Bearer {self._settings.token}"},
            )
        return self._session

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        url = self._settings.base_url + path
        attempts = self._settings.retries + 1
        for attempt in range(attempts):
            try:
                return await self._once(method, url, **kwargs)
            except ServiceUnavailable as error:
                if attempt + 1 == attempts:
                    raise
                delay = self._settings.backoff_s * (2 ** attempt)
                logger.warning("work-order service: %s; retrying in %.1f s", error, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _once(self, method: str, url: str, **kwargs: Any) -> Any:
        session = await self._session_or_new()
        try:
            async with session.request(method, url, **kwargs) as response:
                if response.status in RETRYABLE or response.status >= 500:
                    # whatever the body says (haproxy's 502 is an HTML page)
                    raise ServiceUnavailable(f"{method} {url} answered {response.status}")
                try:
                    body = (await response.json(content_type=None)
                            if response.content_length != 0 else None)
                except ValueError as error:
                    raise ServiceUnavailable(
                        f"{method} {url} answered {response.status} with a body that is not JSON"
                    ) from error
                if response.status >= 400:
                    detail = (body or {}).get("detail") if isinstance(body, dict) else None
                    reason = detail.get("reason") if isinstance(detail, dict) else str(detail)
                    reason_zh = detail.get("reason_zh") if isinstance(detail, dict) else None
                    field = detail.get("field") if isinstance(detail, dict) else None
                    error = NotFound if response.status == 404 else Rejected
                    raise error(response.status, reason or "rejected", reason_zh, field)
                return body
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise ServiceUnavailable(f"{method} {url}: {type(error).__name__}") from error
