"""Errors on console paths as pages (the API's paths keep their JSON bodies).

- not signed in: 303 to the sign-in page (htmx requests: 401 with ``HX-Redirect``);
- another role's page, or a form without its CSRF token: a 403 page;
- the service's errors (404, 409, 422 …) and HTTP errors: a page with the
  Chinese reason, through the API's own error handlers (``api.errors``), which
  hand console paths to ``html_error`` (``app.state.html_errors``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import Response

from .web import LOGIN_PATH, PREFIX, CsrfRejected, LoginRequired, RoleRefused, redirect, render

TITLES = {400: "请求有误", 401: "请先登录", 403: "无法访问", 404: "未找到", 409: "操作未完成",
          413: "内容过大", 422: "填写有误", 429: "操作过于频繁", 503: "服务暂时不可用"}


def error_page(
    request: Request, status: int, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    response = render(request, "error.html", None, status_code=status,
                      title=TITLES.get(status, "出错了"), message=message)
    for name, value in (headers or {}).items():
        if name.lower() != "www-authenticate":
            response.headers[name] = value
    return response


def html_error(
    request: Request, status: int, detail: dict[str, Any], headers: Mapping[str, str] | None
) -> Response:
    message = str(detail.get("reason_zh") or "系统繁忙，请稍后重试。")
    if status >= 500:
        message = "系统繁忙，请稍后重试。如果问题持续，请联系管理员。"
    return error_page(request, status, message, headers)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    target = f"{LOGIN_PATH}?next={quote(exc.next_path, safe='/')}"
    if request.headers.get("HX-Request"):
        return Response(status_code=401, headers={"HX-Redirect": target})
    return redirect(target)


async def _role_refused(request: Request, exc: Exception) -> Response:
    return error_page(request, 403, "您的账号没有打开此页面的权限。")


async def _csrf_rejected(request: Request, exc: Exception) -> Response:
    return error_page(request, 403, "页面已过期或来源不明，请刷新页面后重试。")


def install_console_errors(app: FastAPI) -> None:
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(RoleRefused, _role_refused)
    app.add_exception_handler(CsrfRejected, _csrf_rejected)
    app.state.html_errors = (PREFIX, html_error)
