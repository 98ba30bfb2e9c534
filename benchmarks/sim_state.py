"""Mutable state of one simulation run, and what the run returns.

``HandlerRun`` and ``OrderRun`` belong to one ``Simulation`` (no sharing
between runs); ``Samples`` and ``RunResult`` are what metrics and the plot read.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from integrations.workorders.domain import Status, order_weight

from .sim_world import HandlerSpec, OrderSpec, World


@dataclass
class HandlerRun:
    """A handler's state during a run."""

    spec: HandlerSpec
    on_duty: bool = True
    open: dict[int, int] = field(default_factory=dict)  # order index -> weight
    queue: list[int] = field(default_factory=list)      # accepted, waiting for work
    current: int | None = None
    started_at: float = 0.0
    work_token: int = 0
    recent: deque[float] = field(default_factory=deque)  # assignment times, last 24 h
    last_assigned: float | None = None
    last_assigned_dt: tuple[float, datetime] | None = None  # cache of at(last_assigned)
    assignments: int = 0
    busy_minutes: float = 0.0  # hands-on work during the arrival window
    # what assignments did to capacity (checked exactly, not only at the samples)
    max_over: int = 0          # largest load - capacity right after an assignment
    normal_over: int = 0       # normal orders that left them over capacity
    urgent_over: int = 0       # urgent orders that left them over capacity

    @property
    def load(self) -> int:
        return sum(self.open.values())


@dataclass
class OrderRun:
    """An order's state and its history counters during a run."""

    spec: OrderSpec
    tier: str
    resolve_by: float | None
    status: Status = Status.NEW
    handler: int | None = None
    declined: set[int] = field(default_factory=set)
    token: int = 0            # bumped whenever the order leaves a handler
    deadline_token: int = 0   # bumped whenever resolve_by is renewed
    remaining: float = 0.0    # work left with the current handler
    pending_since: float | None = None
    pending_minutes: float = 0.0
    first_accepted: float | None = None
    resolved_at: float | None = None
    assignments: int = 0
    accept_timeouts: int = 0
    breaches: int = 0
    declines: int = 0
    decline_resets: int = 0
    queued: int = 0           # times it went to the pending queue
    offers: dict[int, int] = field(default_factory=dict)  # handler -> offers so far

    @property
    def weight(self) -> int:
        return order_weight(self.spec.priority)


@dataclass(frozen=True)
class Samples:
    """Every ``SAMPLE_EVERY_MINUTES`` during the arrival window: loads and duty, by handler."""

    times: tuple[float, ...]
    loads: tuple[tuple[int, ...], ...]
    on_duty: tuple[tuple[bool, ...], ...]


@dataclass(frozen=True)
class RunResult:
    policy: str
    world: World
    orders: tuple[OrderRun, ...]
    handlers: tuple[HandlerRun, ...]
    samples: Samples
    end_time: float
