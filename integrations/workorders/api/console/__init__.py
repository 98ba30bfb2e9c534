"""社区事务工作台: the web console of the work-order service, mounted at ``/console/``.

    install_console(app, state)   # in api.app.create_app: same app, same port as /api/v1

Server-rendered pages (Jinja2) with htmx for partial updates and live lists,
Apache ECharts for charts, both served from ``static/vendor`` (pinned npm
releases with their licences; never a CDN). Pages call the same use cases
(``integrations.workorders.service``) and access rules (``api.access``) as
the API, acting as the signed-in staff member (``web.ConsoleUser``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from ..state import ApiState
from .errors import install_console_errors
from .pages import ROUTERS
from .static import mount_static
from .web import csrf_guard

__all__ = ["install_console"]


def install_console(app: FastAPI, state: ApiState) -> None:
    """Mount the console's pages, static files and error pages on ``app``."""
    del state  # pages reach the state through the request, like the API's routers
    console = APIRouter(dependencies=[Depends(csrf_guard)], include_in_schema=False)
    for router in ROUTERS:
        console.include_router(router)
    app.include_router(console)
    mount_static(app)
    install_console_errors(app)
