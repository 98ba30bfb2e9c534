"""Errors as HTTP responses, by type.

Every error body is ``{"detail": {"reason": "...", "reason_zh": "...", "field": ...}}``
(``field`` only when one field is to blame; validation errors add ``errors``,
one entry per problem). Open311 paths answer in GeoReport v2's own shape
instead (``open311.render``).

    NotFound 404 · Forbidden 403 · Conflict, IllegalTransition 409
    ImageTooLarge 413 · UnsupportedImage 415
    InvalidInput, UnknownCategory/Priority/Kind/Tier, request validation 422
    TooManyAttempts 429 (+ Retry-After)
    Unauthenticated 401 (+ WWW-Authenticate: Bearer) · body too large 413
    database unreachable 503 · anything else 500
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..domain.errors import (
    DomainError,
    IllegalTransition,
    InvalidTaxonomy,
    UnknownCategory,
    UnknownKind,
    UnknownPriority,
    UnknownTier,
)
from ..service.errors import (
    Conflict,
    Forbidden,
    ImageTooLarge,
    InvalidInput,
    NotFound,
    TooManyAttempts,
    UnsupportedImage,
)
from .open311.render import is_open311_path, open311_error
from .validation_zh import translate

log = logging.getLogger("integrations.workorders.api")

#: Status of each error type; the most specific class in the MRO wins.
STATUS_BY_TYPE: dict[type[DomainError], int] = {
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    IllegalTransition: 409,
    InvalidInput: 422,
    ImageTooLarge: 413,
    UnsupportedImage: 415,
    TooManyAttempts: 429,
    UnknownCategory: 422,
    UnknownPriority: 422,
    UnknownKind: 422,
    UnknownTier: 422,
    InvalidTaxonomy: 500,
    DomainError: 422,
}

_FIELD_BY_TYPE: dict[type[DomainError], str] = {
    UnknownCategory: "category",
    UnknownPriority: "priority",
    UnknownKind: "kind",
    UnknownTier: "tier",
}

_HTTP_ZH = {
    400: "请求格式不正确。",
    404: "请求的地址不存在。",
    405: "不支持该请求方法。",
    406: "不支持该响应格式。",
    413: "请求内容过大。",
    415: "不支持该内容类型。",
}


class Unauthenticated(Exception):
    """No token, or one that belongs to nobody: 401 with ``WWW-Authenticate: Bearer``."""

    def __init__(self, reason: str, reason_zh: str, *, invalid: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reason_zh = reason_zh
        self.invalid = invalid

    @classmethod
    def missing(cls) -> Unauthenticated:
        return cls("a bearer token is required", "请提供访问令牌。", invalid=False)

    @classmethod
    def unknown(cls) -> Unauthenticated:
        return cls("the token is invalid or revoked", "访问令牌无效或已停用。", invalid=True)


def status_for(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_TYPE:
            return STATUS_BY_TYPE[cls]
    return 422


def detail_of(exc: DomainError) -> dict[str, Any]:
    detail: dict[str, Any] = {"reason": exc.reason, "reason_zh": exc.reason_zh}
    field = getattr(exc, "field", None) if isinstance(exc, InvalidInput) else None
    for cls, name in _FIELD_BY_TYPE.items():
        if isinstance(exc, cls):
            field = name
    if field is not None:
        detail["field"] = field
    return detail


def error_response(
    request: Request, status: int, detail: dict[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    """The error in the caller's dialect: ours, Open311's on ``/open311`` paths, or a
    page on the console's paths."""
    if is_open311_path(request.url.path):
        return open311_error(request.url.path, status, detail, headers)
    html = getattr(request.app.state, "html_errors", None)  # the console's pages (if mounted)
    if html is not None and request.url.path.startswith(html[0]):
        return html[1](request, status, detail, headers)
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    status = status_for(exc)
    if status >= 500:
        log.error("configuration error: %s", exc.reason)
    headers = None
    if isinstance(exc, TooManyAttempts):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return error_response(request, status, detail_of(exc), headers)


async def _unauthenticated(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Unauthenticated)
    challenge = 'Bearer error="invalid_token"' if exc.invalid else "Bearer"
    return error_response(
        request, 401, {"reason": exc.reason, "reason_zh": exc.reason_zh},
        headers={"WWW-Authenticate": challenge},
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [translate(e) for e in exc.errors()]
    first = errors[0] if errors else {"field": None, "reason": "invalid", "reason_zh": "请求不正确"}
    detail: dict[str, Any] = {
        "reason": "; ".join(f"{e['field'] or 'request'}: {e['reason']}" for e in errors),
        "reason_zh": "；".join(dict.fromkeys(e["reason_zh"] for e in errors)),
        "errors": errors,
    }
    if first["field"] is not None:
        detail["field"] = first["field"]
    return error_response(request, 422, detail)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.detail, dict) and "reason_zh" in exc.detail:
        detail = exc.detail
    else:
        reason_zh = _HTTP_ZH.get(exc.status_code, "请求无法处理。")
        if exc.status_code == 413:
            limit = getattr(exc, "limit", None) or request.app.state.api.settings.max_body_bytes
            reason_zh = f"请求内容过大，不能超过{limit // 1024}KB。"
        detail = {"reason": str(exc.detail), "reason_zh": reason_zh}
    return error_response(request, exc.status_code, detail, headers=exc.headers)


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    if isinstance(exc, DBAPIError) and not isinstance(exc, OperationalError) and not (
        exc.connection_invalidated
    ):
        return await _unexpected(request, exc)
    log.error("database unavailable: %s", type(exc).__name__)
    return error_response(
        request, 503,
        {"reason": "the database is unavailable", "reason_zh": "服务暂时不可用，请稍后重试。"},
        headers={"Retry-After": "5"},
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        request, 500, {"reason": "internal error", "reason_zh": "系统繁忙，请稍后重试。"}
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(Unauthenticated, _unauthenticated)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_unavailable)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected)
