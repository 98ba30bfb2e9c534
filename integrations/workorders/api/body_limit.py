"""A limit on request bodies: 413 with the usual error body (``errors``).

FastAPI's own ``max_body_size`` answers with plain text from inside the
route, past our exception handlers; this middleware instead makes reading an
oversized body raise ``BodyTooLarge`` (an ``HTTPException``), which the
handlers render like every other error. A declared ``Content-Length`` over
the limit fails at the first read, before anything is received.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=f"the request body is larger than {limit} bytes")
        self.limit = limit


class BodyLimitMiddleware:
    """``max_bytes`` for every path but those in ``larger`` (exact paths, their own limit)."""

    def __init__(self, app: ASGIApp, max_bytes: int,
                 larger: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, received = self.larger.get(scope.get("path", ""), self.max_bytes), 0
        declared = Headers(scope=scope).get("content-length")
        too_long = declared is not None and declared.isdigit() and int(declared) > limit

        async def limited_receive() -> Message:
            nonlocal received
            if too_long:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)
