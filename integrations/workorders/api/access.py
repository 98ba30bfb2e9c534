"""Which orders a caller may see and act on (DESIGN.md, "Privacy and roles").

- handler: the orders currently assigned to them;
- dispatcher: orders whose grid lies in one of their areas (any tier);
- supervisor, admin: every order;
- a channel account (actions, telegram): an order only together with the
  ``reporter_ref`` that reported it, and only a ``reporter_ref`` of its own
  channels (``Principal.may_act_for``; 403 otherwise).

An order outside the caller's reach is ``NotFound``, exactly like a number
that does not exist, so nobody can probe for other people's orders.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from ..service import (
    Forbidden,
    HandlerView,
    InvalidInput,
    NotFound,
    OrderView,
    UnitOfWork,
    get_handler,
    get_order,
    get_order_for_reporter,
    list_areas,
)
from .deps import DISPATCHER, HANDLER, Principal

log = logging.getLogger("integrations.workorders.api.audit")

#: Kinds whose orders are their reporter's alone: never offered as the duplicate of
#: someone else's report, never added to by anyone else. A dispute's reporter must
#: stay unknown to the other party; a request (其他诉求) is one resident's own
#: question, suggestion or complaint, and its answer goes to them alone.
PERSONAL_KINDS = frozenset({"dispute", "request"})


def areas_below(uow: UnitOfWork, roots: Iterable[str]) -> set[str]:
    """``roots`` and every area under them (one query for the whole hierarchy)."""
    children: dict[str, list[str]] = {}
    for area in list_areas(uow):
        if area.parent_code is not None:
            children.setdefault(area.parent_code, []).append(area.code)
    found = set(roots)
    frontier = list(found)
    while frontier:
        for child in children.get(frontier.pop(), ()):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found


def dispatcher_scope(principal: Principal) -> tuple[str, ...] | None:
    """The areas a dispatcher's reads and changes stay within (None: not limited, e.g. an
    admin). Pass it as ``scope`` to the use cases that take one."""
    return principal.areas if principal.role == DISPATCHER else None


def require_areas_in_scope(uow: UnitOfWork, principal: Principal, areas: Sequence[str]) -> None:
    """A dispatcher may place handlers only in their own areas (sub-areas included): 403
    otherwise, and for no areas at all. Anyone else passes. (The handler use cases check
    the same under their lock when given ``scope=dispatcher_scope(principal)``.)"""
    scope = dispatcher_scope(principal)
    if scope is None:
        return
    if isinstance(areas, str) or not areas or not set(areas) <= areas_below(uow, scope):
        raise Forbidden("the areas lie outside your areas", "只能把处理人员安排在您管辖的区域内。")


def require_handler_in_scope(
    uow: UnitOfWork, principal: Principal, handler_id: int, *,
    reason_zh: str = "该处理人员不在您的管辖范围内。",
) -> HandlerView:
    """The handler (``NotFound`` if none); a dispatcher may use only handlers whose areas
    all lie within theirs (403 with ``reason_zh`` otherwise, and for a handler without areas)."""
    handler = get_handler(uow, handler_id)
    scope = dispatcher_scope(principal)
    if scope is not None and (
        not handler.areas or not set(handler.areas) <= areas_below(uow, scope)
    ):
        raise Forbidden(f"handler {handler_id} works outside your areas", reason_zh)
    return handler


def acting_handler(
    uow: UnitOfWork, principal: Principal, number: str, requested: int | None
) -> int:
    """The handler on whose behalf an assignee's action (accept, decline, progress, resolve)
    is taken.

    A handler acts only for themself (403 for another ``requested``, or an account
    linked to no handler) and only on their own order (404 otherwise, like a number that
    does not exist); a dispatcher (orders in their areas) or an admin names the handler
    in ``requested`` (422 without), and a log line names who acted.
    """
    if principal.role == HANDLER:
        if principal.handler_id is None:
            raise Forbidden("this account is not linked to a handler", "该账号未关联处理人员。")
        if requested is not None and requested != principal.handler_id:
            raise Forbidden("handlers act only for themselves", "您只能以本人身份处理工单。")
        staff_order(uow, principal, number)  # not theirs: 404, like a number that does not exist
        return principal.handler_id
    if requested is None:
        raise InvalidInput("handler_id", "required when acting for a handler",
                           "代处理人员操作时请指定处理人员。")
    staff_order(uow, principal, number)
    log.info("%s acts for handler:%s on order %s", principal.actor, requested, number)
    return requested


def can_see(uow: UnitOfWork, principal: Principal, order: OrderView) -> bool:
    if principal.role == HANDLER:
        return principal.handler_id is not None and order.assignee_id == principal.handler_id
    if principal.role == DISPATCHER:
        return order.area_code in areas_below(uow, principal.areas)
    return not principal.is_agent


def staff_order(uow: UnitOfWork, principal: Principal, number: str) -> OrderView:
    """The order if this staff member may see it, else ``NotFound``."""
    order = get_order(uow, number)
    if not can_see(uow, principal, order):
        raise NotFound("order", number)
    return order


def require_reporter_ref(principal: Principal, reporter_ref: str | None) -> str:
    """The resident a channel account acts for: given (422) and of its channels (403)."""
    ref = (reporter_ref or "").strip()
    if not ref:
        raise InvalidInput(
            "reporter_ref", "the channel account must say which resident it acts for",
            "请提供反映人标识（reporter_ref）。",
        )
    prefix, _, rest = ref.partition(":")
    if not prefix or not rest:
        raise InvalidInput("reporter_ref", "must look like '<channel>:<id>'",
                           "反映人渠道标识有误。")
    if not principal.may_act_for(ref):
        raise Forbidden(
            f"the {principal.role} account may not act for {ref.partition(':')[0]!r} residents",
            "该账号无权代表此渠道的居民操作。",
        )
    return ref


#: Resident ids that belong to a channel: only that channel's account may name them, so
#: no staff member can make the service write to someone's chat or phone.
CHANNEL_OWNED_PREFIXES = ("tg:", "voice:")


def staff_ref(reporter_ref: str | None) -> str | None:
    """A resident id a staff member files under (``web:…`` and the like), never a channel's."""
    if reporter_ref is not None and reporter_ref.strip().startswith(CHANNEL_OWNED_PREFIXES):
        raise Forbidden(
            "staff may not file under a Telegram chat's or a phone caller's id",
            "工作人员代为登记时不能使用居民的聊天或来电身份。",
        )
    return reporter_ref


def agent_ref(principal: Principal, reporter_ref: str | None) -> str | None:
    """``reporter_ref`` checked for a channel account, or for staff (``staff_ref``)."""
    return (require_reporter_ref(principal, reporter_ref) if principal.is_agent
            else staff_ref(reporter_ref))


def reporter_order(
    uow: UnitOfWork, principal: Principal, number: str, reporter_ref: str | None
) -> OrderView:
    """The order if ``reporter_ref`` reported it, else ``NotFound``."""
    ref = require_reporter_ref(principal, reporter_ref)
    order = get_order_for_reporter(uow, number, ref)
    if order is None:
        raise NotFound("order", number)
    return order


def visible_order(
    uow: UnitOfWork, principal: Principal, number: str, reporter_ref: str | None
) -> OrderView:
    """The order as ``principal`` may reach it (``reporter_ref`` is for channel accounts)."""
    if principal.is_agent:
        return reporter_order(uow, principal, number, reporter_ref)
    return staff_order(uow, principal, number)
