"""``/api/v1/orders/{number}/...``: what assignees, dispatchers and residents do to an order.

- accept, decline, progress, resolve: the assignee (a handler acting on their
  own order); a dispatcher (orders in their areas) or an admin may act for a
  handler by naming ``handler_id``; the event still names the handler, and a
  log line names who acted;
- reopen, reassign: dispatchers (their areas) and admins;
- reclassify (重新分类): dispatchers (their areas), admins, and the order's assignee
  (a handler on their own order, recorded as ``handler:<id>``);
- cancel, satisfaction, attach, location: a channel account, for the
  resident given by ``reporter_ref`` (one of its own channels); with an
  ``Idempotency-Key`` a retry is applied once (``idempotency``). Anyone may add to an
  incident being handled (a co-reporter); a dispute or a request only takes additions from its own reporter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends

from ...service import (
    Forbidden,
    NotFound,
    OrderView,
    UnitOfWork,
    accept,
    answer_satisfaction,
    attach_report_to,
    cancel,
    decline,
    get_order,
    get_order_for_reporter,
    progress,
    reassign,
    reclassify,
    reopen,
    resolve,
    set_order_location,
)
from ..access import (
    PERSONAL_KINDS,
    acting_handler,
    reporter_order,
    require_handler_in_scope,
    require_reporter_ref,
    staff_order,
)
from ..deps import (
    ASSIGNEE_OR_DISPATCH,
    DISPATCH,
    HANDLER,
    RESIDENT_AGENT,
    NowDep,
    Principal,
    UowDep,
)
from ..idempotency import IdempotencyKey, once
from ..present import resident_order, staff_order_public
from ..schemas.actions import (
    AttachRequest,
    DeclineRequest,
    HandlerAction,
    LocationUpdate,
    NoteRequest,
    ReassignRequest,
    ReclassifyRequest,
    ReopenRequest,
    ResidentRequest,
    SatisfactionRequest,
)
from ..schemas.common import AUTH_ERRORS, ErrorBody
from ..schemas.orders import OrderPublic, OrderSummaryPublic, ResidentOrderPublic
from . import API_V1

router = APIRouter(
    prefix=f"{API_V1}/orders",
    tags=["order actions"],
    responses={**AUTH_ERRORS,
               404: {"model": ErrorBody, "description": "No such order (for this caller)"},
               409: {"model": ErrorBody, "description": "Not allowed in the order's status"}},
)
log = logging.getLogger("integrations.workorders.api.audit")

Assignee = Annotated[Principal, Depends(ASSIGNEE_OR_DISPATCH)]
Dispatcher = Annotated[Principal, Depends(DISPATCH)]
Resident = Annotated[Principal, Depends(RESIDENT_AGENT)]


@router.post("/{number}/accept", response_model=OrderPublic, summary="签收 (accept)")
def accept_order(
    number: str, uow: UowDep, now: NowDep, principal: Assignee, body: HandlerAction | None = None
) -> OrderPublic:
    handler_id = acting_handler(uow, principal, number, body.handler_id if body else None)
    return staff_order_public(uow, accept(uow, number, handler_id, now), principal)


@router.post("/{number}/decline", response_model=OrderPublic,
             summary="Give the order back (re-dispatched at once)")
def decline_order(
    number: str, uow: UowDep, now: NowDep, principal: Assignee, body: DeclineRequest | None = None
) -> OrderPublic:
    body = body or DeclineRequest()
    handler_id = acting_handler(uow, principal, number, body.handler_id)
    return staff_order_public(uow, decline(uow, number, handler_id, body.reason, now), principal)


@router.post("/{number}/progress", response_model=OrderPublic, summary="处置 (progress note)")
def progress_order(
    number: str, uow: UowDep, now: NowDep, principal: Assignee, body: NoteRequest | None = None
) -> OrderPublic:
    body = body or NoteRequest()
    handler_id = acting_handler(uow, principal, number, body.handler_id)
    return staff_order_public(uow, progress(uow, number, handler_id, body.note, now), principal)


@router.post("/{number}/resolve", response_model=OrderPublic, summary="办结 (resolve)")
def resolve_order(
    number: str, uow: UowDep, now: NowDep, principal: Assignee, body: NoteRequest | None = None
) -> OrderPublic:
    body = body or NoteRequest()
    handler_id = acting_handler(uow, principal, number, body.handler_id)
    return staff_order_public(uow, resolve(uow, number, handler_id, body.note, now), principal)


@router.post("/{number}/reopen", response_model=OrderPublic,
             summary="Reopen a resolved order and dispatch it again")
def reopen_order(
    number: str, uow: UowDep, now: NowDep, principal: Dispatcher, body: ReopenRequest | None = None
) -> OrderPublic:
    body = body or ReopenRequest()
    order = staff_order(uow, principal, number)
    return staff_order_public(uow, reopen(uow, order.number, principal.actor, body.reason, now), principal)


@router.post("/{number}/reassign", response_model=OrderPublic,
             summary="Move an assigned or pending order to a handler, or back to the policy")
def reassign_order(
    number: str, uow: UowDep, now: NowDep, principal: Dispatcher,
    body: ReassignRequest | None = None,
) -> OrderPublic:
    body = body or ReassignRequest()
    order = staff_order(uow, principal, number)
    if body.handler_id is not None:
        require_handler_in_scope(uow, principal, body.handler_id,
                                 reason_zh="只能把工单改派给您管辖区域内的处理人员。")
    view = reassign(uow, order.number, body.handler_id, principal.actor, now, reason=body.reason)
    return staff_order_public(uow, view, principal)


@router.post(
    "/{number}/reclassify", response_model=OrderPublic,
    responses={422: {"model": ErrorBody, "description": "Unknown category (or a bad body)"}},
    summary="重新分类: make the order another kind and category and dispatch it again",
    description="The order keeps its number; it gets the category's kind and time limits "
    "(from now), is taken from its assignee and dispatched by workload to a handler of the "
    "new kind's role at the first tier (or waits as pending). The resident is told. "
    "Dispatchers (their areas), admins, and the order's assignee. 409 once the order is "
    "resolved, closed, archived or cancelled, or if it already has the category.",
)
def reclassify_order(
    number: str, body: ReclassifyRequest, uow: UowDep, now: NowDep, principal: Assignee
) -> OrderPublic:
    if principal.role == HANDLER and principal.handler_id is None:
        raise Forbidden("this account is not linked to a handler", "该账号未关联处理人员。")
    order = staff_order(uow, principal, number)  # a handler reaches only their own orders
    if principal.role == HANDLER:
        done = reclassify(uow, order.number, body.category, f"handler:{principal.handler_id}",
                          now, note=body.note, assignee_id=principal.handler_id)
    else:
        done = reclassify(uow, order.number, body.category, principal.actor, now, note=body.note)
    log.info("%s reclassified order %s from %s to %s", principal.actor, order.number,
             done.from_category, done.order.category)
    return staff_order_public(uow, done.order, principal)


def _own(uow: UnitOfWork, principal: Principal, ref: str) -> Callable[[str], ResidentOrderPublic]:
    """The answer to a replayed request: the resident's order as it is now."""
    return lambda number: resident_order(uow, reporter_order(uow, principal, number, ref))


