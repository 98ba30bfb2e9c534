"""Dispatch by workload (DESIGN.md): who gets a work order, as pure functions.

The service builds ``HandlerState`` snapshots under its locks, calls ``plan``
and applies the decision in the same transaction, so the capacity check here
holds when the row is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from types import MappingProxyType

from .errors import UnknownTier
from .taxonomy import Priority, Taxonomy

#: Load weight of one open order by priority.
WEIGHTS: Mapping[Priority, int] = MappingProxyType({Priority.NORMAL: 1, Priority.URGENT: 3})


def order_weight(priority: Priority | str) -> int:
    """Load an order adds to its handler: urgent 3, normal 1; raise ``UnknownPriority``."""
    return WEIGHTS[Priority.parse(priority)]


@dataclass(frozen=True)
class HandlerState:
    """A snapshot of one handler for dispatching.

    ``load`` is the sum of weights of their open orders; ``last_assigned_at``
    is None if they were never assigned (which counts as longest ago).
    """

    id: int
    role: str
    skills: frozenset[str]
    areas: frozenset[str]
    tier: str
    capacity: int
    on_duty: bool
    load: int
    assigned_last_24h: int
    last_assigned_at: datetime | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "skills", frozenset(self.skills))
        object.__setattr__(self, "areas", frozenset(self.areas))
        if self.capacity < 0 or self.load < 0 or self.assigned_last_24h < 0:
            raise ValueError("capacity, load and assigned_last_24h must not be negative")
        at = self.last_assigned_at
        if at is not None and (at.tzinfo is None or at.utcoffset() is None):
            raise ValueError("last_assigned_at must be timezone-aware")


@dataclass(frozen=True)
class OrderToDispatch:
    """What dispatch needs to know about an order.

    ``area_by_tier`` maps each tier to the order's area code at that tier, e.g.
    ``{'grid': 'G-01', 'township': 'T-01', 'county': 'C-01'}``; ``tier`` is the
    tier it is currently at; ``declined_by`` the handler ids who declined it.
    """

    kind: str
    category: str
    priority: Priority
    area_by_tier: Mapping[str, str]
    tier: str
    declined_by: frozenset[int] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        object.__setattr__(self, "priority", Priority.parse(self.priority))
        object.__setattr__(self, "area_by_tier", MappingProxyType(dict(self.area_by_tier)))
        object.__setattr__(self, "declined_by", frozenset(self.declined_by))

    @property
    def weight(self) -> int:
        """Load this order adds: urgent 3, normal 1."""
        return order_weight(self.priority)


@dataclass(frozen=True)
class DispatchDecision:
    """Outcome of ``plan``: a handler and the tier they were found at.

    ``handler_id`` None means nobody is eligible at any tier from the order's
    tier up: the order waits as ``pending`` and ``tier`` is the top tier. Keep
    the order's own tier in that case, so that a later re-plan tries the lower
    tiers again once their capacity frees.
    """

    handler_id: int | None
    tier: str

    @property
    def queued(self) -> bool:
        """True when the order must wait as pending."""
        return self.handler_id is None


def is_eligible(handler: HandlerState, order: OrderToDispatch, tier: str, role: str) -> bool:
    """Whether ``handler`` may take ``order`` at ``tier`` (``role`` = the kind's handler role)."""
    area = order.area_by_tier.get(tier)
    return (
        handler.role == role
        and order.category in handler.skills
        and handler.tier == tier
        and area is not None
        and area in handler.areas
        and handler.on_duty
        and handler.id not in order.declined_by
        and handler.load + order.weight <= handler.capacity
    )


def _rank(handler: HandlerState) -> tuple[Fraction, int, bool, datetime | None, int]:
    """Sort key, best first: load ratio, assignments in 24 h, longest idle, id."""
    never = handler.last_assigned_at is None  # never assigned sorts first
    return (
        Fraction(handler.load, handler.capacity),
        handler.assigned_last_24h,
        not never,
        handler.last_assigned_at,
        handler.id,
    )


def choose(
    order: OrderToDispatch, handlers: Iterable[HandlerState], role: str, tier: str
) -> HandlerState | None:
    """The eligible handler at ``tier`` with the lowest load/capacity, or None.

    Ties: fewer assignments in the last 24 h, then longest since the last
    assignment (never assigned first), then lowest id. The result does not
    depend on the order of ``handlers``.
    """
    eligible = [h for h in handlers if is_eligible(h, order, tier, role)]
    return min(eligible, key=_rank, default=None)


def plan(
    order: OrderToDispatch, handlers: Iterable[HandlerState], taxonomy: Taxonomy
) -> DispatchDecision:
    """Try the order's tier, then each higher tier; see ``DispatchDecision``.

    Raises ``UnknownKind``, ``UnknownCategory`` or ``UnknownTier`` for an order
    the taxonomy does not know.
    """
    role = taxonomy.handler_role(order.kind)
    taxonomy.category(order.category)
    if order.tier not in taxonomy.tiers:
        raise UnknownTier(order.tier)
    handlers = tuple(handlers)
    for tier in taxonomy.tiers[taxonomy.tiers.index(order.tier):]:
        chosen = choose(order, handlers, role, tier)
        if chosen is not None:
            return DispatchDecision(handler_id=chosen.id, tier=tier)
    return DispatchDecision(handler_id=None, tier=taxonomy.tiers[-1])
