"""``GET /metrics``: Prometheus text format, for a supervisor's or an admin's token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from ..deps import SCRAPERS, Principal, StateDep
from ..schemas.common import AUTH_ERRORS
from ..telemetry import CONTENT_TYPE

router = APIRouter(tags=["operations"], responses=AUTH_ERRORS)


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text"}},
            summary="Prometheus metrics (request counters, orders created, open orders)")
def prometheus_metrics(state: StateDep, principal: Annotated[Principal, Depends(SCRAPERS)]) -> Response:
    return Response(state.telemetry.exposition(), media_type=CONTENT_TYPE)