@router.post("/{number}/cancel", response_model=ResidentOrderPublic,
             summary="The reporter withdraws the report")
def cancel_order(
    number: str, body: ResidentRequest, uow: UowDep, now: NowDep, principal: Resident,
    idempotency_key: IdempotencyKey = None,
) -> ResidentOrderPublic:
    ref = require_reporter_ref(principal, body.reporter_ref)
    return once(uow, now, principal, idempotency_key, action="cancel", number=number, body=body,
                apply=lambda: resident_order(uow, cancel(uow, number, ref, now)),
                replay=_own(uow, principal, ref))


@router.post("/{number}/satisfaction", response_model=ResidentOrderPublic,
             summary="回访: the reporter's answer on a resolved order")
def answer_order(
    number: str, body: SatisfactionRequest, uow: UowDep, now: NowDep, principal: Resident,
    idempotency_key: IdempotencyKey = None,
) -> ResidentOrderPublic:
    ref = require_reporter_ref(principal, body.reporter_ref)

    def apply() -> ResidentOrderPublic:
        view = answer_satisfaction(uow, number, ref, body.answer, body.reason, now)
        return resident_order(uow, view)

    return once(uow, now, principal, idempotency_key, action="satisfaction", number=number,
                body=body, apply=apply, replay=_own(uow, principal, ref))


def _attachable(uow: UnitOfWork, number: str, reporter_ref: str) -> OrderView:
    own = get_order_for_reporter(uow, number, reporter_ref)
    if own is not None:
        return own
    order = get_order(uow, number)
    if order.kind in PERSONAL_KINDS:  # only its reporter may add to a dispute or request
        raise NotFound("order", number)
    return order


@router.post("/{number}/attach", response_model=OrderSummaryPublic,
             summary="Add a further report of the same matter to an order being handled")
def attach_to_order(
    number: str, body: AttachRequest, uow: UowDep, now: NowDep, principal: Resident,
    idempotency_key: IdempotencyKey = None,
) -> OrderSummaryPublic:
    ref = require_reporter_ref(principal, body.reporter_ref)

    def apply() -> OrderSummaryPublic:
        order = _attachable(uow, number, ref)
        view = attach_report_to(uow, order.number, ref, body.description, now)
        return OrderSummaryPublic.from_view(view)

    def replay(canonical: str) -> OrderSummaryPublic:
        return OrderSummaryPublic.from_view(_attachable(uow, canonical, ref))

    return once(uow, now, principal, idempotency_key, action="attach", number=number,
                body=body, apply=apply, replay=replay)


@router.post("/{number}/location", response_model=ResidentOrderPublic,
             summary="The reporter adds where it is (coordinates) to their open order")
def locate_order(
    number: str, body: LocationUpdate, uow: UowDep, now: NowDep, principal: Resident,
    idempotency_key: IdempotencyKey = None,
) -> ResidentOrderPublic:
    ref = require_reporter_ref(principal, body.reporter_ref)

    def apply() -> ResidentOrderPublic:
        view = set_order_location(uow, number, ref, body.latitude, body.longitude, now)
        return resident_order(uow, view)

    return once(uow, now, principal, idempotency_key, action="location", number=number,
                body=body, apply=apply, replay=_own(uow, principal, ref))
