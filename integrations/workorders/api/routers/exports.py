"""``/api/v1/exports``: orders of a period and the scorecard as XLSX or CSV (supervisors, admins).

At most ``MAX_EXPORT_ORDERS`` (50,000) orders per order export; a longer
period gets 422 with a request to export it in parts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from ...service.config import CHINA_TZ
from ...service.exports import Table, order_table, scorecard_tables, to_csv, to_xlsx
from ..deps import AUDITORS, NowDep, Principal, UowDep
from ..schemas.common import AUTH_ERRORS, ErrorBody
from . import API_V1
from .metrics import FromQuery, ToQuery, period

router = APIRouter(prefix=f"{API_V1}/exports", tags=["exports"],
                   responses={**AUTH_ERRORS, 422: {"model": ErrorBody}})

Format = Literal["xlsx", "csv"]
MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
FILE_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {t: {} for t in MEDIA_TYPES.values()},
                       "description": "The file (XLSX: a sheet per table; CSV: UTF-8 with BOM)"}}


def _file(tables: list[Table], fmt: Format, name: str, start: datetime, end: datetime) -> Response:
    span = f"{start.astimezone(CHINA_TZ):%Y%m%d}-{end.astimezone(CHINA_TZ):%Y%m%d}"
    data = to_xlsx(tables) if fmt == "xlsx" else to_csv(tables)
    return Response(data, media_type=MEDIA_TYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="{name}-{span}.{fmt}"'})


@router.get("/orders.{fmt}", response_class=Response, responses=FILE_RESPONSE,
            summary="Orders created in a period (工单明细), no personal data")
def export_orders(
    fmt: Format,
    uow: UowDep,
    now: NowDep,
    principal: Annotated[Principal, Depends(AUDITORS)],
    period_from: FromQuery = None,
    period_to: ToQuery = None,
) -> Response:
    start, end = period(period_from, period_to, now)
    return _file([order_table(uow, start, end)], fmt, "orders", start, end)


@router.get("/scorecard.{fmt}", response_class=Response, responses=FILE_RESPONSE,
            summary="The scorecard of a period: overall, by area, by category")
def export_scorecard(
    fmt: Format,
    uow: UowDep,
    now: NowDep,
    principal: Annotated[Principal, Depends(AUDITORS)],
    period_from: FromQuery = None,
    period_to: ToQuery = None,
) -> Response:
    start, end = period(period_from, period_to, now)
    return _file(scorecard_tables(uow, start, end), fmt, "scorecard", start, end)
