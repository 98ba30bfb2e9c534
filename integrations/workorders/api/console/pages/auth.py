"""Signing in and out: ``/console/login`` and ``/console/logout``.

The sign-in form has no session to carry a CSRF token yet, so it is protected
by a double-submit token: a random value in an HttpOnly, SameSite=Strict cookie
that the form must repeat. A new sign-in always gets a new session token (no
fixation), and the session cookie is HttpOnly, SameSite=Lax, limited to
``/console`` and Secure when the request came over HTTPS (or
``WORKORDERS_CONSOLE_SECURE_COOKIE=true``).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ....service import TooManyAttempts
from ....service.signin import WrongCredentials, sign_in, sign_out
from ...deps import NowDep, StateDep
from ...state import ApiState
from ..web import (
    LOGIN_PATH,
    PREFIX,
    SESSION_COOKIE,
    CurrentUser,
    OptionalUser,
    flash_response,
    policy_of,
    redirect,
    render,
    safe_next,
)

router = APIRouter()
LOGIN_COOKIE = "wb_login"


def secure_cookies(request: Request, state: ApiState) -> bool:
    forced = state.settings.console_secure_cookie
    return forced if forced is not None else request.url.scheme == "https"


def _login_page(
    request: Request, state: ApiState, *, next_path: str, username: str = "",
    error: str | None = None, status_code: int = 200,
) -> Response:
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = render(request, "login.html", None, status_code=status_code,
                      csrf_token=token, next_path=next_path, username=username, error=error)
    response.set_cookie(LOGIN_COOKIE, token, max_age=3600, path=LOGIN_PATH, httponly=True,
                        samesite="strict", secure=secure_cookies(request, state))
    return response


@router.get(LOGIN_PATH, include_in_schema=False)
def login_form(request: Request, state: StateDep, user: OptionalUser,
               next: str | None = None) -> Response:  # noqa: A002 (the query's name)
    if user is not None:
        return redirect(safe_next(next))
    return _login_page(request, state, next_path=safe_next(next))


@router.post(LOGIN_PATH, include_in_schema=False)
async def login(
    request: Request,
    state: StateDep,
    now: NowDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    csrf_token: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=500)] = "",  # noqa: A002
) -> Response:
    next_path = safe_next(next)
    expected = request.cookies.get(LOGIN_COOKIE) or ""
    if not expected or not hmac.compare_digest(expected.encode(), csrf_token.encode()):
        return _login_page(request, state, next_path=next_path, username=username,
                           error="页面已过期，请重新输入后登录。", status_code=403)
    if not username.strip() or not password:
        return _login_page(request, state, next_path=next_path, username=username,
                           error="请输入用户名和密码。", status_code=422)
    address = request.client.host if request.client else "unknown"
    try:
        signed = await run_in_threadpool(
            sign_in, state.app.uow(), username, password, address, now, policy_of(state))
    except WrongCredentials as exc:
        return _login_page(request, state, next_path=next_path, username=username,
                           error=exc.reason_zh, status_code=401)
    except TooManyAttempts as exc:
        response = _login_page(request, state, next_path=next_path, username=username,
                               error=exc.reason_zh, status_code=429)
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        await run_in_threadpool(sign_out, state.app.uow(), old)
    response = redirect(next_path)
    response.set_cookie(SESSION_COOKIE, signed.token, path=PREFIX, httponly=True,
                        samesite="lax", secure=secure_cookies(request, state))
    response.delete_cookie(LOGIN_COOKIE, path=LOGIN_PATH)
    return response


@router.post(f"{PREFIX}/logout", include_in_schema=False)
def logout(request: Request, state: StateDep, user: CurrentUser) -> Response:
    sign_out(state.app.uow(), request.cookies.get(SESSION_COOKIE))
    response = flash_response(LOGIN_PATH, "您已安全退出。")
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response
