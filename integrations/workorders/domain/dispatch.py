"""Dispatch by workload (DESIGN.md): who gets a work order, as pure functions.

The service builds ``HandlerState`` snapshots under its locks, calls ``plan``
and applies the decision in the same transaction, so the capacity check here
holds when the row is written. The invariant, with the product's
``URGENT_RULE``: a normal order never takes anyone over capacity (nor into a
county handler's last 3 units, kept for urgent orders), and nobody is ever
over capacity by more than one urgent order.
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

    ``over_capacity``: an urgent order given to a handler without room for it
    (``UrgentRule.overflow``); the assignment takes them over capacity.
    """

    handler_id: int | None
    tier: str
    over_capacity: bool = False

    @property
    def queued(self) -> bool:
        """True when the order must wait as pending."""
        return self.handler_id is None


@dataclass(frozen=True)
class UrgentRule:
    """What dispatch does so that an urgent order does not wait for capacity.

    ``reserve``: tier -> R: at that tier a normal order needs room below the
    last R units, load + 1 <= capacity - R (the units are kept free for
    urgent orders); urgent orders may use them. ``overflow``: an urgent order
    that finds nobody with room at any tier goes, at the lowest tier from its
    own upwards that has one, to the handler with the lowest load ratio among
    those eligible but for room who are not over capacity (load <= capacity,
    capacity > 0), even if it takes them over: so a handler exceeds capacity
    by at most one urgent order, and normal orders never take anyone over.
    """

    reserve: Mapping[str, int] = field(default_factory=dict)
    overflow: bool = False

    def __post_init__(self) -> None:
        reserve = {str(t): r for t, r in dict(self.reserve).items() if r}
        if any(isinstance(r, bool) or not isinstance(r, int) or r < 0 for r in reserve.values()):
            raise ValueError("reserve must map tiers to non-negative integers")
        object.__setattr__(self, "reserve", MappingProxyType(reserve))

    def __hash__(self) -> int:
        return hash((tuple(sorted(self.reserve.items())), self.overflow))

    def reserved_at(self, tier: str) -> int:
        """Units of each handler at ``tier`` that normal orders may not use."""
        return self.reserve.get(tier, 0)


#: No urgent rule: an urgent order needs 3 free units like any order needs its
#: weight, and waits as pending otherwise (the rule before the simulation
#: showed urgent orders starving; kept for the comparison).
NO_URGENT_RULE = UrgentRule()

#: The product's rule, chosen by simulation (``make bench-dispatch``; README,
#: "Dispatch"): the county keeps room for one urgent order (normal orders may
#: not use a county handler's last 3 units), and an urgent order nobody has
#: room for goes over capacity, by one urgent order at most.
URGENT_RULE = UrgentRule(reserve={"county": WEIGHTS[Priority.URGENT]}, overflow=True)


def is_candidate(handler: HandlerState, order: OrderToDispatch, tier: str, role: str) -> bool:
    """Eligible but for load: role, skill, area at ``tier``, on duty, not a decliner."""
    area = order.area_by_tier.get(tier)
    return (
        handler.role == role
        and order.category in handler.skills
        and handler.tier == tier
        and area is not None
        and area in handler.areas
        and handler.on_duty
        and handler.id not in order.declined_by
    )


def has_room(handler: HandlerState, order: OrderToDispatch,
             rule: UrgentRule = URGENT_RULE) -> bool:
    """load + weight <= capacity, less the reserve of their tier for a normal order."""
    reserved = 0 if order.priority is Priority.URGENT else rule.reserved_at(handler.tier)
    return handler.load + order.weight <= handler.capacity - reserved


def may_overflow(handler: HandlerState, order: OrderToDispatch) -> bool:
    """An urgent order may take ``handler`` over capacity: they are not over it already."""
    return (order.priority is Priority.URGENT
            and handler.capacity > 0 and handler.load <= handler.capacity)


def is_eligible(handler: HandlerState, order: OrderToDispatch, tier: str, role: str,
                rule: UrgentRule = URGENT_RULE) -> bool:
    """Whether ``handler`` may take ``order`` at ``tier`` with room (``role`` = the kind's role)."""
    return is_candidate(handler, order, tier, role) and has_room(handler, order, rule)


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
    order: OrderToDispatch, handlers: Iterable[HandlerState], role: str, tier: str,
    rule: UrgentRule = URGENT_RULE,
) -> HandlerState | None:
    """The eligible handler at ``tier`` with the lowest load/capacity, or None.

    Ties: fewer assignments in the last 24 h, then longest since the last
    assignment (never assigned first), then lowest id. The result does not
    depend on the order of ``handlers``.
    """
    eligible = [h for h in handlers if is_eligible(h, order, tier, role, rule)]
    return min(eligible, key=_rank, default=None)


def choose_overflow(
    order: OrderToDispatch, handlers: Iterable[HandlerState], role: str, tier: str
) -> HandlerState | None:
    """For an urgent order nobody has room for: the candidate at ``tier`` not over
    capacity with the lowest load/capacity (the same tie-breaks), or None."""
    allowed = [h for h in handlers
               if is_candidate(h, order, tier, role) and may_overflow(h, order)]
    return min(allowed, key=_rank, default=None)


def plan(
    order: OrderToDispatch, handlers: Iterable[HandlerState], taxonomy: Taxonomy,
    rule: UrgentRule = URGENT_RULE,
) -> DispatchDecision:
    """Try the order's tier, then each higher tier; then, for an urgent order and a
    rule with ``overflow``, the same tiers over capacity; see ``DispatchDecision``.

    Raises ``UnknownKind``, ``UnknownCategory`` or ``UnknownTier`` for an order
    the taxonomy does not know, and ``UnknownTier`` for a rule reserving units
    at a tier it does not have.
    """
    role = taxonomy.handler_role(order.kind)
    taxonomy.category(order.category)
    if order.tier not in taxonomy.tiers:
        raise UnknownTier(order.tier)
    for reserved_tier in rule.reserve:
        if reserved_tier not in taxonomy.tiers:
            raise UnknownTier(reserved_tier)  # a rule for other tiers would do nothing
    handlers = tuple(handlers)
    tiers = taxonomy.tiers[taxonomy.tiers.index(order.tier):]
    for tier in tiers:
        chosen = choose(order, handlers, role, tier, rule)
        if chosen is not None:
            return DispatchDecision(handler_id=chosen.id, tier=tier)
    if rule.overflow and order.priority is Priority.URGENT:
        for tier in tiers:
            chosen = choose_overflow(order, handlers, role, tier)
            if chosen is not None:
                return DispatchDecision(handler_id=chosen.id, tier=tier, over_capacity=True)
    return DispatchDecision(handler_id=None, tier=taxonomy.tiers[-1])
