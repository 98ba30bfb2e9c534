"""Fixtures of the API tests: an API on SQLite, on PostgreSQL, or on both.

The databases come from the persistence tests' fixtures (imported below, so
they are registered here too); ``api_support`` has the harness and the world:

    service        the action server (settings.service_token)
    admin          all orders
    dispatcher     东镇 (township:qy-dz): grids qy-dz-01 and qy-dz-02
    far_dispatcher 西镇 (township:qy-xz): none of the world's orders
    supervisor     read-only, everything
    handler        王调解 (mediator, qy-dz-01), gets the first dispute
    handler2       李调解 (mediator, qy-dz-01)
    worker         张网格 (grid worker, qy-dz-01), every incident category
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


@pytest.fixture
def pg_api(pg_db) -> Iterator[Api]:
    yield from make_api(pg_db)
