"""Fixtures of the API tests: an API on SQLite, on PostgreSQL, or on both.

The databases come from the persistence tests' fixtures (imported below, so
they are registered here too); ``api_support`` has the harness and the world.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api_support import Api, make_api
from tests.app.workorders.conftest import (  # noqa: F401  (fixtures reused by import)
    config,
    db,
    pg_admin_url,
    pg_db,
    pg_server,
    sqlite_db,
    sqlite_template,
    taxonomy,
    vault,
)


@pytest.fixture
def api(sqlite_db) -> Iterator[Api]:
    """The API on a fresh SQLite database."""
    yield from make_api(sqlite_db)


@pytest.fixture
def any_api(db) -> Iterator[Api]:
    """The API on SQLite, then on PostgreSQL."""
    yield from make_api(db)
