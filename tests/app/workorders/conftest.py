"""Databases and a small world (areas, handlers, orders) for the persistence tests.

SQLite: the schema is migrated once into a template file; each test gets a
copy. PostgreSQL: one database per test session with a random name, migrated
once, truncated before each test and dropped at the end; tests needing it skip
with the reason if the server does not answer. The URL of the server's
maintenance database can be changed with WORKORDERS_TEST_PG_URL.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from integrations.workorders.adapters.db import make_engine, make_session_factory, migrate
from integrations.workorders.adapters.orm import OrderEvent, OutboxMessage, WorkOrder
from integrations.workorders.adapters.taxonomy_file import load_taxonomy
from integrations.shared.privacy import EXAMPLE_KEY, Vault
from integrations.workorders.service import (
    HandlerCreate,
    OrderCreate,
    OrderView,
    ServiceConfig,
    UnitOfWork,
    add_area,
    create_handler,
    create_order,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
PG_ADMIN_URL = os.environ.get(
    "WORKORDERS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

#: Monday 2025-03-03 09:00 in China (01:00 UTC).
T0 = datetime(2025, 3, 3, 1, 0, tzinfo=timezone.utc)

TABLES = ("outbox", "callback_requests", "order_events", "order_declines", "staff_users",
          "work_orders", "handlers", "area_aliases", "areas")

AREAS = [
    ("county:qy", "青阳县", "county", None),
    ("township:qy-dz", "东镇", "township", "county:qy"),
    ("township:qy-xz", "西镇", "township", "county:qy"),
    ("grid:qy-dz-01", "东镇幸福里网格", "grid", "township:qy-dz"),
    ("grid:qy-dz-02", "东镇和平街网格", "grid", "township:qy-dz"),
    ("grid:qy-xz-01", "西镇一网格", "grid", "township:qy-xz"),
]
AREA_BY_TIER = {"grid": "grid:qy-dz-01", "township": "township:qy-dz", "county": "county:qy"}


@pytest.fixture(scope="session")
def taxonomy():
    return load_taxonomy(REPO_ROOT / "taxonomy.yml")


@pytest.fixture(scope="session")
def vault():
    return Vault(EXAMPLE_KEY)


@pytest.fixture(scope="session")
def config(taxonomy, vault):
    return ServiceConfig(taxonomy=taxonomy, vault=vault)


# --------------------------------------------------------------------- databases


@dataclass
class Db:
    """One test database: its URL, engine and a way to get units of work."""

    backend: str
    url: str
    engine: Engine
    session_factory: sessionmaker[Session]
    config: ServiceConfig

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory, self.config)

    def session(self) -> Session:
        return self.session_factory()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


def _sqlite_db(template: Path, directory: Path, config: ServiceConfig, **engine_kw) -> Iterator[Db]:
    path = directory / "workorders.db"
    shutil.copyfile(template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url, **engine_kw)
    try:
        yield Db("sqlite", url, engine, make_session_factory(engine), config)
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_db(sqlite_template, tmp_path, config) -> Iterator[Db]:
    yield from _sqlite_db(sqlite_template, tmp_path, config, pool_size=30, max_overflow=30)


def pg_unreachable_reason() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}".strip()


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """The server's maintenance database (where test databases are created and dropped)."""
    return PG_ADMIN_URL


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session; its URL."""
    reason = pg_unreachable_reason()
    if reason is not None:
        pytest.skip(reason)
    name = f"wo_test_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    try:
        migrate(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_db(pg_server, config) -> Iterator[Db]:
    engine = make_engine(pg_server, pool_size=30, max_overflow=30)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    try:
        yield Db("postgresql", pg_server, engine, make_session_factory(engine), config)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request) -> Db:
    """The test runs once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "pg_db")


# ------------------------------------------------------------------------- world


class World:
    """Areas, handlers and orders on a test database, and what ended up in it."""

    def __init__(self, db: Db) -> None:
        self.db = db
        self.clock = T0
        self._ref = 0
        for code, name, tier, parent in AREAS:
            add_area(db.uow(), code, name, tier, parent)

    def uow(self) -> UnitOfWork:
        return self.db.uow()

    def tick(self, **delta: float) -> datetime:
        self.clock += timedelta(**delta)
        return self.clock

    def handler(self, name: str = "王调解", **kw) -> int:
        data = dict(
            name=name, role="mediator", tier="grid", skills=["dispute.neighbor"],
            areas=[AREA_BY_TIER[kw.get("tier", "grid")]], capacity=5,
        )
        data.update(kw)
        return create_handler(self.uow(), HandlerCreate(**data), self.clock).id

    def order(self, **kw) -> OrderView:
        self._ref += 1
        data = dict(
            category="dispute.neighbor", description="楼上装修噪音很大，晚上十点以后还在施工。",
            location_text="幸福里小区3号楼", area_code="grid:qy-dz-01",
            reporter_channel="tg", reporter_ref=f"tg:{1000 + self._ref}",
        )
        data.update(kw)
        if "reporter_channel" not in kw:
            data["reporter_channel"] = data["reporter_ref"].partition(":")[0]
        return create_order(self.uow(), OrderCreate(**data), self.clock)

    # ---- what is in the database

    def row(self, number: str) -> WorkOrder:
        with self.db.session() as s:
            return s.scalars(select(WorkOrder).where(WorkOrder.number == number)).one()

    def events(self, number: str) -> list[OrderEvent]:
        with self.db.session() as s:
            order_id = s.scalar(select(WorkOrder.id).where(WorkOrder.number == number))
            return list(s.scalars(
                select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.seq)
            ))

    def actions(self, number: str) -> list[str]:
        return [e.action for e in self.events(number)]

    def outbox(self, number: str | None = None, **where) -> list[OutboxMessage]:
        with self.db.session() as s:
            stmt = select(OutboxMessage).order_by(OutboxMessage.id)
            if number is not None:
                stmt = stmt.where(OutboxMessage.order_number == number)
            for key, value in where.items():
                stmt = stmt.where(getattr(OutboxMessage, key) == value)
            return list(s.scalars(stmt))

    def count(self, model) -> int:
        with self.db.session() as s:
            return len(s.scalars(select(model)).all())


@pytest.fixture
def world(sqlite_db) -> World:
    return World(sqlite_db)


@pytest.fixture
def any_world(db) -> World:
    """A world on SQLite, then on PostgreSQL."""
    return World(db)


@pytest.fixture
def pg_world(pg_db) -> World:
    """A world on PostgreSQL only (row locks, SKIP LOCKED)."""
    return World(pg_db)
