"""Engines, sessions and column types shared by the service and the channels.

Engines are made in entrypoints, never at import.

SQLite (the embedded default): WAL journal, 30 s busy timeout, foreign keys
ON, and every transaction opened with ``BEGIN IMMEDIATE`` so that writers
queue up at BEGIN instead of failing half-way (a deferred transaction that
reads and then writes can hit SQLITE_BUSY with no retry). Sessions created
with ``execution_options={READ_ONLY: True}`` begin with a plain ``BEGIN`` and
read a WAL snapshot without waiting for writers.

PostgreSQL: psycopg 3, a connection pool with pre-ping and recycling; the
service takes row locks (``SELECT ... FOR UPDATE``) where it needs them.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

__all__ = ["NAMING", "READ_ONLY", "UTCDateTime", "is_sqlite", "make_engine",
           "make_session_factory", "normalize_url", "private_file"]

#: Session/connection execution option: this transaction only reads.
READ_ONLY = "workorders_read_only"

SQLITE_BUSY_TIMEOUT_S = 30


def normalize_url(url: str | URL) -> URL:
    """``url`` as a URL object; ``postgresql://`` and ``postgres://`` mean psycopg 3."""
    if isinstance(url, str) and url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def is_sqlite(url: str | URL) -> bool:
    return normalize_url(url).get_backend_name() == "sqlite"


def make_engine(
    url: str | URL,
    *,
    pool_size: int = 10,
    max_overflow: int = 20,
    echo: bool = False,
) -> Engine:
    """An engine for ``url`` configured as described in the module docstring.

    The SQLite file's directory is created if missing. ``pool_size`` and
    ``max_overflow`` apply to PostgreSQL and to SQLite files alike.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, pool_size=pool_size, max_overflow=max_overflow, echo=echo)
    return create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        echo=echo,
    )


def private_file(path: Path) -> None:
    """Create the database file owner-only (0600) before SQLite does, in a 0700 directory
    if this creates the directory; an existing file keeps its mode (``make run`` tightens var/)."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def _sqlite_engine(url: URL, *, pool_size: int, max_overflow: int, echo: bool) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    kwargs: dict[str, Any] = {
        "connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
        "echo": echo,
    }
    if in_memory:
        kwargs["poolclass"] = StaticPool  # one shared connection, or each sees its own DB
    else:
        private_file(Path(database).expanduser().resolve())
        kwargs.update(pool_size=pool_size, max_overflow=max_overflow)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``; objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


# Stable constraint names, so Alembic migrations are reproducible on both engines.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every engine.

    SQLite stores no zone and hands back naive values; this type stores UTC and
    always returns aware datetimes, and refuses naive ones on the way in, so the
    domain (which compares aware datetimes) never sees a naive one.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass timezone-aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
