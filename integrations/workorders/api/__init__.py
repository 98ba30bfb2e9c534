"""HTTP API of the work-order service (FastAPI): ``create_app(settings)``.

Run it with ``python -m integrations.workorders.api``; see ``app`` for the
application, ``deps`` for authentication and roles, ``routers`` for the
endpoints, ``schemas`` for the bodies.
"""

from .app import create_app

__all__ = ["create_app"]
