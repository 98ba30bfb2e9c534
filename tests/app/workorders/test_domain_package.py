"""The domain package: standard library only, no clock, small immutable events."""

import ast
import dataclasses
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

import integrations.workorders.domain as domain
from integrations.workorders.domain import (
    DomainEvent,
    FollowUpRequested,
    OrderAssigned,
    OrderEscalated,
    OrderOverdue,
    OrderQueued,
    StatusChanged,
)

PACKAGE = Path(domain.__file__).parent
MODULES = sorted(PACKAGE.glob("*.py"))


def imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_imports_only_the_standard_library(path):
    for name in imports(path):
        top = name.split(".")[0]
        assert top == "__future__" or top in sys.stdlib_module_names, (path.name, name)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_never_reads_the_clock(path):
    source = path.read_text(encoding="utf-8")
    for call in ("now(", "utcnow(", "today(", "time.time(", "os.environ", "getenv("):
        assert call not in source, (path.name, call)


def test_public_names_are_exported():
    for name in domain.__all__:
        assert hasattr(domain, name), name


def test_events_are_small_frozen_values():
    due = datetime(2025, 3, 1, 8, 15, tzinfo=timezone.utc)
    events = [
        OrderAssigned("57401920", handler_id=7),
        OrderQueued("57401920"),
        StatusChanged("57401920", "assigned", "accepted"),
        OrderEscalated("57401920", tier="township"),
        OrderOverdue("57401920", limit="accept", due_at=due),
        FollowUpRequested("57401920"),
    ]
    for event in events:
        assert isinstance(event, DomainEvent)
        assert event.order_number == "57401920"
        with pytest.raises(dataclasses.FrozenInstanceError):
            event.order_number = "x"
    assert events[2].note is None
    assert OrderAssigned("1", 2) == OrderAssigned("1", 2)
    assert OrderQueued("1") != FollowUpRequested("1")
