"""Dependencies of the request handlers: state, unit of work, clock, the caller.

    def endpoint(uow: UowDep, now: NowDep, who: Annotated[Principal, Depends(DISPATCHERS)]): ...

Cheap dependencies are ``async def`` so they run on the event loop instead of
costing a thread hop each; the handlers themselves are plain ``def`` and run
in the thread pool, where the blocking database work belongs.

Callers authenticate with ``Authorization: Bearer <token>``, one credential
per process, each allowing only what that process does:

- the actions token (``settings.actions_token``, role ``actions``): the Rasa
  action server, acting for residents whose ``reporter_ref`` starts with
  ``web:``, ``tg:`` or ``voice:``, and resolving places;
- the Telegram token (``settings.telegram_token``, role ``telegram``): the
  Telegram adapter, acting for ``tg:`` residents and linking chats; with
  ``X-Telegram-Chat: <chat id>`` it acts as the handler or dispatcher linked
  to that chat, exactly as if they had sent their own token. A chat linked to
  nobody, or to a supervisor or admin account, gets 403: those powers are
  never exercised through the bot;
- a staff user's token (roles handler, dispatcher, supervisor, admin); staff
  tokens ignore ``X-Telegram-Chat``.

No token or an unknown one: 401; a role that may not call the endpoint, the
actions token with ``X-Telegram-Chat``, or a channel acting for a resident of
another channel: 403. The notifier and the sweeper hold no API credential.
Open311 has its own keys (``routers.open311``).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..service import Forbidden, UnitOfWork, linked_account, staff_by_token
from ..service.telegram_links import NOT_LINKED_ZH
from .errors import Unauthenticated
from .state import ApiState

ACTIONS, TELEGRAM = "actions", "telegram"
#: The channel accounts: processes acting for residents.
AGENT_ROLES = (ACTIONS, TELEGRAM)
HANDLER, DISPATCHER, SUPERVISOR, ADMIN = "handler", "dispatcher", "supervisor", "admin"
STAFF_ROLES = (HANDLER, DISPATCHER, SUPERVISOR, ADMIN)
ALL_ROLES = (*AGENT_ROLES, *STAFF_ROLES)
#: The ``reporter_ref`` prefixes each channel account may act for.
AGENT_PREFIXES = {ACTIONS: ("web", "tg", "voice"), TELEGRAM: ("tg",)}
#: What a chat's linked account may be when the bot acts for it; others get 403.
BOT_STAFF_ROLES = frozenset({HANDLER, DISPATCHER})


@dataclass(frozen=True)
class Principal:
    """Who is calling: a channel account (``actions``, ``telegram``) or a staff user."""

    role: str
    username: str | None = None
    handler_id: int | None = None
    areas: tuple[str, ...] = ()
    #: the Telegram chat the Telegram token acts for (``X-Telegram-Chat``), if any
    telegram_chat: str | None = None

    @property
    def is_agent(self) -> bool:
        """A channel account acting for residents (it names them by ``reporter_ref``)."""
        return self.role in AGENT_ROLES

    def may_act_for(self, reporter_ref: str) -> bool:
        """Whether this channel account speaks for the resident ``reporter_ref``."""
        prefix, sep, rest = reporter_ref.partition(":")
        return bool(sep and rest) and prefix in AGENT_PREFIXES.get(self.role, ())

    @property
    def actor(self) -> str:
        """How logs name this caller (``staff:alice``, ``actions``, ``telegram``)."""
        return self.role if self.is_agent else f"staff:{self.username}"


async def get_state(request: Request) -> ApiState:
    return request.app.state.api


StateDep = Annotated[ApiState, Depends(get_state)]


async def get_uow(state: StateDep) -> UnitOfWork:
    """A fresh unit of work for this request (it opens its session only when entered)."""
    return state.app.uow()


UowDep = Annotated[UnitOfWork, Depends(get_uow)]


async def get_now() -> datetime:
    """The current time (UTC). Tests override this dependency to move the clock."""
    return datetime.now(UTC)


NowDep = Annotated[datetime, Depends(get_now)]

bearer = HTTPBearer(
    auto_error=False,
    description="A channel token (action server, Telegram adapter) or a staff user's token.",
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


def _matches(token: str, expected: str | None) -> bool:
    return bool(expected) and hmac.compare_digest(token.encode(), str(expected).encode())


def channel_role(state: ApiState, token: str) -> str | None:
    """``actions`` or ``telegram`` if ``token`` is that channel's token, else None."""
    settings = state.settings
    if _matches(token, settings.actions_token):
        return ACTIONS
    if _matches(token, settings.telegram_token):
        return TELEGRAM
    return None


async def authenticate(
    state: ApiState, token: str | None, telegram_chat: str | None = None
) -> Principal:
    """The principal of ``token``; ``Unauthenticated`` if there is none or it is unknown.

    With the Telegram token and ``telegram_chat``: the handler or dispatcher
    linked to that chat (``Forbidden`` if nobody is, or someone of another
    role); the actions token with ``telegram_chat`` is ``Forbidden``; staff
    tokens ignore ``telegram_chat``.
    """
    if not token:
        raise Unauthenticated.missing()
    chat = (telegram_chat or "").strip()
    role = channel_role(state, token)
    if role == ACTIONS:
        if chat:
            raise Forbidden("the actions token may not act for a Telegram chat",
                            "该账号不能代表 Telegram 用户操作。")
        return Principal(role=ACTIONS)
    if role == TELEGRAM:
        if not chat:
            return Principal(role=TELEGRAM)
        principal = await run_in_threadpool(_chat_principal, state, chat)
        if principal is None:
            raise Forbidden("the Telegram chat is not linked to anybody", NOT_LINKED_ZH)
        if principal.role not in BOT_STAFF_ROLES:
            raise Forbidden(
                f"a chat linked to an account of role {principal.role!r} may not call this "
                "endpoint through the bot", "通过 Telegram 只能办理处理人员或调度员的业务，请使用工作平台。",
            )
        return principal
    principal = await run_in_threadpool(_staff_principal, state, token)
    if principal is None:
        raise Unauthenticated.unknown()
    return principal


TelegramChatHeader = Annotated[str | None, Header(
    alias="X-Telegram-Chat", max_length=64,
    description="With the Telegram token: act as the handler or dispatcher linked to this chat",
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
    """The Telegram adapter itself, whatever ``X-Telegram-Chat`` says (403 for anyone else)."""
    principal = await authenticate(state, credentials.credentials if credentials else None)
    if principal.role != TELEGRAM:
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
STAFF = require(*STAFF_ROLES)
REPORTERS = require(*AGENT_ROLES, HANDLER, DISPATCHER, ADMIN)
READERS = require(*AGENT_ROLES, *STAFF_ROLES)
RESIDENT_AGENT = require(*AGENT_ROLES)
#: Place resolution: the action server and staff.
PLACE_RESOLVERS = require(ACTIONS, *STAFF_ROLES)
ASSIGNEE_OR_DISPATCH = require(HANDLER, DISPATCHER, ADMIN)
DISPATCH = require(DISPATCHER, ADMIN)
OVERSIGHT = require(DISPATCHER, SUPERVISOR, ADMIN)
AUDITORS = require(SUPERVISOR, ADMIN)
SCRAPERS = require(SUPERVISOR, ADMIN)
#: The Telegram adapter linking chats (its token; ``X-Telegram-Chat`` ignored).
BOT = get_bot
