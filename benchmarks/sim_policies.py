"""The dispatch policies compared by the benchmark.

Each policy gets the order and a snapshot of every handler (the domain's
``HandlerState``) and returns the domain's ``DispatchDecision``. A queued
decision keeps the order where it was; the engine ignores its tier.

- ``workload``: the product's policy, the domain's ``plan`` as is (with the
  product's ``URGENT_RULE``).
- ``workload_before``: the same without an urgent rule (``NO_URGENT_RULE``):
  an urgent order waits as pending until someone has 3 free units, as it did
  before the simulation showed urgent orders starving.
- ``RULE_VARIANTS``: the workload policy with each urgent rule the
  comparison tried, named after the rule.
- ``round_robin``: what Zammad's and osTicket's auto-assignment do: the next
  eligible handler in turn, blind to load and capacity.
- ``random``: a uniformly random eligible handler, blind to load and capacity.

"Eligible" for the two baselines is the domain's ``is_candidate``, i.e.
``is_eligible`` without the capacity check (role, skill, area at the tier,
on duty, not a decliner); they walk the tiers upwards like ``plan`` and only queue when
nobody at all is eligible.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol

from integrations.workorders.domain import (
    NO_URGENT_RULE,
    URGENT_RULE,
    DispatchDecision,
    HandlerState,
    OrderToDispatch,
    Taxonomy,
    UrgentRule,
    is_candidate,
    plan,
)


class Policy(Protocol):
    name: str

    def decide(self, order: OrderToDispatch, handlers: Sequence[HandlerState],
               taxonomy: Taxonomy) -> DispatchDecision: ...


def tiers_from(taxonomy: Taxonomy, tier: str) -> tuple[str, ...]:
    """``tier`` and every tier above it."""
    return taxonomy.tiers[taxonomy.tiers.index(tier):]


def eligible_ignoring_load(order: OrderToDispatch, handlers: Sequence[HandlerState],
                           tier: str, role: str) -> list[HandlerState]:
    """Handlers eligible at ``tier`` if load did not matter, by id."""
    pool = [h for h in handlers if is_candidate(h, order, tier, role)]
    return sorted(pool, key=lambda h: h.id)


def _queued(order: OrderToDispatch) -> DispatchDecision:
    return DispatchDecision(handler_id=None, tier=order.tier)


class WorkloadPolicy:
    """Lowest load/capacity with room, the domain's tie-breaks, tier fallback, queueing,
    and ``rule`` for urgent orders (the product's ``URGENT_RULE`` by default)."""

    def __init__(self, rule: UrgentRule = URGENT_RULE, name: str = "workload") -> None:
        self.rule, self.name = rule, name

    def decide(self, order: OrderToDispatch, handlers: Sequence[HandlerState],
               taxonomy: Taxonomy) -> DispatchDecision:
        return plan(order, handlers, taxonomy, self.rule)


class RoundRobinPolicy:
    """The next eligible handler after the last one picked, per (role, tier, area) group."""

    name = "round_robin"

    def __init__(self) -> None:
        self._last: dict[tuple[str, str, str], int] = {}

    def decide(self, order: OrderToDispatch, handlers: Sequence[HandlerState],
               taxonomy: Taxonomy) -> DispatchDecision:
        role = taxonomy.handler_role(order.kind)
        for tier in tiers_from(taxonomy, order.tier):
            pool = eligible_ignoring_load(order, handlers, tier, role)
            if pool:
                group = (role, tier, order.area_by_tier[tier])
                last = self._last.get(group, 0)
                chosen = next((h for h in pool if h.id > last), pool[0])
                self._last[group] = chosen.id
                return DispatchDecision(handler_id=chosen.id, tier=tier)
        return _queued(order)


class RandomPolicy:
    """A uniformly random eligible handler at the lowest tier that has one."""

    name = "random"

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"{seed}/random-policy")

    def decide(self, order: OrderToDispatch, handlers: Sequence[HandlerState],
               taxonomy: Taxonomy) -> DispatchDecision:
        role = taxonomy.handler_role(order.kind)
        for tier in tiers_from(taxonomy, order.tier):
            pool = eligible_ignoring_load(order, handlers, tier, role)
            if pool:
                return DispatchDecision(handler_id=self._rng.choice(pool).id, tier=tier)
        return _queued(order)


#: The benchmark's main table: the product's rule, the rule before it, two baselines.
POLICY_NAMES = ("workload", "workload_before", "round_robin", "random")

#: Urgent rules the comparison tried (``make bench-dispatch``): the workload
#: policy with each. Reserve: units of each handler at a tier that normal
#: orders may not use (g/t/c: grid, township, county); overflow: an urgent
#: order nobody has room for goes over capacity, by one urgent order at most.
RULE_VARIANTS: dict[str, UrgentRule] = {
    "before": NO_URGENT_RULE,
    "reserve-c3": UrgentRule(reserve={"county": 3}),
    "reserve-t3c3": UrgentRule(reserve={"township": 3, "county": 3}),
    "reserve-all1": UrgentRule(reserve={"grid": 1, "township": 1, "county": 1}),
    "reserve-all3": UrgentRule(reserve={"grid": 3, "township": 3, "county": 3}),
    "overflow": UrgentRule(overflow=True),
    "overflow+reserve-c2": UrgentRule(reserve={"county": 2}, overflow=True),
    "overflow+reserve-c3": UrgentRule(reserve={"county": 3}, overflow=True),
    "overflow+reserve-c4": UrgentRule(reserve={"county": 4}, overflow=True),
    "overflow+reserve-g1c3": UrgentRule(reserve={"grid": 1, "county": 3}, overflow=True),
    "overflow+reserve-all1": UrgentRule(reserve={"grid": 1, "township": 1, "county": 1},
                                        overflow=True),
}


def describe(rule: UrgentRule) -> str:
    """``rule`` in words, e.g. 'reserve county 3, overflow'."""
    parts = []
    if rule.reserve:
        parts.append("reserve " + ", ".join(f"{t} {units}" for t, units in rule.reserve.items()))
    if rule.overflow:
        parts.append("overflow")
    return ", ".join(parts) or "none (urgent orders wait for 3 free units)"


def make_policy(name: str, seed: int) -> Policy:
    """A fresh policy (its own state) by name: ``POLICY_NAMES`` or ``RULE_VARIANTS``."""
    if name == "workload":
        return WorkloadPolicy()
    if name == "workload_before":
        return WorkloadPolicy(NO_URGENT_RULE, name)
    if name in RULE_VARIANTS:
        return WorkloadPolicy(RULE_VARIANTS[name], name)
    if name == "round_robin":
        return RoundRobinPolicy()
    if name == "random":
        return RandomPolicy(seed)
    raise ValueError(f"unknown policy {name!r}")
