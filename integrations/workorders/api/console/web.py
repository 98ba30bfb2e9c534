"""What every console page shares: the signed-in user, CSRF, templates, redirects.

    @router.get("/console/orders")
    def orders_page(request: Request, user: Dispatcher, uow: UowDep) -> Response:
        return render(request, "orders/list.html", user, page=...)

    @router.post("/console/orders/{number}/accept")
    def accept_order(request: Request, number: str, user: HandlerUser, uow: UowDep, now: NowDep):
        return run_action(request, lambda: accept(uow, number, ..., now), "已签收。", back)

- ``CurrentUser``: the signed-in staff member (``ConsoleUser``); without a live
  session a page redirects to ``/console/login?next=…`` (an htmx request gets
  401 with ``HX-Redirect``). ``require_roles(...)`` narrows it (a 403 page).
- Every request that is not GET/HEAD/OPTIONS is CSRF-checked by ``csrf_guard``,
  a dependency of the whole console router: the form field ``csrf_token`` or
  the header ``X-CSRF-Token`` must equal the session's token. The sign-in form
  (no session yet) is protected by a double-submit cookie instead (``pages.auth``).
- ``run_action``: POST-redirect-GET; a service error becomes a flash message
  with its ``reason_zh``.
- The acting staff member is ``user.principal`` (an ``api.deps.Principal``), so
  the console calls the same access rules (``api.access``) and use cases as the
  API, and the audit names ``staff:<username>``.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, unquote

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.templating import Jinja2Templates

from ...domain.errors import DomainError
from ...service.signin import SessionView, SignInPolicy, session_by_token
from ..deps import NowDep, Principal, StateDep, UowDep
from ..state import ApiState
from . import labels

__all__ = [
    "ConsoleUser", "CurrentUser", "LoginRequired", "NowDep", "RoleRefused", "UowDep",
    "csrf_guard", "flash_response", "policy_of", "redirect", "render", "require_roles",
    "run_action", "templates",
]

log = logging.getLogger("integrations.console")

PREFIX = "/console"
LOGIN_PATH = f"{PREFIX}/login"
SESSION_COOKIE = "wb_session"
FLASH_COOKIE = "wb_flash"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: set (to "1") by a page's automatic refreshes: they do not restart the idle clock
POLL_HEADER = "X-Console-Poll"
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ConsoleUser:
    """The signed-in staff member of this request."""

    principal: Principal
    csrf_token: str
    session_started: datetime

    @property
    def username(self) -> str:
        return self.principal.username or ""

    @property
    def role(self) -> str:
        return self.principal.role

    @property
    def actor(self) -> str:
        return self.principal.actor


class LoginRequired(Exception):
    """No live session: go to the sign-in page (and come back to ``next_path``)."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class RoleRefused(Exception):
    """Signed in, but this page is not for the user's role."""


class CsrfRejected(Exception):
    """A state-changing request without the session's CSRF token."""


# ----------------------------------------------------------------- templates

def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=select_autoescape(("html", "xml")),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        status_zh=labels.status_zh, action_zh=labels.action_zh, priority_zh=labels.priority_zh,
        tier_zh=labels.tier_zh, handler_role_zh=labels.handler_role_zh,
        role_zh=labels.staff_role_zh, channel_zh=labels.channel_zh,
        satisfaction_zh=labels.satisfaction_zh, status_tone=labels.status_tone,
        dt=labels.local_time, duration=labels.duration, percent=labels.percent,
    )
    return env


templates = Jinja2Templates(env=_environment())

#: The navigation: (path, label, icon, roles that see it)
NAV: tuple[tuple[str, str, str, frozenset[str]], ...] = (
    (f"{PREFIX}/todo", "待办", "inbox", frozenset({"dispatcher", "admin"})),
    (f"{PREFIX}/orders", "工单", "list", frozenset({"dispatcher", "admin"})),
    (f"{PREFIX}/handlers", "处理人员", "people", frozenset({"dispatcher", "admin"})),
    (f"{PREFIX}/callbacks", "转人工", "phone", frozenset({"dispatcher", "admin"})),
    (f"{PREFIX}/warnings", "研判预警", "alert", frozenset({"dispatcher", "supervisor", "admin"})),
    (f"{PREFIX}/my", "我的工单", "clipboard", frozenset({"handler"})),
    (f"{PREFIX}/dashboard", "数据看板", "chart", frozenset({"supervisor", "admin"})),
    (f"{PREFIX}/exports", "导出", "download", frozenset({"supervisor", "admin"})),
    (f"{PREFIX}/report/monthly", "月报", "print", frozenset({"supervisor", "admin"})),
    (f"{PREFIX}/admin/staff", "账号", "key", frozenset({"admin"})),
    (f"{PREFIX}/admin/areas", "区域", "map", frozenset({"admin"})),
    (f"{PREFIX}/account", "我的账号", "user",
     frozenset({"handler", "dispatcher", "supervisor", "admin"})),
)

HOME_BY_ROLE = {"dispatcher": f"{PREFIX}/todo", "handler": f"{PREFIX}/my",
                "supervisor": f"{PREFIX}/dashboard", "admin": f"{PREFIX}/admin/staff"}


#: Nav items with a count beside them: path -> the fragment htmx loads into the badge
NAV_BADGES = {f"{PREFIX}/warnings": f"{PREFIX}/warnings/badge"}


