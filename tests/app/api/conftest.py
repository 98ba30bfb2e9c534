"""Fixtures of the API tests: an API on SQLite, on PostgreSQL, or on both.

The databases come from tests/app/conftest.py; ``api_support`` has the
harness and the world.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_support import Api, make_api


@pytest.fixture
def api(sqlite_db) -> Iterator[Api]:
    """The API on a fresh SQLite database."""
    yield from make_api(sqlite_db)


@pytest.fixture
def any_api(db) -> Iterator[Api]:
    """The API on SQLite, then on PostgreSQL."""
    yield from make_api(db)
