"""Dependencies of the request handlers: state, unit of work, clock, the caller.

    def endpoint(uow: UowDep, now: NowDep, who: Annotated[Principal, Depends(DISPATCHERS)]): ...

Cheap dependencies are ``async def`` so they run on the event loop instead of
costing a thread hop each; the handlers themselves are plain ``def`` and run
in the thread pool, where the blocking database work belongs.

Callers authenticate with ``Authorization: Bearer <token>``: the service
token (``settings.service_token``; role ``service``: the action server and
channels acting for residents) or a staff user's token (roles handler,
dispatcher, supervisor, admin). No token or an unknown one: 401; a role that
may not call the endpoint: 403.

The Telegram bot acts for the person linked to a chat: the service token plus
``X-Telegram-Chat: <chat id>`` makes the caller that chat's handler (role
handler) or staff user (their role and areas), exactly as if they had sent
their own token; a chat linked to nobody: 403. Staff tokens ignore the header.
The bot's own calls (linking chats) use ``BOT``, which ignores it too.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..service import Forbidden, UnitOfWork, linked_account, staff_by_token
from ..service.telegram_links import NOT_LINKED_ZH
from .errors import Unauthenticated
from .state import ApiState

SERVICE = "service"
HANDLER, DISPATCHER, SUPERVISOR, ADMIN = "handler", "dispatcher", "supervisor", "admin"
STAFF_ROLES = (HANDLER, DISPATCHER, SUPERVISOR, ADMIN)
ALL_ROLES = (SERVICE, *STAFF_ROLES)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the service account or a staff user."""

    role: str
    username: str | None = None
    handler_id: int | None = None
    areas: tuple[str, ...] = ()
    #: the Telegram chat the service token acts for (``X-Telegram-Chat``), if any
    telegram_chat: str | None = None

    @property
    def is_service(self) -> bool:
        return self.role == SERVICE

    @property
    def actor(self) -> str:
        """How the audit trail names this caller (``staff:alice``, ``service``)."""
        return SERVICE if self.is_service else f"staff:{self.username}"


async def get_state(request: Request) -> ApiState:
    return request.app.state.api


StateDep = Annotated[ApiState, Depends(get_state)]


async def get_uow(state: StateDep) -> UnitOfWork:
    """A fresh unit of work for this request (it opens its session only when entered)."""
    return state.app.uow()


UowDep = Annotated[UnitOfWork, Depends(get_uow)]


async def get_now() -> datetime:
    """The current time (UTC). Tests override this dependency to move the clock."""
    return datetime.now(timezone.utc)


NowDep = Annotated[datetime, Depends(get_now)]

bearer = HTTPBearer(
    auto_error=False,
    description="The service token (action server, channels) or a staff user's token.",
)


def _staff_principal(state: ApiState, token: str) -> Principal | None:
    staff = staff_by_token(state.app.uow(), token)
    if staff is None:
        return None
    return Principal(
        role=staff.role, username=staff.username, handler_id=staff.handler_id,
        areas=tuple(staff.areas),
    )


def _chat_principal(state: ApiState, chat: str) -> Principal | None:
    account = linked_account(state.app.uow(), chat)
    if account is None:
        return None
    return Principal(
        role=account.role, username=account.username, handler_id=account.handler_id,
        areas=account.areas, telegram_chat=chat,
    )


async def authenticate(
    state: ApiState, token: str | None, telegram_chat: str | None = None
) -> Principal:
    """The principal of ``token``; ``Unauthenticated`` if there is none or it is unknown.

    With the service token and ``telegram_chat``: the person linked to that
    chat (``Forbidden`` if nobody is); staff tokens ignore ``telegram_chat``.
    """
    if not token:
        raise Unauthenticated.missing()
    service_token = state.settings.service_token
    if service_token and hmac.compare_digest(token.encode(), service_token.encode()):
        chat = (telegram_chat or "").strip()
        if not chat:
            return Principal(role=SERVICE)
        principal = await run_in_threadpool(_chat_principal, state, chat)
        if principal is None:
            raise Forbidden("the Telegram chat is not linked to anybody", NOT_LINKED_ZH)
        return principal
    principal = await run_in_threadpool(_staff_principal, state, token)
    if principal is None:
        raise Unauthenticated.unknown()
    return principal


TelegramChatHeader = Annotated[str | None, Header(
    alias="X-Telegram-Chat", max_length=64,
    description="With the service token: act as the person linked to this Telegram chat",
)]


async def get_principal(
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    telegram_chat: TelegramChatHeader = None,
) -> Principal:
    return await authenticate(
        state, credentials.credentials if credentials else None, telegram_chat
    )


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_bot(
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The service account itself, whatever ``X-Telegram-Chat`` says (403 for staff)."""
    principal = await authenticate(state, credentials.credentials if credentials else None)
    if not principal.is_service:
        raise Forbidden(
            f"role {principal.role!r} may not call this endpoint", "您的角色无权执行此操作。"
        )
    return principal


def require(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets only ``roles`` through (403 for the others)."""
    allowed = frozenset(roles)

    async def dependency(principal: PrincipalDep) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(
                f"role {principal.role!r} may not call this endpoint",
                "您的角色无权执行此操作。",
            )
        return principal

    dependency.__name__ = f"require_{'_'.join(sorted(allowed))}"
    return dependency


# The role sets of the endpoints (each a dependency object, so FastAPI caches it per request).
ANYONE = require(*ALL_ROLES)
STAFF = require(*STAFF_ROLES)
REPORTERS = require(SERVICE, HANDLER, DISPATCHER, ADMIN)
READERS = require(SERVICE, *STAFF_ROLES)
RESIDENT_AGENT = require(SERVICE)
ASSIGNEE_OR_DISPATCH = require(HANDLER, DISPATCHER, ADMIN)
DISPATCH = require(DISPATCHER, ADMIN)
OVERSIGHT = require(DISPATCHER, SUPERVISOR, ADMIN)
AUDITORS = require(SUPERVISOR, ADMIN)
SCRAPERS = require(SERVICE, SUPERVISOR, ADMIN)
#: The Telegram bot linking chats (the service token; ``X-Telegram-Chat`` ignored).
BOT = get_bot
