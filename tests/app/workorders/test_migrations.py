"""Schema only through Alembic: upgrade and downgrade on both engines; schema == metadata."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from integrations.telegram.tables import ChannelBase
from integrations.workorders.adapters.base import Base
from integrations.workorders.adapters.db import downgrade, migrate, normalize_url
from integrations.workorders.adapters.orm import HANDLER_ROLES, KINDS

REPO_ROOT = Path(__file__).resolve().parents[3]
ALL_TABLES = {"areas", "area_aliases", "handlers", "work_orders", "order_events",
              "order_declines", "staff_users", "outbox", "callback_requests"}
ALL_TABLES |= {"telegram_link_codes", "telegram_link_attempts", "telegram_updates",
               "telegram_pending_inputs", "telegram_unreachable"}
ALL_TABLES |= {"attachments"}
ALL_TABLES |= {"request_keys"}
ALL_TABLES |= {"console_sessions", "sign_in_failures"}
ALL_TABLES |= {"staff_access_log"}
ALL_TABLES |= {"audit_checks"}
ALL_TABLES |= {"warnings", "warning_orders", "warning_events", "weekly_reports", "scan_cursors"}
ALL_TABLES |= {"conversation_events", "conversations"}


def schema_diff(url: str) -> list:
    engine = create_engine(normalize_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, [Base.metadata, ChannelBase.metadata])
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = create_engine(normalize_url(url), poolclass=NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return request.getfixturevalue("pg_empty_url")


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


# ---------------------------------------------------------------- 0005: kinds and roles

def _order_row(kind: str, number: str) -> dict:
    now = "2025-03-03 01:00:00"
    return {
        "number": number, "kind": kind, "category": f"{kind}.x", "priority": "normal",
        "description": "d", "location_text": "l", "area_code": "grid:x",
        "reporter_channel": "web", "reporter_ref": "web:1", "anonymous": False,
        "tier": "grid", "status": "pending", "resolve_by": now, "breached": False,
        "created_at": now, "updated_at": now, "head_hash": "0" * 64, "event_seq": 0,
        "version": 1,
    }


def _handler_row(role: str) -> dict:
    return {"name_enc": "n", "role": role, "skills": "[]", "areas": "[]", "tier": "grid",
            "capacity": 1, "on_duty": True, "is_supervisor": False,
            "created_at": "2025-03-03 01:00:00", "version": 1}


def _insert(url: str, table: str, row: dict) -> None:
    columns = ", ".join(row)
    values = ", ".join(f":{k}" for k in row)
    engine = create_engine(normalize_url(url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({values})"), row)
    finally:
        engine.dispose()


def test_0005_allows_the_request_kind_and_staff_role_and_nothing_unknown(empty_url):
    migrate(empty_url)
    _insert(empty_url, "areas", {"code": "grid:x", "name": "x", "tier": "grid",
                                 "fallback": False})
    for number, kind in (("10000004", "dispute"), ("10000012", "incident"),
                         ("10000020", "request")):
        _insert(empty_url, "work_orders", _order_row(kind, number))
    for role in ("mediator", "grid_worker", "staff"):
        _insert(empty_url, "handlers", _handler_row(role))
    with pytest.raises(IntegrityError, match="ck_work_orders_kind|CHECK constraint failed"):
        _insert(empty_url, "work_orders", _order_row("complaint", "10000038"))
    with pytest.raises(IntegrityError, match="ck_handlers_role|CHECK constraint failed"):
        _insert(empty_url, "handlers", _handler_row("clerk"))

    # down to 0004 the rows stay and nothing checks kinds and roles; up again refuses
    # a database holding a kind it does not know, and changes nothing
    downgrade(empty_url, "0004_telegram")
    _insert(empty_url, "work_orders", _order_row("complaint", "10000038"))
    with pytest.raises(IntegrityError):
        migrate(empty_url)
    assert "ck_work_orders_kind" not in _check_names(empty_url, "work_orders")
    engine = create_engine(normalize_url(empty_url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM work_orders WHERE kind = 'complaint'"))
            assert conn.scalar(text("SELECT version_num FROM alembic_version")) == "0004_telegram"
    finally:
        engine.dispose()
    migrate(empty_url)
    assert schema_diff(empty_url) == []
    assert _column(empty_url, "SELECT kind FROM work_orders ORDER BY number") == [
        "dispute", "incident", "request"]
    assert _column(empty_url, "SELECT role FROM handlers ORDER BY id") == [
        "mediator", "grid_worker", "staff"]
    assert "ck_work_orders_kind" in _check_names(empty_url, "work_orders")
    assert "ck_handlers_role" in _check_names(empty_url, "handlers")


def _column(url: str, query: str) -> list:
    engine = create_engine(normalize_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(text(query)))
    finally:
        engine.dispose()


def _check_names(url: str, table: str) -> set[str]:
    engine = create_engine(normalize_url(url), poolclass=NullPool)
    try:
        return {c["name"] for c in inspect(engine).get_check_constraints(table)}
    finally:
        engine.dispose()


def test_the_schema_allows_exactly_the_taxonomys_kinds_and_roles(taxonomy):
    assert set(KINDS) == set(taxonomy.kinds)
    assert set(HANDLER_ROLES) == set(taxonomy.kinds.values())
