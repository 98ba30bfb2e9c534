"""The three dispatch policies compared by the benchmark.

Each policy gets the order and a snapshot of every handler (the domain's
``HandlerState``) and returns the domain's ``DispatchDecision``. A queued
decision keeps the order where it was; the engine ignores its tier.

- ``workload``: the product's policy, the domain's ``plan`` as is.
- ``round_robin``: what Zammad's and osTicket's auto-assignment do: the next
  eligible handler in turn, blind to load and capacity.
- ``random``: a uniformly random eligible handler, blind to load and capacity.

"Eligible" for the two baselines is the domain's ``is_eligible`` with the
capacity check switched off (role, skill, area at the tier, on duty, not a
decliner); they walk the tiers upwards like ``plan`` and only queue when
nobody at all is eligible.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from integrations.workorders.domain import (
    DispatchDecision,
    HandlerState,
    OrderToDispatch,
    Taxonomy,
    is_eligible,
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
    pool = [h for h in handlers if is_eligible(replace(h, load=0), order, tier, role)]
    return sorted(pool, key=lambda h: h.id)


def _queued(order: OrderToDispatch) -> DispatchDecision:
    return DispatchDecision(handler_id=None, tier=order.tier)


class WorkloadPolicy:
    """Lowest load/capacity with room, the domain's tie-breaks, tier fallback, queueing."""

    name = "workload"

    def decide(self, order: OrderToDispatch, handlers: Sequence[HandlerState],
               taxonomy: Taxonomy) -> DispatchDecision:
        return plan(order, handlers, taxonomy)


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


POLICY_NAMES = ("workload", "round_robin", "random")


def make_policy(name: str, seed: int) -> Policy:
    """A fresh policy (its own state) by name."""
    if name == "workload":
        return WorkloadPolicy()
    if name == "round_robin":
        return RoundRobinPolicy()
    if name == "random":
        return RandomPolicy(seed)
    raise ValueError(f"unknown policy {name!r}")
