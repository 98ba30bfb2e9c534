"""Running the API under uvicorn: settings from the environment, logging, migration.

``from_environment`` builds the application of a worker process
(``--workers N``, see ``workers``); it is an entrypoint, so it is where the
environment is read.
"""

from __future__ import annotations

import logging
import os
import sys

import uvicorn
from fastapi import FastAPI

from integrations.shared.privacy import install_log_redaction, require_production_key

from ..adapters.db import migrate
from .app import create_app
from .config import ApiSettings, load_api_settings
from .workers import UVICORN_OPTIONS, Supervisor, event_loop_and_parser

log = logging.getLogger("integrations.workorders.api")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    install_log_redaction()


def from_environment() -> FastAPI:
    """The application for ``WORKORDERS_*`` (one per worker process)."""
    settings = load_api_settings()
    configure_logging(settings.log_level)
    return create_app(settings)


def serve(
    settings: ApiSettings, *, host: str, port: int, workers: int, migrate_first: bool,
    log_level: str,
) -> int:
    """Migrate (once, before any worker starts), then serve until a signal; the exit status.

    The key is checked here too, so a bad key stops the command before workers start.
    """
    require_production_key(settings.secret_key, settings.development)
    for name, token in (("WORKORDERS_ACTIONS_TOKEN", settings.actions_token),
                        ("WORKORDERS_TELEGRAM_TOKEN", settings.telegram_token)):
        if not token:
            log.warning("%s is not set: that channel account is disabled", name)
    if migrate_first:
        migrate(settings.database_url)
        log.info("database migrated to head")
    # worker processes build their settings from the environment: hand the level down
    os.environ["WORKORDERS_LOG_LEVEL"] = log_level
    log.info("serving with %s", event_loop_and_parser())
    if workers > 1:
        return Supervisor(host, port, workers, log_level.lower()).run()
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level.lower(),
                **UVICORN_OPTIONS)  # type: ignore[arg-type]
    return 0
