"""Alembic environment of the work-order database (the service's and the channel's tables).

The database URL comes from, in order: ``alembic -x url=...``, the caller
(``adapters.db.migrate`` puts it in ``config.attributes["url"]``), then the
service's settings (``WORKORDERS_DATABASE_URL`` or the default SQLite file).
SQLite migrations use batch mode (ALTER TABLE by table copy) and run in one
transaction with foreign keys off, as SQLite requires for table rebuilds.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import create_engine, event, pool

from integrations.telegram.tables import ChannelBase
from integrations.workorders.adapters import orm  # noqa: F401  (registers every table)
from integrations.workorders.adapters.base import Base
from integrations.workorders.adapters.db import normalize_url

config = context.config

# Configure logging only when run from the alembic CLI: fileConfig would
# otherwise disable the loggers of the application calling migrate().
if config.config_file_name is not None and "url" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# The service's tables and the Telegram channel's (its own metadata), one schema.
target_metadata = [Base.metadata, ChannelBase.metadata]


def database_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.attributes.get("url")
    if not url:
        from integrations.workorders.settings import load_settings

        url = load_settings().database_url
    return normalize_url(url).render_as_string(hide_password=False)


def configure_options(dialect_name: str) -> dict[str, Any]:
    sqlite = dialect_name == "sqlite"
    return {
        "target_metadata": target_metadata,
        "render_as_batch": sqlite,
        "compare_type": True,
        "transactional_ddl": True,
    }


def run_migrations_offline() -> None:
    url = database_url()
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **configure_options(normalize_url(url).get_backend_name()),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = normalize_url(database_url())
    engine = create_engine(url, poolclass=pool.NullPool)
    if url.get_backend_name() == "sqlite":
        # Let SQLAlchemy emit BEGIN so that DDL is transactional on SQLite too.
        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA busy_timeout=30000")

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        with engine.connect() as connection:
            context.configure(connection=connection, **configure_options(engine.dialect.name))
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
