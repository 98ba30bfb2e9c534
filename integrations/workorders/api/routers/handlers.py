"""``/api/v1/handlers``: mediators, grid workers and community staff (社区工作人员).

Admins and dispatchers write; supervisors read. A dispatcher writes only
handlers whose areas all lie within the dispatcher's areas (sub-areas
included) and places them only there (403 otherwise; ``access`` holds the
rule, and the use cases check it again under their locks). A chat is linked to a
handler only with a link code (``/api/v1/telegram``): these endpoints cannot
set ``telegram_chat_id`` (PATCH may only clear it, with null).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from ...service import HandlerCreate as ServiceHandlerCreate
from ...service import HandlerUpdate as ServiceHandlerUpdate
from ...service import (
    create_handler,
    get_handler,
    list_handlers,
    set_capacity,
    set_duty,
    update_handler,
)
from ..access import dispatcher_scope, require_areas_in_scope, require_handler_in_scope
from ..deps import DISPATCH, OVERSIGHT, NowDep, Principal, UowDep
from ..schemas.common import AUTH_ERRORS, ErrorBody
from ..schemas.handlers import (
    CapacityUpdate,
    DutyUpdate,
    HandlerCreate,
    HandlerPublic,
    HandlerUpdate,
)
from . import API_V1

router = APIRouter(
    prefix=f"{API_V1}/handlers", tags=["handlers"],
    responses={**AUTH_ERRORS, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)

Writer = Annotated[Principal, Depends(DISPATCH)]
Reader = Annotated[Principal, Depends(OVERSIGHT)]


@router.post("", status_code=201, response_model=HandlerPublic, summary="Register a handler")
def create(
    body: HandlerCreate, response: Response, uow: UowDep, now: NowDep, principal: Writer
) -> HandlerPublic:
    require_areas_in_scope(uow, principal, body.areas)
    view = create_handler(uow, ServiceHandlerCreate(**body.model_dump()), now,
                          scope=dispatcher_scope(principal))
    response.headers["Location"] = f"{router.prefix}/{view.id}"
    return HandlerPublic.from_view(view)


@router.patch("/{handler_id}", response_model=HandlerPublic,
              summary="Change some fields (null phone / telegram_chat_id removes them)")
def update(
    handler_id: int, body: HandlerUpdate, uow: UowDep, now: NowDep, principal: Writer
) -> HandlerPublic:
    require_handler_in_scope(uow, principal, handler_id)
    if body.areas is not None:
        require_areas_in_scope(uow, principal, body.areas)
    sent = body.model_fields_set
    changes = ServiceHandlerUpdate(
        name=body.name,
        phone=body.phone,
        clear_phone="phone" in sent and body.phone is None,
        skills=body.skills,
        areas=body.areas,
        tier=body.tier,
        capacity=body.capacity,
        on_duty=body.on_duty,
        is_supervisor=body.is_supervisor,
        clear_telegram="telegram_chat_id" in sent,  # only null is accepted: unlink
    )
    return HandlerPublic.from_view(
        update_handler(uow, handler_id, changes, now, scope=dispatcher_scope(principal)))


@router.post("/{handler_id}/duty", response_model=HandlerPublic,
             summary="On duty or on leave (their orders stay with them)")
def duty(
    handler_id: int, body: DutyUpdate, uow: UowDep, now: NowDep, principal: Writer
) -> HandlerPublic:
    return HandlerPublic.from_view(
        set_duty(uow, handler_id, body.on_duty, now, scope=dispatcher_scope(principal)))


@router.post("/{handler_id}/capacity", response_model=HandlerPublic,
             summary="How much load they can carry (normal order 1, urgent 3)")
def capacity(
    handler_id: int, body: CapacityUpdate, uow: UowDep, now: NowDep, principal: Writer
) -> HandlerPublic:
    return HandlerPublic.from_view(
        set_capacity(uow, handler_id, body.capacity, now, scope=dispatcher_scope(principal)))


@router.get("", response_model=list[HandlerPublic], summary="Handlers with their current load")
def search(
    uow: UowDep,
    principal: Reader,
    role: Annotated[str | None, Query(max_length=32)] = None,
    area_code: Annotated[str | None, Query(max_length=64)] = None,
) -> list[HandlerPublic]:
    return [HandlerPublic.from_view(v) for v in list_handlers(uow, role=role, area_code=area_code)]


@router.get("/{handler_id}", response_model=HandlerPublic, summary="One handler and their load")
def read(handler_id: int, uow: UowDep, principal: Reader) -> HandlerPublic:
    return HandlerPublic.from_view(get_handler(uow, handler_id))
