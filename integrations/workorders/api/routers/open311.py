"""Open311 GeoReport v2 at ``/open311/v2``: services, requests, request status.

Formats ``json`` and ``xml`` (the path's extension). Reading (``services``,
``requests``) is public, as GeoReport v2 clients expect: no token, and a
token changes nothing; what is listed is public to everyone (no reporter, no
contact, no handler, no notes). Filing (``POST requests``) needs an
``api_key`` (query, form field or JSON key; or a bearer token) that is one of
``WORKORDERS_OPEN311_API_KEYS``, keys issued to civic-tech clients that allow
nothing else: no key 401, an unknown key 401, any other credential 403.
Errors use the specification's shape (``[{"code", "description"}]``), with
400 for bad parameters. Only the categories ``taxonomy.yml`` marks public
exist here (``open311.catalog``).
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import ValidationError

from ...service import (
    Forbidden,
    InvalidInput,
    NotFound,
    OrderFilters,
    OrderView,
    UnitOfWork,
    get_order,
    list_areas,
    list_orders,
    open_order,
)
from ..deps import NowDep, StateDep, UowDep, authenticate, bearer
from ..errors import Unauthenticated
from ..open311.catalog import Catalog, Open311Service
from ..open311.mapping import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    BodyError,
    RequestCreate,
    parse_body,
    request_record,
    to_order,
    validate,
    validation_errors,
)
from ..open311.render import render
from ..times import aware

router = APIRouter(prefix="/open311/v2", tags=["open311"])

Format = Literal["json", "xml"]
MAX_REQUESTS = 1000
DEFAULT_WINDOW = timedelta(days=90)
_PAGE = 200

Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def require_api_key(state: StateDep, key: str | None) -> None:
    """Let a configured Open311 key through; 401 for none or an unknown one, 403 for
    another credential (a staff or channel token files nothing here)."""
    if not key:
        raise Unauthenticated("an Open311 api_key is required to file requests",
                              "提交反映需要 Open311 接入密钥（api_key）。", invalid=False)
    if any(hmac.compare_digest(key.encode(), k.encode()) for k in state.settings.open311_api_keys):
        return
    await authenticate(state, key)  # 401 if it is nobody's
    raise Forbidden("only an Open311 api_key may file requests here",
                    "请使用 Open311 接入密钥（api_key）提交。")


def _service_record(service: Open311Service) -> dict[str, Any]:
    return {
        "service_code": service.code,
        "service_name": service.name,
        "description": service.description,
        "metadata": True,
        "type": "realtime",
        "keywords": ",".join(service.keywords),
        "group": service.group,
    }


@router.get("/services.{fmt}", summary="Service list (the public categories)")
def services(fmt: Format, state: StateDep) -> Response:
    return render(fmt, "services", [_service_record(s) for s in state.catalog.services])


@router.get("/services/{service_code}.{fmt}", summary="Service definition (the area attribute)")
def service_definition(
    service_code: str, fmt: Format, state: StateDep, uow: UowDep
) -> Response:
    if state.catalog.get(service_code) is None:
        raise NotFound("service", service_code)
    grids = list_areas(uow, tier=uow.config.taxonomy.tiers[0])
    attribute = {
        "variable": True,
        "code": "area_code",
        "datatype": "singlevaluelist",
        "required": state.settings.open311_default_area is None,
        "datatype_description": "所在网格",
        "order": 1,
        "description": "事发地所在的社区网格",
        "values": [{"key": a.code, "name": a.name} for a in grids],
    }
    return render(fmt, "service_definition",
                  {"service_code": service_code, "attributes": [attribute]})


_REQUEST_SCHEMA = RequestCreate.model_json_schema(by_alias=True)
_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": _REQUEST_SCHEMA},
            "application/json": {"schema": _REQUEST_SCHEMA},
        },
    }
}


@router.post("/requests.{fmt}", summary="File a request (form-encoded, or JSON; needs api_key)",
             status_code=201, openapi_extra=_REQUEST_BODY)
async def create_request(
    fmt: Format,
    request: Request,
    state: StateDep,
    now: NowDep,
    credentials: Bearer,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)] = None,
) -> Response:
    try:
        fields = parse_body(request.headers.get("content-type"), await request.body())
    except BodyError as exc:
        raise InvalidInput("body", str(exc), "请求内容格式不正确，请使用表单或 JSON。") from None
    token = credentials.credentials if credentials else (
        fields.get("api_key") or request.query_params.get("api_key")
    )
    await require_api_key(state, str(token) if token else None)
    try:
        req = validate(fields)
    except ValidationError as exc:
        raise RequestValidationError(validation_errors(exc)) from None
    data = to_order(req, state.catalog, state.settings.open311_default_area, idempotency_key)
    opened = await run_in_threadpool(open_order, state.app.uow(), data, now)
    view, created = opened.order, opened.created
    if created:
        state.telemetry.orders_created.labels("open311").inc()
    notice = f"已受理，工单号 {view.number}。"
    record = {"service_request_id": view.number, "service_notice": notice, "account_id": None}
    return render(fmt, "service_requests", [record], status_code=201 if created else 200)


def _ids(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()][:MAX_REQUESTS]


def _by_ids(uow: UnitOfWork, catalog: Catalog, ids: list[str]) -> list[OrderView]:
    found = []
    for number in ids:
        try:
            view = get_order(uow, number)
        except NotFound:
            continue
        if catalog.get(view.category) is not None:
            found.append(view)
    return found


def _search(uow: UnitOfWork, codes: list[str], statuses: frozenset[str] | None,
            start: datetime, end: datetime | None) -> list[OrderView]:
    found: list[OrderView] = []
    for code in codes:
        offset = 0
        while len(found) < MAX_REQUESTS:
            filters = OrderFilters(category=code, statuses=sorted(statuses) if statuses else None,
                                   created_from=start, created_to=end)
            page = list_orders(uow, filters, limit=_PAGE, offset=offset)
            found.extend(page.items)
            offset += _PAGE
            if offset >= page.total:
                break
    found.sort(key=lambda v: v.created_at, reverse=True)
    return found[:MAX_REQUESTS]


@router.get("/requests.{fmt}", summary="Requests (no personal data)")
def requests(
    fmt: Format,
    state: StateDep,
    uow: UowDep,
    now: NowDep,
    service_request_id: Annotated[str | None, Query(max_length=20000)] = None,
    service_code: Annotated[str | None, Query(max_length=2000)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
) -> Response:
    if service_request_id:
        views = _by_ids(uow, state.catalog, _ids(service_request_id))
    else:
        wanted = set(_ids(service_code)) if service_code else None
        codes = [c for c in state.catalog.codes if wanted is None or c in wanted]
        statuses: set[str] = set()
        for word in _ids(status or ""):
            if word not in ("open", "closed"):
                raise InvalidInput("status", "open or closed", "状态只能是 open 或 closed。")
            statuses |= OPEN_STATUSES if word == "open" else CLOSED_STATUSES
        end = aware(end_date)
        start = aware(start_date) or (end or now) - DEFAULT_WINDOW
        views = _search(uow, codes, frozenset(statuses) or None, start, end)
    return render(fmt, "service_requests", [request_record(v) for v in views])


@router.get("/requests/{service_request_id}.{fmt}", summary="One request's status")
def request_status(
    service_request_id: str, fmt: Format, state: StateDep, uow: UowDep
) -> Response:
    views = _by_ids(uow, state.catalog, [service_request_id])
    if not views:
        raise NotFound("order", service_request_id)
    return render(fmt, "service_requests", [request_record(views[0])])


