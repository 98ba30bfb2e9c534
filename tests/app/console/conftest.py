"""Fixtures of the console's tests (without a browser; the browser tests are in ``browser/``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.app.console.console_support import Console, make_console


@pytest.fixture
def console(sqlite_db) -> Iterator[Console]:
    """The console (and the API) on a fresh SQLite database, every account with a password."""
    yield from make_console(sqlite_db)


@pytest.fixture
def any_console(db) -> Iterator[Console]:
    """The console on SQLite, then on PostgreSQL."""
    yield from make_console(db)
