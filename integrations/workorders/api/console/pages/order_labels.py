"""What the order pages share: their URLs, names of areas and handlers, who did something."""

from __future__ import annotations

from ....service import HandlerView, UnitOfWork, list_areas, list_handlers
from ..web import PREFIX

ORDERS_PATH = f"{PREFIX}/orders"
#: Who, in an event's ``actor``, is not a staff member or a handler.
ACTOR_NAMES = {"resident": "反映人", "co-reporter": "其他居民", "system": "系统"}


def order_url(number: str) -> str:
    return f"{ORDERS_PATH}/{number}"


def area_names(uow: UnitOfWork) -> dict[str, str]:
    return {a.code: a.name for a in list_areas(uow)}


def handlers_by_id(uow: UnitOfWork) -> dict[int, HandlerView]:
    return {h.id: h for h in list_handlers(uow)}


def actor_label(actor: str, handlers: dict[int, HandlerView]) -> str:
    """``staff:alice`` -> ``alice（工作人员）``, ``handler:3`` -> the handler's name."""
    if actor in ACTOR_NAMES:
        return ACTOR_NAMES[actor]
    kind, _, rest = actor.partition(":")
    if kind == "staff" and rest:
        return f"{rest}（工作人员）"
    if kind == "handler" and rest.isdigit():
        handler = handlers.get(int(rest))
        return f"{handler.name}（处理人员）" if handler else f"处理人员 {rest}"
    return actor
