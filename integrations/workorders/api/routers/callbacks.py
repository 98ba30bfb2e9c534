"""``/api/v1/callbacks``: residents waiting for a person to call them back (转人工).

- ``POST ""``: a channel (the action server) files one for a resident of its channels;
  staff may file one too (a call taken at the desk). ``Idempotency-Key``
  makes a retry return the first request (200 instead of 201). The
  dispatchers of the place are told at once, without any personal data.
- ``GET ""``: dispatchers (requests in their areas and those without an
  area), supervisors and admins (all): the phone number and transcript in clear.
- ``GET /{id}``: one request, same reach (the dispatchers' message names its id);
- ``POST /{id}/done``: a dispatcher (same reach) or an admin called back;
- ``POST /{id}/transcript``: the transcript alone, the reveal written to the
  staff access log (the console shows it on click); same reach;
- ``POST /{id}/order``: a dispatcher (same reach, the order in their areas) or an
  admin turns the request into a work order for its resident; the request is
  done with that order's number.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response

from ...service import CallbackCreate as ServiceCallbackCreate
from ...service import (
    TranscriptLine,
    callback_to_order,
    get_callback,
    list_callbacks,
    mark_callback_done,
    request_callback,
    reveal_callback_transcript,
)
from ..access import agent_ref, dispatcher_scope
from ..deps import DISPATCH, OVERSIGHT, REPORTERS, NowDep, Principal, StateDep, UowDep
from ..schemas.callbacks import (
    CallbackCreate,
    CallbackDone,
    CallbackOrderPublic,
    CallbackPublic,
    CallbackReceipt,
    CallbackStatus,
    CallbackToOrder,
    TranscriptLinePublic,
    TranscriptPublic,
)
from ..schemas.common import AUTH_ERRORS, ErrorBody, PagePublic
from ..schemas.orders import OrderPublic
from . import API_V1

router = APIRouter(
    prefix=f"{API_V1}/callbacks", tags=["callbacks"],
    responses={**AUTH_ERRORS, 422: {"model": ErrorBody}},
)
audit_log = logging.getLogger("integrations.workorders.api.audit")

#: Largest body of ``POST /api/v1/callbacks`` (``app`` raises the general limit to this
#: for this path): 50 lines of 500 Chinese characters are about 75 KB, and a client
#: may send more lines (the newest 50 are kept).
MAX_BODY_BYTES = 256 * 1024


@router.post(
    "", status_code=201, response_model=CallbackReceipt,
    responses={200: {"description": "A replay: the request made by the first call"},
               409: {"model": ErrorBody,
                     "description": "The Idempotency-Key was used for another resident"}},
    summary="A resident asks for a person (dispatchers are told at once)",
)
def post_callback(
    body: CallbackCreate,
    response: Response,
    uow: UowDep,
    now: NowDep,
    state: StateDep,
    principal: Annotated[Principal, Depends(REPORTERS)],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)] = None,
) -> CallbackReceipt:
    data = ServiceCallbackCreate(
        reporter_ref=str(agent_ref(principal, body.reporter_ref)), reason=body.reason,
        transcript=[TranscriptLine(line.speaker, line.text) for line in body.transcript],
        contact=body.contact, order_number=body.order_number,
        client_ref=idempotency_key, caller_token=body.caller_token,
    )
    view, created = request_callback(uow, data, now)
    if created:
        state.telemetry.callbacks_requested.labels(view.reason).inc()
        response.headers["Location"] = f"{router.prefix}/{view.id}"
    else:
        response.status_code = 200
    return CallbackReceipt.from_view(view)


@router.get("", response_model=PagePublic[CallbackPublic],
            summary="Callback requests (open: oldest first; otherwise newest first)")
def search_callbacks(
    uow: UowDep,
    principal: Annotated[Principal, Depends(OVERSIGHT)],
    status: CallbackStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> PagePublic[CallbackPublic]:
    page = list_callbacks(uow, status=status, scope=dispatcher_scope(principal), limit=limit,
                          offset=offset)
    audit_log.info("callback requests read: actor=%s status=%s count=%d",
                   principal.actor, status or "any", len(page.items))
    return PagePublic[CallbackPublic](
        items=[CallbackPublic.from_view(v) for v in page.items],
        total=page.total, limit=page.limit, offset=page.offset,
    )


@router.get(
    "/{request_id}", response_model=CallbackPublic,
    responses={404: {"model": ErrorBody, "description": "No such request (for this caller)"}},
    summary="One callback request",
)
def read_callback(
    request_id: int, uow: UowDep, principal: Annotated[Principal, Depends(OVERSIGHT)]
) -> CallbackPublic:
    view = get_callback(uow, request_id, scope=dispatcher_scope(principal))
    audit_log.info("callback request read: actor=%s id=%d", principal.actor, request_id)
    return CallbackPublic.from_view(view)


@router.post(
    "/{request_id}/done", response_model=CallbackPublic,
    responses={404: {"model": ErrorBody, "description": "No such request (for this caller)"},
               409: {"model": ErrorBody, "description": "Done already"}},
    summary="The resident was called back",
)
def callback_done(
    request_id: int,
    uow: UowDep,
    now: NowDep,
    principal: Annotated[Principal, Depends(DISPATCH)],
    body: CallbackDone | None = None,
) -> CallbackPublic:
    body = body or CallbackDone()
    view = mark_callback_done(uow, request_id, principal.actor, body.note, now,
                              scope=dispatcher_scope(principal))
    return CallbackPublic.from_view(view)


@router.post(
    "/{request_id}/transcript", response_model=TranscriptPublic,
    responses={404: {"model": ErrorBody, "description": "No such request (for this caller)"}},
    summary="Reveal the transcript (who and when is logged)",
)
def callback_transcript(
    request_id: int, uow: UowDep, now: NowDep, principal: Annotated[Principal, Depends(OVERSIGHT)]
) -> TranscriptPublic:
    lines = reveal_callback_transcript(uow, request_id, principal.actor, now,
                                       scope=dispatcher_scope(principal))
    audit_log.info("callback transcript revealed: actor=%s id=%d", principal.actor, request_id)
    return TranscriptPublic(id=request_id, transcript=[
        TranscriptLinePublic(speaker=line.speaker, text=line.text)  # type: ignore[arg-type]
        for line in lines])


@router.post(
    "/{request_id}/order", status_code=201, response_model=CallbackOrderPublic,
    responses={200: {"description": "A retry: the order an earlier call opened"},
               403: {"model": ErrorBody, "description": "The area is outside your areas"},
               404: {"model": ErrorBody, "description": "No such request (for this caller)"},
               409: {"model": ErrorBody, "description": "Done already"}},
    summary="Turn the request into a work order for its resident (dispatched at once)",
)
def callback_order(
    request_id: int,
    body: CallbackToOrder,
    response: Response,
    uow: UowDep,
    now: NowDep,
    state: StateDep,
    principal: Annotated[Principal, Depends(DISPATCH)],
) -> CallbackOrderPublic:
    done = callback_to_order(
        uow, request_id, body.category, body.description, body.location_text,
        principal.actor, now, area_code=body.area_code, priority=body.priority, note=body.note,
        scope=dispatcher_scope(principal),
    )
    if done.created:
        state.telemetry.orders_created.labels(done.order.reporter_channel).inc()
        response.headers["Location"] = f"{API_V1}/orders/{done.order.number}"
    else:
        response.status_code = 200
    return CallbackOrderPublic(
        order=OrderPublic.from_view(done.order, hide_reporter=False),
        callback=CallbackPublic.from_view(done.callback),
    )
