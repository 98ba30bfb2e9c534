"""``/console/orders/{number}``: one order for dispatchers (their areas) and admins, and its photos.

The page shows the report, the place, the photos, the deadlines, the assignee,
the co-reports and the timeline from the audit trail, and the actions the
order's status allows (``order_actions`` handles the forms). An order outside
the user's reach is a 404 page, like a number that does not exist
(``api.access.staff_order``).

``/console/orders/{number}/photos/{id}`` streams a photo's bytes to any signed-in
staff member who may see the order (``staff_order``, the rule of the API's
``GET /api/v1/attachments/{id}``), so the handler's pages can show them too.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ....domain.lifecycle import Action, Status, allowed_actions
from ....service import (
    Forbidden,
    HandlerView,
    NotFound,
    OrderView,
    UnitOfWork,
    get_attachment_file,
    history,
    list_attachments,
    list_handlers,
    order_is_overdue,
)
from ....service.audit_trail import REPORT
from ....service.desk_actions import FINISHED
from ...access import require_handler_in_scope, staff_order
from ..labels import PRIORITY_NAMES
from ..web import ConsoleUser, CurrentUser, Dispatcher, NowDep, UowDep, render
from .order_labels import ORDERS_PATH, actor_label, area_names, handlers_by_id, note_text

router = APIRouter()
audit_log = logging.getLogger("integrations.workorders.api.audit")


def allowed(order: OrderView) -> dict[str, bool]:
    """Which of the page's actions the order's status allows (``domain.lifecycle``)."""
    actions = allowed_actions(order.status)
    return {
        # reassign: an assigned order is taken back first; else it must be dispatchable
        "assign": order.status == Status.ASSIGNED.value or Action.DISPATCH in actions,
        "reclassify": Action.RECLASSIFY in actions,
        "priority": order.status not in FINISHED,
        "withdraw": Action.WITHDRAW in actions,
        "reopen": order.status == Status.RESOLVED.value and Action.UNSATISFIED in actions,
        "note": True,
    }


def candidates(uow: UnitOfWork, user: ConsoleUser, order: OrderView) -> list[HandlerView]:
    """Handlers this user may give the order to: the kind's role, within the user's areas
    (``require_handler_in_scope``), the current assignee left out."""
    role = uow.config.taxonomy.handler_role(order.kind)
    found = []
    for handler in list_handlers(uow, role=role):
        if handler.id == order.assignee_id:
            continue
        try:
            require_handler_in_scope(uow, user.principal, handler.id)
        except Forbidden:
            continue
        found.append(handler)
    found.sort(key=lambda h: (not h.on_duty, h.load >= h.capacity, h.load / max(h.capacity, 1)))
    return found


def order_context(
    uow: UnitOfWork, user: ConsoleUser, order: OrderView, now: Any, *,
    contact: str | None = None, revealed: bool = False,
) -> dict[str, Any]:
    """Everything the order page shows (``revealed``: the contact was just revealed)."""
    taxonomy = uow.config.taxonomy
    events = history(uow, order.number)
    handlers = handlers_by_id(uow)
    can = allowed(order)
    by_kind: dict[str, list[tuple[str, str]]] = {}
    for category in taxonomy.categories.values():
        by_kind.setdefault(category.kind, []).append((category.code, category.name))
    return {
        "order": order,
        "now": now,
        "events": [(e, actor_label(e.actor, handlers), note_text(e.note, handlers, taxonomy))
                   for e in reversed(events)],
        "co_reports": [(e, actor_label(e.actor, handlers)) for e in events
                       if e.action == REPORT],
        "photos": list_attachments(uow, order.number),
        "assignee": handlers.get(order.assignee_id) if order.assignee_id else None,
        "area_names": area_names(uow),
        "kind_name": taxonomy.kind_name(order.kind),
        "overdue": order_is_overdue(order, now),
        "can": can,
        "candidates": candidates(uow, user, order) if can["assign"] else [],
        "category_groups": [(taxonomy.kind_name(kind), cats) for kind, cats in by_kind.items()],
        "priorities": PRIORITY_NAMES,
        "contact": contact,
        "revealed": revealed,
    }


@router.get(f"{ORDERS_PATH}/{{number}}", include_in_schema=False)
def order_page(request: Request, number: str, user: Dispatcher, uow: UowDep,
               now: NowDep) -> Response:
    order = staff_order(uow, user.principal, number)
    return render(request, "orders/detail.html", user, **order_context(uow, user, order, now))


@router.get(f"{ORDERS_PATH}/{{number}}/photos/{{attachment_id}}", include_in_schema=False)
def order_photo(number: str, attachment_id: str, user: CurrentUser, uow: UowDep) -> Response:
    order = staff_order(uow, user.principal, number)  # may this user see the order at all
    photo = get_attachment_file(uow, attachment_id)
    if photo.order_number != order.number:
        raise NotFound("attachment", attachment_id)
    audit_log.info("attachment viewed: id=%s order=%s actor=%s (console)",
                   photo.id, order.number, user.actor)
    return Response(
        content=photo.data, media_type=photo.content_type,
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )
