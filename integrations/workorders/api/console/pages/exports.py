"""``/console/exports`` (导出): orders and the scorecard of a period, XLSX or CSV (supervisors).

The form asks for two China dates (both included); the downloads are
``/console/exports/{orders,scorecard}.{xlsx,csv}?from=&to=``, built by
``service.exports`` exactly as the API's ``/api/v1/exports`` builds them, and
named in Chinese (``工单明细-20261101-20261130.xlsx``) through the
``filename*`` parameter of Content-Disposition (RFC 6266/5987), with an ASCII
``filename`` for old clients. A period the service refuses (too many orders,
``from`` after ``to``) comes back to the form with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ....domain.errors import DomainError
from ....service import CHINA_TZ
from ....service.exports import (
    MAX_EXPORT_ORDERS,
    Table,
    order_table,
    scorecard_tables,
    to_csv,
    to_xlsx,
)
from ..web import PREFIX, NowDep, Supervisor, UowDep, flash_response, render
from .dashboard import choose_period, month_bounds

router = APIRouter()

EXPORTS = f"{PREFIX}/exports"
Format = Literal["xlsx", "csv"]
MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
#: what: (Chinese file name, ASCII file name)
KINDS: dict[str, tuple[str, str]] = {"orders": ("工单明细", "orders"),
                                     "scorecard": ("统计指标", "scorecard")}


def content_disposition(name_zh: str, name_ascii: str) -> str:
    """``attachment`` with an ASCII ``filename`` and the UTF-8 ``filename*``."""
    return f"attachment; filename=\"{name_ascii}\"; filename*=UTF-8''{quote(name_zh)}"


@router.get(EXPORTS, include_in_schema=False)
def exports_page(request: Request, user: Supervisor, now: NowDep) -> Response:
    today = now.astimezone(CHINA_TZ).date()
    query = request.query_params
    first_default, last_default = month_bounds(today)
    return render(request, "exports/form.html", user, now=now,
                  first=query.get("from") or first_default.isoformat(),
                  last=query.get("to") or last_default.isoformat(),
                  max_orders=MAX_EXPORT_ORDERS)


def _download(
    request: Request, now: datetime, what: str, fmt: Format,
    tables: Callable[[datetime, datetime], list[Table]],
) -> Response:
    query = request.query_params
    period, problem = choose_period(now, "custom", None, query.get("from"), query.get("to"))
    back = f"{EXPORTS}?{urlencode({k: v for k, v in query.items() if k in ('from', 'to')})}"
    if problem:
        return flash_response(back, problem, error=True)
    try:
        data = (to_xlsx if fmt == "xlsx" else to_csv)(tables(period.start, period.end))
    except DomainError as exc:
        return flash_response(back, exc.reason_zh, error=True)
    span = f"{period.first:%Y%m%d}-{period.last:%Y%m%d}"
    name_zh, name_ascii = KINDS[what]
    return Response(data, media_type=MEDIA_TYPES[fmt], headers={
        "Content-Disposition": content_disposition(f"{name_zh}-{span}.{fmt}",
                                                   f"{name_ascii}-{span}.{fmt}"),
        "Cache-Control": "no-store"})


@router.get(EXPORTS + "/orders.{fmt}", include_in_schema=False)
def export_orders(request: Request, fmt: Format, user: Supervisor, uow: UowDep,
                  now: NowDep) -> Response:
    return _download(request, now, "orders", fmt,
                     lambda start, end: [order_table(uow, start, end)])


@router.get(EXPORTS + "/scorecard.{fmt}", include_in_schema=False)
def export_scorecard(request: Request, fmt: Format, user: Supervisor, uow: UowDep,
                     now: NowDep) -> Response:
    return _download(request, now, "scorecard", fmt,
                     lambda start, end: scorecard_tables(uow, start, end))

