"""``POST /api/v1/warnings/{id}/link``: link a surge's orders under one parent order (合并办理).

Dispatchers (warnings of their areas) and admins; others 403. The children are
taken back from their handlers and wait under the parent; their residents hear
the parent's progress (``service.linking``). 404 for a warning or parent order
outside the caller's areas, 422 for a warning that is not a surge (or a surge
of disputes or requests), 409 for a closed warning, a parent that is not open,
or nothing left to link.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from ...service.linking import link_surge, surge_links
from ..access import dispatcher_scope
from ..deps import DISPATCH, NowDep, Principal, UowDep
from ..schemas.common import AUTH_ERRORS, ErrorBody
from ..schemas.warning_links import LinkRequest, SurgeLinksPublic
from . import API_V1

router = APIRouter(
    prefix=f"{API_V1}/warnings",
    tags=["warnings"],
    responses={**AUTH_ERRORS,
               404: {"model": ErrorBody, "description": "No such warning (for this caller)"},
               409: {"model": ErrorBody, "description": "Closed, or nothing to link"},
               422: {"model": ErrorBody}},
)


@router.post("/{warning_id}/link", response_model=SurgeLinksPublic,
             summary="Link a surge's open orders under one parent order")
def link_warning_orders(
    warning_id: int, uow: UowDep, now: NowDep,
    principal: Annotated[Principal, Depends(DISPATCH)], body: LinkRequest | None = None,
) -> SurgeLinksPublic:
    scope = dispatcher_scope(principal)
    link_surge(uow, warning_id, actor=principal.actor, now=now, area_codes=scope,
               parent_number=body.parent_number if body else None)
    return SurgeLinksPublic.from_view(surge_links(uow, warning_id, area_codes=scope))
