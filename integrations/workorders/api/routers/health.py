"""``GET /health``: the only endpoint without a token; 503 when the database does not answer."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..deps import StateDep

router = APIRouter(tags=["operations"])
log = logging.getLogger("integrations.workorders.api")


@router.get("/health", summary="Liveness and database check",
            responses={503: {"description": "The database does not answer"}})
def health(state: StateDep) -> JSONResponse:
    uow = state.app.uow()
    try:
        with uow.read_only():
            uow.session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.error("health check: database unavailable (%s)", type(exc).__name__)
        return JSONResponse({"status": "error", "database": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})
