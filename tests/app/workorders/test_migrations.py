"""Schema only through Alembic: upgrade and downgrade on both engines; schema == metadata."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.pool import NullPool

from integrations.workorders.adapters import channel_tables  # noqa: F401  (on Base too)
from integrations.workorders.adapters.base import Base
from integrations.workorders.adapters.db import downgrade, migrate, normalize_url

REPO_ROOT = Path(__file__).resolve().parents[3]
ALL_TABLES = {"areas", "area_aliases", "handlers", "work_orders", "order_events",
              "order_declines", "staff_users", "outbox", "callback_requests"}
ALL_TABLES |= {"telegram_link_codes", "telegram_link_attempts", "telegram_updates",
               "telegram_pending_inputs", "telegram_unreachable"}
ALL_TABLES |= {"attachments"}


def schema_diff(url: str) -> list:
    engine = create_engine(normalize_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = create_engine(normalize_url(url), poolclass=NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture
def empty_pg(pg_server, pg_admin_url):
    """An empty schema-less database next to the session's one."""
    name = pg_server.rsplit("/", 1)[1] + "_mig"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_server.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return request.getfixturevalue("empty_pg")


def test_upgrade_to_head_matches_the_models_and_downgrades_to_base(empty_url):
    migrate(empty_url)
    assert ALL_TABLES | {"alembic_version"} == tables(empty_url)
    assert schema_diff(empty_url) == []
    downgrade(empty_url, "base")
    assert tables(empty_url) <= {"alembic_version"}
    migrate(empty_url)  # and up again
    assert schema_diff(empty_url) == []


def test_alembic_cli_takes_the_url_from_x_option(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"url={url}", "upgrade", "head"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert ALL_TABLES <= tables(url)
