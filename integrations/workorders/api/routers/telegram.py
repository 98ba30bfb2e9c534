"""``/api/v1/telegram``: linking Telegram chats to handlers and staff (绑定).

- ``POST /link-codes``: a one-time code (8 digits, 24 h) for a person, shown
  once: admins for anyone; dispatchers for handlers whose areas lie within
  theirs; any staff member for themself (empty body). Their older unused
  codes stop working.
- ``POST /links`` (the bot, Telegram token): a chat sent a code; the chat now
  belongs to that person (and to nobody else). A wrong, used or expired code
  is 404; after 5 of them within 15 minutes the chat gets 429 for a while.
- ``DELETE /links/{chat_id}`` (the bot): nobody is linked to the chat any more.

After linking, the bot acts for the person with the Telegram token and
``X-Telegram-Chat`` (see ``deps``; handlers and dispatchers only). The bot's
calls here ignore that header.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from ...service import Forbidden, issue_link_code, redeem_link_code, unlink_chat
from ..deps import ADMIN, BOT, DISPATCHER, HANDLER, STAFF, NowDep, Principal, UowDep
from ..schemas.common import AUTH_ERRORS, ErrorBody
from ..schemas.telegram import LinkCodeCreate, LinkCodePublic, LinkCreate, LinkPublic
from . import API_V1

router = APIRouter(
    prefix=f"{API_V1}/telegram", tags=["telegram"],
    responses={**AUTH_ERRORS, 422: {"model": ErrorBody}},
)
audit_log = logging.getLogger("integrations.workorders.api.audit")

Staff = Annotated[Principal, Depends(STAFF)]
Bot = Annotated[Principal, Depends(BOT)]


@router.post(
    "/link-codes", status_code=201, response_model=LinkCodePublic,
    responses={404: {"model": ErrorBody, "description": "No such handler or account"}},
    summary="A one-time code that links a Telegram chat to a person (shown once)",
)
def post_link_code(
    uow: UowDep, now: NowDep, principal: Staff, body: LinkCodeCreate | None = None
) -> LinkCodePublic:
    body = body or LinkCodeCreate()
    handler_id, username, scope = _target(principal, body)
    view = issue_link_code(uow, now, handler_id=handler_id, username=username,
                           created_by=principal.actor, scope=scope)
    audit_log.info("telegram link code issued: actor=%s for=%s", principal.actor,
                   f"handler:{view.handler_id}" if view.kind == "handler"
                   else f"staff:{view.username}")
    return LinkCodePublic.from_view(view)


def _target(
    principal: Principal, body: LinkCodeCreate
) -> tuple[int | None, str | None, tuple[str, ...] | None]:
    """``(handler_id, username, scope)`` the caller may ask for (``Forbidden`` otherwise)."""
    own_handler = principal.role == HANDLER and principal.handler_id is not None
    if body.handler_id is None and body.username is None:  # for themself
        if principal.role == HANDLER:
            if not own_handler:
                raise Forbidden("this account is not linked to a handler", "该账号未关联处理人员。")
            return principal.handler_id, None, None
        return None, principal.username, None
    if principal.role == ADMIN or (body.handler_id is not None and body.username is not None):
        return body.handler_id, body.username, None  # (both: the service says which to give)
    if body.username is not None and body.username == principal.username:
        return None, body.username, None
    if own_handler and body.handler_id == principal.handler_id:
        return body.handler_id, None, None
    if principal.role == DISPATCHER:
        return body.handler_id, body.username, principal.areas
    raise Forbidden("only admins and dispatchers issue codes for others",
                    "您只能为自己生成绑定码。")


@router.post(
    "/links", response_model=LinkPublic,
    responses={404: {"model": ErrorBody, "description": "Unknown, used or expired code"},
               429: {"model": ErrorBody, "description": "Too many wrong codes from this chat"}},
    summary="The bot: link a chat with the code it was sent",
)
def post_link(body: LinkCreate, uow: UowDep, now: NowDep, principal: Bot) -> LinkPublic:
    view = redeem_link_code(uow, body.code, body.chat(), now)
    audit_log.info("telegram chat linked: kind=%s role=%s %s", view.kind, view.role,
                   f"handler:{view.handler_id}" if view.kind == "handler"
                   else f"staff:{view.username}")
    return LinkPublic.from_view(view)


@router.delete(
    "/links/{chat_id}", status_code=204, response_class=Response,
    summary="The bot: unlink a chat (nothing to unlink is fine)",
)
def delete_link(chat_id: str, uow: UowDep, principal: Bot) -> Response:
    if unlink_chat(uow, chat_id):
        audit_log.info("telegram chat unlinked")
    return Response(status_code=204)
