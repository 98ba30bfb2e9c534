"""Domain events: facts the service turns into outbox notifications."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class DomainEvent:
    """Base of all domain events; each concerns one work order."""

    order_number: str


@dataclass(frozen=True)
class OrderAssigned(DomainEvent):
    """The order was given to a handler (notify them)."""

    handler_id: int


@dataclass(frozen=True)
class OrderQueued(DomainEvent):
    """Nobody is eligible at any tier: the order waits (notify the dispatcher)."""


@dataclass(frozen=True)
class StatusChanged(DomainEvent):
    """The status changed (notify the resident with the resident label)."""

    from_status: str
    to_status: str
    note: str | None = None


@dataclass(frozen=True)
class OrderEscalated(DomainEvent):
    """The order moved up to ``tier`` (notify that tier's supervisor)."""

    tier: str


@dataclass(frozen=True)
class OrderOverdue(DomainEvent):
    """A time limit passed: ``limit`` is ``'accept'`` or ``'resolve'``."""

    limit: str
    due_at: datetime


@dataclass(frozen=True)
class FollowUpRequested(DomainEvent):
    """Ask the resident whether they are satisfied (回访)."""
