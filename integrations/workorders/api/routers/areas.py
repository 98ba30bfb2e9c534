"""``/api/v1/areas``: the area hierarchy, the other names of grids, and which grid a place lies in.

- ``GET /resolve?text=``: the action server (actions token) and staff: the grid
  a resident's place lies in, or the fallback grid (``matched: false``);
- ``GET ""``: staff: every area with its aliases;
- ``POST /{code}/aliases``: dispatchers (grids within their areas) and admins,
  like handlers: add another name of a grid.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from ...service import Forbidden, add_alias, get_area, list_area_details, resolve_area
from ..access import areas_below
from ..deps import DISPATCH, DISPATCHER, PLACE_RESOLVERS, STAFF, Principal, UowDep
from ..schemas.areas import AliasCreate, AreaMatchPublic, AreaPublic
from ..schemas.common import AUTH_ERRORS, ErrorBody
from . import API_V1

router = APIRouter(
    prefix=f"{API_V1}/areas", tags=["areas"],
    responses={**AUTH_ERRORS, 422: {"model": ErrorBody}},
)


@router.get(
    "/resolve", response_model=AreaMatchPublic,
    responses={404: {"model": ErrorBody,
                     "description": "Nothing matched and no fallback grid is set"}},
    summary="The grid a place lies in (longest name or alias in the text; else the fallback)",
)
def resolve(
    uow: UowDep,
    principal: Annotated[Principal, Depends(PLACE_RESOLVERS)],
    text: Annotated[str, Query(min_length=1, max_length=200,
                               description="The place as the resident said it")],
) -> AreaMatchPublic:
    return AreaMatchPublic.from_view(resolve_area(uow, text))


@router.get("", response_model=list[AreaPublic], summary="Every area with its aliases (staff)")
def search(uow: UowDep, principal: Annotated[Principal, Depends(STAFF)]) -> list[AreaPublic]:
    return [AreaPublic.from_view(v) for v in list_area_details(uow)]


@router.post(
    "/{code}/aliases", status_code=201, response_model=AreaPublic,
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody,
                                               "description": "The alias names a grid already"}},
    summary="Add another name of a grid (a street, a landmark)",
)
def create_alias(
    code: str,
    body: AliasCreate,
    response: Response,
    uow: UowDep,
    principal: Annotated[Principal, Depends(DISPATCH)],
) -> AreaPublic:
    if principal.role == DISPATCHER:
        area = get_area(uow, code)  # NotFound first: an unknown code is 404 for everyone
        if area.code not in areas_below(uow, principal.areas):
            raise Forbidden(f"area {code!r} is outside your areas", "该区域不在您的管辖范围内。")
    view = add_alias(uow, code, body.alias)
    response.headers["Location"] = f"{router.prefix}/{view.code}"
    return AreaPublic.from_view(view)
