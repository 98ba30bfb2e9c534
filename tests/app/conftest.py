"""Fixtures shared by the application-side tests: the databases and the world on them.

SQLite: the schema is migrated once per session into a template file; each
test gets a copy. PostgreSQL: one server, given by ``TEST_POSTGRES_URL`` (its
maintenance database, default postgresql://postgres@127.0.0.1:5432/test; the
benchmarks read the same variable). ``pg_server`` is a database with a random
name, migrated once per session (per xdist worker), truncated before each test
(``pg_db``) and dropped at the end; ``pg_empty_url`` is an empty database for
one test. Without a server the PostgreSQL tests skip and say why; under
``CI=true`` they fail instead, so that CI never passes without the
concurrency proofs.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from integrations.shared.privacy import EXAMPLE_KEY, Vault
from integrations.workorders.adapters.db import make_engine, make_session_factory, migrate
from integrations.workorders.adapters.taxonomy_file import load_taxonomy
from integrations.workorders.service import ServiceConfig
from tests.app.world import REPO_ROOT, Db, World
from tools.pg import temporary_database

PG_URL_VARIABLE = "TEST_POSTGRES_URL"
PG_DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def pg_admin_url_from_env() -> str:
    """The server's maintenance database, as psycopg takes it (no SQLAlchemy driver suffix)."""
    url = os.environ.get(PG_URL_VARIABLE, "").strip() or PG_DEFAULT_URL
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``-n 2 --dist loadscope`` (make test-app), with tests/app/e2e on one worker and the
    stacks first (tests/app/xdist_schedule.py)."""
    if config.getoption("dist") != "loadscope":
        return None
    from tests.app.xdist_schedule import StackScheduling

    return StackScheduling(config, log)


# ------------------------------------------------------------------ service config


@pytest.fixture(scope="session")
def taxonomy():
    return load_taxonomy(REPO_ROOT / "taxonomy.yml")


@pytest.fixture(scope="session")
def vault():
    return Vault(EXAMPLE_KEY)


@pytest.fixture(scope="session")
def config(taxonomy, vault):
    return ServiceConfig(taxonomy=taxonomy, vault=vault)


# ------------------------------------------------------------------------ SQLite


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_db(sqlite_template, tmp_path, config) -> Iterator[Db]:
    """A fresh migrated SQLite file."""
    path = tmp_path / "workorders.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url, pool_size=30, max_overflow=30)
    try:
        yield Db("sqlite", url, engine, make_session_factory(engine), config)
    finally:
        engine.dispose()


# -------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """The PostgreSQL server's maintenance database (where test databases are created).

    Skips with the reason when the server does not answer; fails under CI=true.
    """
    url = pg_admin_url_from_env()
    try:
        with psycopg.connect(url, connect_timeout=3):
            pass
    except psycopg.Error as exc:
        reason = (f"PostgreSQL not reachable at {url} ({str(exc).strip()}); "
                  f"start it or set {PG_URL_VARIABLE}")
        if in_ci():
            pytest.fail(f"{reason}. CI=true: the PostgreSQL tests (row locks, concurrency "
                        "proofs) must run, so this is a failure, not a skip", pytrace=False)
        pytest.skip(reason)
    return url


@pytest.fixture
def pg_empty_url(pg_admin_url) -> Iterator[str]:
    """An empty database (no schema) for one test."""
    with temporary_database(pg_admin_url, "wo_empty") as url:
        yield url


@pytest.fixture(scope="session")
def pg_server(pg_admin_url) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session; its URL."""
    with temporary_database(pg_admin_url, "wo_test") as url:
        migrate(url)
        yield url


@pytest.fixture
def pg_db(pg_server, config) -> Iterator[Db]:
    """The session's PostgreSQL database, emptied (every table but Alembic's)."""
    engine = make_engine(pg_server, pool_size=30, max_overflow=30)
    with engine.begin() as conn:
        tables = conn.scalars(text(
            "SELECT quote_ident(tablename) FROM pg_tables "
            "WHERE schemaname = current_schema() AND tablename <> 'alembic_version'")).all()
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    try:
        yield Db("postgresql", pg_server, engine, make_session_factory(engine), config)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request) -> Db:
    """The test runs once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "pg_db")


# ------------------------------------------------------------------------- world


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
