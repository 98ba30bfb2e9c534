"""``/api/v1/orders``: open, read, list and follow work orders.

Transitions live in ``order_actions`` (the same resource, split to keep modules small).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Response

from ...adapters.orm import KINDS
from ...domain.lifecycle import Status
from ...service import (
    Forbidden,
    InvalidInput,
    OrderFilters,
    attachment_counts,
    find_open_duplicate,
    history,
    latest_open_order_for_reporter,
    list_orders,
    open_order,
    reveal_contact,
)
from ...service import OrderCreate as ServiceOrderCreate
from ...service.views import SATISFACTION_FILTERS
from ..access import (
    PERSONAL_KINDS,
    areas_below,
    require_reporter_ref,
    staff_order,
    staff_ref,
    visible_order,
)
from ..deps import (
    DISPATCH,
    DISPATCHER,
    HANDLER,
    READERS,
    REPORTERS,
    RESIDENT_AGENT,
    STAFF,
    NowDep,
    Principal,
    StateDep,
    UowDep,
)
from ..present import order_for, resident_history, resident_order
from ..schemas.common import AUTH_ERRORS, ErrorBody, PagePublic
from ..schemas.orders import (
    ContactPublic,
    EventPublic,
    OrderCreate,
    OrderPublic,
    OrderSummaryPublic,
    Priority,
    ResidentEventPublic,
    ResidentOrderPublic,
)
from ..times import aware
from . import API_V1

router = APIRouter(prefix=f"{API_V1}/orders", tags=["orders"], responses=AUTH_ERRORS)
audit_log = logging.getLogger("integrations.workorders.api.audit")

if TYPE_CHECKING:
    StatusName = str
    KindName = str
    SatisfactionFilter = str
else:  # the values, for the query parameters' schema
    StatusName = Literal[tuple(s.value for s in Status)]
    KindName = Literal[KINDS]
    SatisfactionFilter = Literal[SATISFACTION_FILTERS]
NOT_FOUND: dict[int | str, dict] = {
    404: {"model": ErrorBody, "description": "No such order, or not one the caller may see"},
}


@router.post(
    "",
    status_code=201,
    response_model=OrderPublic | ResidentOrderPublic,
    responses={200: {"description": "A replay: the order made by the first call"},
               409: {"model": ErrorBody}, 422: {"model": ErrorBody}},
    summary="Open a work order (dispatched at once)",
)
def post_order(
    body: OrderCreate,
    response: Response,
    uow: UowDep,
    now: NowDep,
    state: StateDep,
    principal: Annotated[Principal, Depends(REPORTERS)],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)] = None,
) -> OrderPublic | ResidentOrderPublic:
    if idempotency_key and body.client_ref and idempotency_key != body.client_ref:
        raise InvalidInput("client_ref", "differs from the Idempotency-Key header",
                           "请求标识与 Idempotency-Key 不一致。")
    if principal.is_agent:
        reporter_ref = require_reporter_ref(principal, body.reporter_ref)
    else:  # a report taken at the desk or on patrol: the staff member stands in
        reporter_ref = staff_ref(body.reporter_ref) or f"web:staff-{principal.username}"
    channel = body.reporter_channel or reporter_ref.partition(":")[0]
    data = ServiceOrderCreate(
        category=body.category, description=body.description, location_text=body.location_text,
        area_code=body.area_code, reporter_channel=channel, reporter_ref=reporter_ref,
        priority=body.priority, kind=body.kind, reporter_contact=body.reporter_contact,
        anonymous=body.anonymous, client_ref=idempotency_key or body.client_ref,
        latitude=body.latitude, longitude=body.longitude,
        attachment_ids=tuple(body.attachment_ids), caller_token=body.caller_token,
    )
    opened = open_order(uow, data, now)
    view, created = opened.order, opened.created
    if created:
        state.telemetry.orders_created.labels(channel).inc()
        response.headers["Location"] = f"{router.prefix}/{view.number}"
    else:
        response.status_code = 200
    photos = 0 if created and not body.attachment_ids else None  # None: count them
    return order_for(uow, view, principal, new=created, attachments=photos)


@router.get("", response_model=PagePublic[OrderPublic], summary="List orders (staff)")
def search_orders(
    uow: UowDep,
    principal: Annotated[Principal, Depends(STAFF)],
    now: NowDep,
    status: Annotated[list[StatusName] | None, Query()] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    area: Annotated[str | None, Query(max_length=64, description="Area code, any tier")] = None,
    assignee: int | None = None,
    priority: Priority | None = None,
    created_from: Annotated[datetime | None, Query(description="Inclusive; naive = China time")] = None,
    created_to: Annotated[datetime | None, Query(description="Exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    kind: Annotated[KindName | None, Query(description="dispute, incident or request")] = None,
    overdue: Annotated[bool | None, Query(
        description="true: open and past a deadline (not resolved past resolve_by, or assigned "
                    "past accept_by); false: the others")] = None,
    satisfaction: Annotated[SatisfactionFilter | None, Query(
        description="The latest answer, or 'dissatisfied': answered 不满意 at least once")] = None,
    q: Annotated[str | None, Query(max_length=200, description=(
        "Search: an order number in any written or spoken form finds that order; other text "
        "finds orders whose place or description contains it"))] = None,
) -> PagePublic[OrderPublic]:
    area_codes: list[str] | None = [area] if area is not None else None
    if principal.role == HANDLER:
        if assignee is not None and assignee != principal.handler_id:
            raise Forbidden("handlers list only their own orders", "您只能查看自己的工单。")
        assignee = principal.handler_id
    elif principal.role == DISPATCHER:
        if area is None:
            area_codes = list(principal.areas)
        elif area not in areas_below(uow, principal.areas):
            raise Forbidden(f"area {area!r} is outside your areas", "该区域不在您的管辖范围内。")
    filters = OrderFilters(
        statuses=status, category=category, area_codes=area_codes, assignee_id=assignee,
        priority=priority, created_from=aware(created_from), created_to=aware(created_to),
        kind=kind, overdue=overdue, satisfaction=satisfaction, q=q,
    )
    page = list_orders(uow, filters, limit=limit, offset=offset, now=now)
    hide = principal.role == HANDLER
    photos = attachment_counts(uow, [v.number for v in page.items])
    return PagePublic[OrderPublic](
        items=[OrderPublic.from_view(v, hide_reporter=hide, attachments=photos[v.number])
               for v in page.items],
        total=page.total, limit=page.limit, offset=page.offset,
    )


@router.get("/latest", response_model=ResidentOrderPublic | None,
            summary="A resident's newest open order (null if none)")
def latest_order(
    uow: UowDep,
    principal: Annotated[Principal, Depends(RESIDENT_AGENT)],
    reporter_ref: Annotated[str, Query(min_length=3, max_length=128)],
    awaiting_satisfaction: Annotated[bool, Query(
        description="only a resolved order waiting for the follow-up answer")] = False,
) -> ResidentOrderPublic | None:
    reporter_ref = require_reporter_ref(principal, reporter_ref)
    view = latest_open_order_for_reporter(uow, reporter_ref,
                                          awaiting_satisfaction=awaiting_satisfaction)
    return None if view is None else resident_order(uow, view)


@router.get(
    "/duplicate", response_model=OrderSummaryPublic | None,
    summary="An open order of the same incident at the same place (null if none)",
    description="Disputes and requests match only the same resident's own order "
    "(``reporter_ref``; without it, never): telling someone that a dispute about them or "
    "their place was already reported would point at the reporter, and a request (a "
    "question, suggestion or complaint) is one resident's own, answered to them alone. "
    "A resident's further message about their own dispute goes to that order.",
)
def duplicate_order(
    uow: UowDep,
    principal: Annotated[Principal, Depends(RESIDENT_AGENT)],
    category: Annotated[str, Query(max_length=64)],
    area_code: Annotated[str, Query(max_length=64)],
    location: Annotated[str, Query(min_length=1, max_length=200)],
    reporter_ref: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
) -> OrderSummaryPublic | None:
    own = None
    if uow.config.taxonomy.category(category).kind in PERSONAL_KINDS:
        if reporter_ref is None:
            return None
        own = reporter_ref
    view = find_open_duplicate(uow, category, area_code, location, reporter_ref=own)
    return None if view is None else OrderSummaryPublic.from_view(view)


@router.get("/{number}", response_model=OrderPublic | ResidentOrderPublic, responses=NOT_FOUND,
            summary="One order (a channel account needs reporter_ref)")
def read_order(
    number: str,
    uow: UowDep,
    principal: Annotated[Principal, Depends(READERS)],
    reporter_ref: Annotated[str | None, Query(max_length=128)] = None,
) -> OrderPublic | ResidentOrderPublic:
    return order_for(uow, visible_order(uow, principal, number, reporter_ref), principal)


@router.get("/{number}/history", response_model=list[EventPublic] | list[ResidentEventPublic],
            responses=NOT_FOUND, summary="The order's audit events, oldest first")
def order_history(
    number: str,
    uow: UowDep,
    principal: Annotated[Principal, Depends(READERS)],
    reporter_ref: Annotated[str | None, Query(max_length=128)] = None,
) -> list[EventPublic] | list[ResidentEventPublic]:
    order = visible_order(uow, principal, number, reporter_ref)
    events = history(uow, order.number)
    if principal.is_agent:
        return resident_history(events)
    return [EventPublic.from_view(e) for e in events]


@router.get("/{number}/contact", response_model=ContactPublic, responses=NOT_FOUND,
            summary="Reveal the reporter's phone number (dispatchers, admins; an audit event)")
def order_contact(
    number: str,
    uow: UowDep,
    now: NowDep,
    state: StateDep,
    principal: Annotated[Principal, Depends(DISPATCH)],
) -> ContactPublic:
    order = staff_order(uow, principal, number)
    phone = reveal_contact(uow, order.number, principal.actor, now)  # an event of the order
    state.telemetry.contact_reveals.inc()
    audit_log.info(
        "contact revealed: order=%s actor=%s had_contact=%s",
        order.number, principal.actor, phone is not None,
    )
    return ContactPublic(number=order.number, contact=phone)

