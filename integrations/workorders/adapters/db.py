"""Migrations (the service owns the schema, the channel's tables included); called
from entrypoints, never at import.

Engines and sessions come from ``integrations.shared.sql`` (SQLite: WAL and
``BEGIN IMMEDIATE``; PostgreSQL: psycopg 3 with a pool) and are re-exported here
for the service's entrypoints.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import URL

from integrations.shared.sql import (
    READ_ONLY,
    is_sqlite,
    make_engine,
    make_session_factory,
    normalize_url,
    private_file,
)

__all__ = ["PROJECT_ROOT", "READ_ONLY", "alembic_config", "downgrade", "is_sqlite", "make_engine",
           "make_session_factory", "migrate", "normalize_url"]

#: Where ``alembic.ini`` and ``migrations/`` live.
PROJECT_ROOT = Path(__file__).resolve().parents[3]


def alembic_config(url: str | URL | None = None) -> Config:
    """The project's Alembic configuration, pointed at ``url`` if given."""
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if url is not None:
        # attributes, not the ini option: a URL may contain '%' (ConfigParser syntax)
        cfg.attributes["url"] = normalize_url(url).render_as_string(hide_password=False)
    return cfg


def migrate(url: str | URL, revision: str = "head") -> None:
    """``alembic upgrade <revision>`` on ``url`` (the only way the schema is made).

    A SQLite file that does not exist yet is created owner-only first.
    """
    parsed = normalize_url(url)
    database = parsed.database or ""
    if (parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:")
            and not database.startswith("file:")):
        private_file(Path(database).expanduser().resolve())
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | URL, revision: str = "base") -> None:
    """``alembic downgrade <revision>`` on ``url``."""
    command.downgrade(alembic_config(url), revision)
