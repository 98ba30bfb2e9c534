"""The FastAPI application of the work-order service.

    settings = load_api_settings()        # in the entrypoint, once
    app = create_app(settings)            # bootstraps engine, sessions, taxonomy

``create_app(settings, app_state)`` takes an already built ``bootstrap.App``
(tests pass one bound to their database); the caller then owns it. Without
one, the application bootstraps its own and disposes of it at shutdown.
Nothing here runs at import time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI

from ..bootstrap import App, bootstrap
from ..settings import Settings
from .body_limit import BodyLimitMiddleware
from .config import as_api_settings, db_threads
from .console import install_console
from .errors import install_error_handlers
from .open311.catalog import Catalog, read_covers
from .routers import (
    areas,
    attachments,
    audit,
    callbacks,
    exports,
    handlers,
    health,
    metrics,
    open311,
    order_actions,
    order_desk,
    orders,
    prometheus,
    staff,
    telegram,
    worklist,
)
from .routers import warnings as warning_routes
from .routers.conversation_metrics import router as conversation_metrics_router
from .routers.reports import router as weekly_reports_router
from .routers.warning_links import router as warning_links_router
from .state import ApiState
from .telemetry import Telemetry, TelemetryMiddleware

TITLE = "社区工单服务 · Work-order service"
VERSION = "1.0.0"

DESCRIPTION = """\
Residents' reports to community and township offices as work orders (工单):
opened by the Rasa action server and other channels (their own tokens), handled
by mediators (disputes), grid workers (incidents) and community staff (other
requests: questions, suggestions, complaints), dispatched and overseen by
staff (staff tokens).
Every endpoint but `GET /health` needs `Authorization: Bearer <token>`.
Errors: `{"detail": {"reason", "reason_zh", "field"}}`. Open311 GeoReport v2
(only the categories taxonomy.yml marks public) under `/open311/v2`.
"""


def create_app(settings: Settings, app_state: App | None = None) -> FastAPI:
    """The application for ``settings``; ``app_state`` is the service's wiring if already built."""
    api_settings = as_api_settings(settings)
    owned = app_state is None
    threads = db_threads(api_settings)
    wiring = bootstrap(api_settings) if app_state is None else app_state
    state = ApiState(
        settings=api_settings,
        app=wiring,
        telemetry=Telemetry(wiring.uow),
        catalog=Catalog.build(wiring.config.taxonomy, read_covers(api_settings.taxonomy_path)),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Handlers are sync and run in anyio's thread pool. Its default of 40
        # threads lets 40 requests run Python at once under one GIL: each gets
        # slower and holds its row locks longer. A few threads keep the
        # database busy; the rest of the requests queue on the event loop.
        to_thread.current_default_thread_limiter().total_tokens = threads
        yield
        if owned:
            wiring.dispose()

    docs = api_settings.public_docs
    app = FastAPI(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        openapi_url="/openapi.json" if docs else None,
        docs_url="/docs" if docs else None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.api = state
    install_error_handlers(app)
    # A callback request carries up to 50 transcript lines of 500 characters
    # (about 75 KB of Chinese): it may be larger than the other bodies. A photo
    # may be as large as the service takes photos.
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=api_settings.max_body_bytes,
        larger={callbacks.router.prefix: max(api_settings.max_body_bytes,
                                             callbacks.MAX_BODY_BYTES),
                attachments.UPLOAD_PATH: max(api_settings.max_body_bytes,
                                             wiring.config.max_attachment_bytes)},
    )
    app.add_middleware(TelemetryMiddleware, telemetry=state.telemetry)  # outermost: counts all

    install_console(app, state)  # the web console at /console/ (same process, same port)
    for module in (orders, order_actions, attachments, callbacks, areas, handlers, telegram,
                   metrics, audit, open311, prometheus, health, order_desk, staff, worklist,
                   exports):
        app.include_router(module.router)
    for extra in (weekly_reports_router, warning_links_router):  # 研判周报, 合并办理
        app.include_router(extra)
    app.include_router(warning_routes.router)  # 研判预警
    app.include_router(conversation_metrics_router)  # 居民对话
    return app
