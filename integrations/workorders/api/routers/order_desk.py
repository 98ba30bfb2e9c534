"""``/api/v1/orders/{number}/...``: the dispatchers' desk actions (dispatchers for orders in
their areas, admins).

- ``priority``: normal <-> urgent, the time limits follow (``service.set_priority``);
- ``notes``: an internal note, or a note sent to the reporter (``add_staff_note``);
- ``withdraw``: cancel with a reason, the reporter and the assignee told
  (``cancel_by_staff``; the reporter's own cancel is ``cancel``).

Each is an event of the order's audit chain naming the caller (``staff:<username>``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from ...service import add_staff_note, cancel_by_staff, set_priority
from ..access import staff_order
from ..deps import DISPATCH, NowDep, Principal, UowDep
from ..present import staff_order_public
from ..schemas.common import AUTH_ERRORS, ErrorBody
from ..schemas.desk import PriorityRequest, StaffNoteRequest, WithdrawRequest
from ..schemas.orders import OrderPublic
from . import API_V1

router = APIRouter(
    prefix=f"{API_V1}/orders",
    tags=["order actions"],
    responses={**AUTH_ERRORS,
               404: {"model": ErrorBody, "description": "No such order (for this caller)"},
               409: {"model": ErrorBody, "description": "Not allowed in the order's status"},
               422: {"model": ErrorBody}},
)

Dispatcher = Annotated[Principal, Depends(DISPATCH)]


@router.post(
    "/{number}/priority", response_model=OrderPublic,
    summary="Make the order urgent or normal (time limits follow; the assignee is told)",
    description="409 if it has that priority already, or is resolved, closed, archived or "
    "cancelled.",
)
def order_priority(
    number: str, body: PriorityRequest, uow: UowDep, now: NowDep, principal: Dispatcher
) -> OrderPublic:
    order = staff_order(uow, principal, number)
    view = set_priority(uow, order.number, body.priority, principal.actor, now,
                        reason=body.reason)
    return staff_order_public(uow, view, principal)


@router.post(
    "/{number}/notes", response_model=OrderPublic,
    summary="An internal note, or a note sent to the reporter (to_resident)",
)
def order_note(
    number: str, body: StaffNoteRequest, uow: UowDep, now: NowDep, principal: Dispatcher
) -> OrderPublic:
    order = staff_order(uow, principal, number)
    view = add_staff_note(uow, order.number, principal.actor, body.note, now,
                          to_resident=body.to_resident)
    return staff_order_public(uow, view, principal)


@router.post(
    "/{number}/withdraw", response_model=OrderPublic,
    summary="Cancel the order with a reason (the reporter and the assignee are told)",
    description="Until it is resolved; 409 afterwards.",
)
def withdraw_order(
    number: str, body: WithdrawRequest, uow: UowDep, now: NowDep, principal: Dispatcher
) -> OrderPublic:
    order = staff_order(uow, principal, number)
    view = cancel_by_staff(uow, order.number, principal.actor, body.reason, now)
    return staff_order_public(uow, view, principal)
