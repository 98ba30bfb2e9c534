"""Wiring for entrypoints (API, notifier, CLI): settings in, ready-to-use parts out.

    settings = load_settings()
    app = bootstrap(settings)          # checks the key, builds engine and config
    migrate(settings.database_url)     # if this process owns the schema
    view = create_order(app.uow(), data, now=datetime.now(timezone.utc))

Nothing here runs at import time.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from integrations.shared.privacy import require_production_key

from .adapters.db import make_engine, make_session_factory
from .domain.taxonomy import Taxonomy
from .service.config import ServiceConfig
from .service.uow import UnitOfWork
from .settings import Settings


@dataclass(frozen=True)
class App:
    """The long-lived parts of one process."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    config: ServiceConfig

    def uow(self) -> UnitOfWork:
        """A fresh unit of work (one per request or job)."""
        return UnitOfWork(self.session_factory, self.config)

    def dispose(self) -> None:
        self.engine.dispose()


def bootstrap(settings: Settings, *, taxonomy: Taxonomy | None = None) -> App:
    """Refuse a development key in production, then build engine, sessions and config."""
    require_production_key(settings.secret_key, settings.development)
    engine = make_engine(settings.database_url)
    return App(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        config=ServiceConfig.from_settings(settings, taxonomy),
    )
