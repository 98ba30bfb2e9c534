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

from collections.abc import Iterable

from ..service import (
    Forbidden,
    InvalidInput,
    NotFound,
    OrderView,
    UnitOfWork,
    get_order,
    get_order_for_reporter,
    list_areas,
)
from .deps import DISPATCHER, HANDLER, Principal

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
