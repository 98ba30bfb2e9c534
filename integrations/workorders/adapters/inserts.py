"""``INSERT ... ON CONFLICT DO NOTHING RETURNING id``: one row unless a unique key is taken.

Used where two processes may insert the same thing at once (an order's number
or client_ref, a resident's photo, a warning's dedupe key): PostgreSQL waits
for the concurrent insert and then does nothing, SQLite's writers take turns.
Other engines: a plain insert in a savepoint of its own (the session is not
flushed), an ``IntegrityError`` meaning the key is taken.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

_INSERTS: dict[str, Callable[[Table], postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert, "sqlite": sqlite.insert,
}


def insert_unless_taken(session: Session, table: Table, row: Mapping[str, Any]) -> int | None:
    """Insert ``row`` into ``table``; its new id, or None if a unique key of it is taken."""
    dialect = session.get_bind().dialect.name
    if dialect in _INSERTS:
        return session.execute(_statement(dialect, table), dict(row)).scalar()
    connection = session.connection()
    try:
        with connection.begin_nested():
            result = connection.execute(insert(table), dict(row))
    except IntegrityError:
        return None
    key = result.inserted_primary_key
    assert key is not None  # a single-row INSERT always has one
    return int(key[0])


@functools.cache
def _statement(dialect: str, table: Table) -> ReturningInsert[int]:
    """The statement for ``dialect`` and ``table``, built once."""
    return _INSERTS[dialect](table).on_conflict_do_nothing().returning(table.c.id)
