"""Engines and transactions: SQLite pragmas and BEGIN IMMEDIATE, row locks and versions."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError

from integrations.workorders.adapters import store
from integrations.workorders.adapters.db import make_engine, normalize_url
from integrations.workorders.adapters.orm import Area, WorkOrder
from integrations.workorders.service import Conflict, accept


def test_sqlite_pragmas(sqlite_db):
    with sqlite_db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_sqlite_write_transactions_take_the_write_lock_at_begin(sqlite_db):
    path = sqlite_db.url.removeprefix("sqlite:///")
    other = sqlite3.connect(path, timeout=0.2, isolation_level=None)
    try:
        with sqlite_db.uow() as uow:
            uow.session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE happens here
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            # a reader is not blocked (WAL snapshot, deferred BEGIN)
            with sqlite_db.uow().read_only() as reader:
                assert reader.session.scalar(select(Area).limit(1)) is None
        other.execute("BEGIN IMMEDIATE")  # free again once the unit of work ended
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_sqlite_enforces_foreign_keys(world):
    order = world.order()
    with pytest.raises(IntegrityError):
        with world.db.engine.begin() as conn:
            conn.execute(text("UPDATE work_orders SET area_code = 'grid:none' WHERE number = :n"),
                         {"n": order.number})


def test_datetimes_are_aware_utc_and_naive_ones_refused(any_world):
    order = any_world.order()
    row = any_world.row(order.number)
    assert row.created_at.tzinfo is not None and row.created_at.utcoffset().total_seconds() == 0
    with any_world.db.session() as s:
        with pytest.raises(StatementError, match="naive datetime"):
            s.execute(select(WorkOrder).where(WorkOrder.created_at < datetime(2030, 1, 1))).all()
    with pytest.raises(ValueError, match="timezone-aware"):
        accept(any_world.uow(), order.number, 1, datetime(2025, 3, 3))


def test_postgres_urls_use_psycopg3():
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    engine = make_engine("postgresql://u@127.0.0.1:1/db")
    try:
        assert engine.dialect.driver == "psycopg"
    finally:
        engine.dispose()


def test_postgres_claim_skips_a_locked_order(pg_world):
    order = pg_world.order()
    with pg_world.uow() as holder:
        locked = store.lock_order(holder.session, order.number)
        assert locked is not None
        order_id = locked.id
        with pg_world.uow() as other:
            assert store.claim_order(other.session, order_id) is None  # skipped, not waited
    with pg_world.uow() as other:
        assert store.claim_order(other.session, order_id) is not None
        # a condition that no longer holds leaves it alone
        assert store.claim_order(other.session, order_id, WorkOrder.status == "closed") is None


def test_postgres_version_column_stops_a_lost_update(pg_world):
    """Without the row lock, the optimistic version still refuses the second writer."""
    order = pg_world.order()
    first, second = pg_world.uow(), pg_world.uow()
    with first:
        stale = store.order_by_number(first.session, order.number)  # no lock taken
        with second:
            fresh = store.order_by_number(second.session, order.number)
            fresh.description = "第二个事务的修改"
            second.commit()
        stale.description = "第一个事务的修改"
        with pytest.raises(Conflict):
            first.commit()
    assert pg_world.row(order.number).description == "第二个事务的修改"