def nav_for(role: str) -> list[dict[str, str]]:
    return [{"path": p, "label": label, "icon": icon, "badge": NAV_BADGES.get(p, "")}
            for p, label, icon, roles in NAV if role in roles]


def render(
    request: Request, template: str, user: ConsoleUser | None, *, status_code: int = 200,
    **context: Any,
) -> Response:
    """The page ``template`` with the shared context (user, csrf_token, nav, flash, now)."""
    flash = _read_flash(request)
    now = context.pop("now", None) or datetime.now(tz=labels.CHINA_TZ)
    response = templates.TemplateResponse(
        request, template,
        {
            "user": user,
            "csrf_token": user.csrf_token if user else context.pop("csrf_token", ""),
            "nav": nav_for(user.role) if user else [],
            "flash": flash,
            "now": now,
            "age": lambda at: labels.age(at, now),
            "path": request.url.path,
            **context,
        },
        status_code=status_code,
    )
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path=PREFIX)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


# ---------------------------------------------------------------- flash + redirect

def _read_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    kind, _, text = unquote(raw).partition("|")
    if kind not in ("ok", "error") or not text:
        return None
    return {"kind": kind, "text": text[:300]}


def redirect(url: str) -> RedirectResponse:
    """303 See Other to ``url`` (after a POST, the browser GETs it)."""
    return RedirectResponse(url, status_code=303)


def flash_response(url: str, text: str, *, error: bool = False) -> RedirectResponse:
    """Redirect to ``url`` showing ``text`` once (a short-lived cookie)."""
    response = redirect(url)
    response.set_cookie(
        FLASH_COOKIE, quote(f"{'error' if error else 'ok'}|{text}"), max_age=60, path=PREFIX,
        httponly=True, samesite="lax",
    )
    return response


def run_action(
    request: Request, action: Callable[[], object], ok_message: str, back_url: str
) -> Response:
    """Do ``action``; flash ``ok_message`` or the error's ``reason_zh``; redirect to ``back_url``.

    Only errors of the service and domain (the person can do something about
    them) become a flash; anything else propagates (a 500 page, logged).
    """
    try:
        action()
    except DomainError as exc:
        return flash_response(back_url, exc.reason_zh, error=True)
    return flash_response(back_url, ok_message)


def safe_next(path: str | None) -> str:
    """``path`` if it is a console page of this site, else the console's home."""
    if path and path.startswith(f"{PREFIX}/") and not path.startswith("//") and "\\" not in path:
        return path
    return f"{PREFIX}/"


# ---------------------------------------------------------------- session, roles, CSRF

def policy_of(state: ApiState) -> SignInPolicy:
    return SignInPolicy(idle=timedelta(minutes=state.settings.console_idle_minutes))


async def optional_user(request: Request, state: StateDep, now: NowDep) -> ConsoleUser | None:
    """The signed-in staff member, or None (no cookie, expired, disabled)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    # a page's own polling (htmx, marked with POLL_HEADER) is not the person's activity
    passive = request.method in SAFE_METHODS and request.headers.get(POLL_HEADER) == "1"
    view: SessionView | None = await run_in_threadpool(
        lambda: session_by_token(state.app.uow(), token, now, policy_of(state), touch=not passive)
    )
    if view is None:
        return None
    return ConsoleUser(
        principal=Principal(role=view.role, username=view.username, handler_id=view.handler_id,
                            areas=view.areas),
        csrf_token=view.csrf_token, session_started=view.created_at,
    )


OptionalUser = Annotated[ConsoleUser | None, Depends(optional_user)]


async def current_user(request: Request, user: OptionalUser) -> ConsoleUser:
    if user is None:
        target = request.url.path
        if request.url.query and request.method in SAFE_METHODS:
            target += f"?{request.url.query}"
        if request.method not in SAFE_METHODS:
            target = request.headers.get("HX-Current-URL") or request.url.path
        raise LoginRequired(target)
    return user


CurrentUser = Annotated[ConsoleUser, Depends(current_user)]


def require_roles(*roles: str) -> Callable[..., Any]:
    """A dependency giving the signed-in user if their role is one of ``roles``."""
    allowed = frozenset(roles)

    async def dependency(user: CurrentUser) -> ConsoleUser:
        if user.role not in allowed:
            raise RoleRefused(user.role)
        return user

    dependency.__name__ = f"console_{'_'.join(sorted(allowed))}"
    return dependency


async def csrf_guard(request: Request, user: OptionalUser) -> None:
    """Refuse a state-changing request that lacks the session's CSRF token."""
    if request.method in SAFE_METHODS or request.url.path == LOGIN_PATH:
        return
    if user is None:
        raise LoginRequired(request.headers.get("HX-Current-URL") or f"{PREFIX}/")
    sent = request.headers.get("X-CSRF-Token")
    if not sent:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get("csrf_token")
            sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), user.csrf_token.encode()):
        log.warning("console: refused a %s to %s without its CSRF token (user %s)",
                    request.method, request.url.path, user.username)
        raise CsrfRejected()


# Role sets of the pages
Dispatcher = Annotated[ConsoleUser, Depends(require_roles("dispatcher", "admin"))]
HandlerUser = Annotated[ConsoleUser, Depends(require_roles("handler"))]
Supervisor = Annotated[ConsoleUser, Depends(require_roles("supervisor", "admin"))]
Admin = Annotated[ConsoleUser, Depends(require_roles("admin"))]
