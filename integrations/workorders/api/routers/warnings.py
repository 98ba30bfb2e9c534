"""``/api/v1/warnings``: 研判预警 (repeat complaints, disputes at risk, surges, hotspots).

- ``GET ""``: warnings, open first, then acknowledged, then closed; within each the
  most severe (紧急 > 预警 > 关注) and then the newest first. Filters: ``kind``,
  ``level``, ``state`` (each may be repeated: any of them), ``area`` (that area and
  the areas below it); ``limit``/``offset`` with the total.
- ``GET /{id}``: one warning with the orders behind it and its history.
- ``POST /{id}/ack`` ``{note}``: 知悉 (open → acknowledged).
- ``POST /{id}/close`` ``{note}``: 关闭 (open or acknowledged → closed).

Dispatchers see and act on the warnings of their areas (and the areas below them)
only: any other is 404, like an id that does not exist. Supervisors and admins see
and act on all. Handlers and the channel accounts (action server, Telegram adapter)
get 403. Each change is kept in the warning's history with the caller's name.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from ...service.warning_actions import acknowledge, close
from ...service.warning_queries import get_warning, list_warnings
from ..access import dispatcher_scope
from ..deps import OVERSIGHT, NowDep, Principal, UowDep
from ..schemas.common import AUTH_ERRORS, ErrorBody, PagePublic
from ..schemas.warnings import WarningDetailPublic, WarningNote, WarningPublic
from . import API_V1

router = APIRouter(
    prefix=f"{API_V1}/warnings", tags=["warnings"],
    responses={**AUTH_ERRORS, 422: {"model": ErrorBody, "description": "A bad filter or note"}},
)

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such warning (for this caller)"}}
Caller = Annotated[Principal, Depends(OVERSIGHT)]


def _split(values: list[str] | None) -> list[str] | None:
    """``?kind=repeat&kind=surge`` and ``?kind=repeat,surge`` alike (the service checks
    the values: 422 with the allowed ones)."""
    if values is None:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@router.get("", response_model=PagePublic[WarningPublic],
            summary="研判预警: open first, most severe and newest first")
def search_warnings(
    uow: UowDep,
    principal: Caller,
    kind: Annotated[list[str] | None, Query(
        description="Any of: repeat 重复诉求, dispute_risk 矛盾激化风险, surge 激增, hotspot 热点 "
                    "(repeat the parameter, or separate by commas)",
        examples=["repeat"])] = None,
    level: Annotated[list[str] | None, Query(
        description="Any of: attention 关注, warning 预警, urgent 紧急",
        examples=["urgent"])] = None,
    state: Annotated[list[str] | None, Query(
        description="Any of: open 待处理, acknowledged 已知悉, closed 已关闭",
        examples=["open"])] = None,
    area: Annotated[str | None, Query(
        max_length=64, description="An area code: warnings in it and in the areas below it",
        examples=["township:qy-dz"])] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> PagePublic[WarningPublic]:
    page = list_warnings(uow, kinds=_split(kind), levels=_split(level), states=_split(state),
                         area_code=area,
                         scope=dispatcher_scope(principal), limit=limit, offset=offset)
    return PagePublic[WarningPublic](
        items=[WarningPublic.of(v) for v in page.items],
        total=page.total, limit=page.limit, offset=page.offset,
    )


@router.get("/{warning_id}", response_model=WarningDetailPublic, responses=NOT_FOUND,
            summary="One warning with the orders behind it and its history")
def read_warning(warning_id: int, uow: UowDep, principal: Caller) -> WarningDetailPublic:
    return WarningDetailPublic.of(
        get_warning(uow, warning_id, scope=dispatcher_scope(principal)))


@router.post(
    "/{warning_id}/ack", response_model=WarningDetailPublic,
    responses={**NOT_FOUND, 409: {"model": ErrorBody, "description":
                                  "Not open (acknowledged or closed already), or changed "
                                  "meanwhile by someone else"}},
    summary="知悉: someone has seen the warning and says what is being done",
)
def ack_warning(
    warning_id: int, body: WarningNote, uow: UowDep, now: NowDep, principal: Caller
) -> WarningDetailPublic:
    return WarningDetailPublic.of(acknowledge(
        uow, warning_id, note=body.note, actor=principal.actor, now=now,
        scope=dispatcher_scope(principal)))


@router.post(
    "/{warning_id}/close", response_model=WarningDetailPublic,
    responses={**NOT_FOUND, 409: {"model": ErrorBody, "description":
                                  "Closed already, or changed meanwhile by someone else"}},
    summary="关闭: the warning needs nothing more (what was done, or why it was a false alarm)",
)
def close_warning(
    warning_id: int, body: WarningNote, uow: UowDep, now: NowDep, principal: Caller
) -> WarningDetailPublic:
    return WarningDetailPublic.of(close(
        uow, warning_id, note=body.note, actor=principal.actor, now=now,
        scope=dispatcher_scope(principal)))
