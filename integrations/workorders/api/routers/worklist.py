"""``/api/v1/worklist``: the dispatcher's inbox (待办), and a cheap probe for polling.

Dispatchers see their areas (and callback requests without an area), admins
everything. ``GET /api/v1/worklist`` answers with an ``ETag``; sent back as
``If-None-Match`` it gets ``304 Not Modified`` while nothing changed, after one
cheap query (``service.worklist_version``) instead of the seven sections.
``GET /api/v1/worklist/version`` is that probe alone.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response

from ...service import worklist, worklist_version
from ..deps import DISPATCH, DISPATCHER, NowDep, Principal, UowDep
from ..schemas.common import AUTH_ERRORS
from ..schemas.worklist import WorklistPublic, WorklistVersionPublic
from . import API_V1

router = APIRouter(prefix=f"{API_V1}/worklist", tags=["worklist"], responses=AUTH_ERRORS)


def _scope(principal: Principal) -> tuple[str, ...] | None:
    """The areas whose inbox the caller sees (None: all)."""
    return principal.areas if principal.role == DISPATCHER else None


def _etag(version: str, principal: Principal, limit: int) -> str:
    seen = f"{version}|{principal.role}|{','.join(sorted(principal.areas))}|{limit}"
    return f'"{hashlib.sha256(seen.encode()).hexdigest()[:32]}"'


@router.get(
    "", response_model=WorklistPublic,
    responses={304: {"description": "Nothing changed since the ETag sent as If-None-Match"}},
    summary="The dispatcher's inbox (待办): every section, newest first",
)
def read_worklist(
    uow: UowDep,
    now: NowDep,
    response: Response,
    principal: Annotated[Principal, Depends(DISPATCH)],
    limit_per_section: Annotated[int, Query(ge=1, le=200)] = 50,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match", max_length=200)] = None,
) -> WorklistPublic | Response:
    if if_none_match is not None:
        tag = _etag(worklist_version(uow), principal, limit_per_section)
        if tag in (t.strip().removeprefix("W/") for t in if_none_match.split(",")):
            return Response(status_code=304, headers={"ETag": tag})
    found = worklist(uow, _scope(principal), now, limit_per_section=limit_per_section)
    response.headers["ETag"] = _etag(found.version, principal, limit_per_section)
    response.headers["Cache-Control"] = "no-cache"
    return WorklistPublic.from_worklist(found)


@router.get("/version", response_model=WorklistVersionPublic,
            summary="Changes whenever the inbox may have (poll this, then fetch the inbox)")
def read_worklist_version(
    uow: UowDep, principal: Annotated[Principal, Depends(DISPATCH)],
) -> WorklistVersionPublic:
    return WorklistVersionPublic(version=worklist_version(uow))
