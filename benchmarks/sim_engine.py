"""The discrete-event engine of the dispatch benchmark: one run of one policy.

Events sit in a heap keyed by (time, kind, sequence), so a run is fully
deterministic. The world (arrivals, order attributes, handlers, their answers)
comes from ``sim_world``; only ``Policy.decide`` differs between runs.

Rules (the same for every policy):

- an offer is answered after a delay that grows with the handler's open
  orders, and declined with a small probability (higher above 80 % of
  capacity); a decline re-dispatches at once, excluding the decliners;
- not accepted by ``accept_by``: an accept timeout; the order is taken back
  and re-dispatched one tier up (at county it stays at county), the silent
  handler excluded;
- accepted orders are worked one at a time per handler during working hours
  (first come first served; urgent ones first, at any hour, interrupting
  routine work);
- not resolved by ``resolve_by`` (counted from creation; declines and
  timeouts do not reset it): a breach; the order is escalated one tier up to
  a new handler with fresh deadlines, who does the work from the start; at
  county it stays with its handler and is not escalated again;
- nobody eligible: the order waits as pending and is retried whenever a
  handler who could take it frees capacity or comes back from leave (only
  such a change can make it dispatchable, so retrying just those orders is
  the same as retrying all);
- if the decliners are the only handlers who could ever take an order, the
  dispatcher clears its decliner list (counted as a decline reset);
- a handler going on leave hands back offers not yet accepted; accepted work
  pauses until they return (or is escalated by its deadline).

Status changes go through the domain's ``lifecycle.apply``, so the run also
checks that the transition table allows what the service will do.
"""

from __future__ import annotations

import heapq
import itertools
import math
from enum import IntEnum

from integrations.workorders.domain import (
    Action,
    DispatchDecision,
    HandlerState,
    OrderToDispatch,
    Priority,
    Status,
    apply,
)

from .sim_policies import Policy
from .sim_state import HandlerRun, OrderRun, RunResult, Samples
from .sim_world import (
    MINUTES_PER_DAY,
    HandlerSpec,
    World,
    answer,
    at,
    work_finish,
    working_minutes,
)

SAMPLE_EVERY_MINUTES = 30.0
DRAIN_DAYS = 20  # after the last arrival, keep running until all is resolved or this long


class Kind(IntEnum):
    """Event kinds; at equal times the smaller one happens first."""

    LEAVE_END = 0
    WORK_DONE = 1
    ANSWER = 2
    ACCEPT_DEADLINE = 3
    RESOLVE_DEADLINE = 4
    LEAVE_START = 5
    ARRIVAL = 6
    SAMPLE = 7


class Simulation:
    """One policy against one world. Use ``run_policy``."""

    def __init__(self, world: World, policy: Policy) -> None:
        self.world, self.policy, self.taxonomy = world, policy, world.taxonomy
        self.handlers = {h.id: HandlerRun(h) for h in world.handlers}
        self._teams = {role: [self.handlers[i] for i in sorted(self.handlers)
                              if self.handlers[i].spec.role == role]
                       for role in set(world.taxonomy.kinds.values())}
        self.orders: dict[int, OrderRun] = {}
        self.pending: set[int] = set()
        self.now = 0.0
        self._heap: list[tuple[float, int, int, tuple]] = []
        self._seq = itertools.count()
        self._limits = self._time_limits()
        self._arrivals_end = world.days * MINUTES_PER_DAY
        self._horizon = self._arrivals_end + DRAIN_DAYS * MINUTES_PER_DAY
        self._sample_times: list[float] = []
        self._sample_loads: list[tuple[int, ...]] = []
        self._sample_duty: list[tuple[bool, ...]] = []

    # --- set-up and loop ---------------------------------------------------------

    def _time_limits(self) -> dict[tuple[str, Priority], tuple[float, float]]:
        """(accept, resolve) minutes per (category, priority), from ``Taxonomy.deadlines``."""
        start, limits = at(0.0), {}
        for code in self.taxonomy.categories:
            for priority in Priority:
                d = self.taxonomy.deadlines(code, priority, start)
                limits[code, priority] = ((d.accept_by - start).total_seconds() / 60,
                                          (d.resolve_by - start).total_seconds() / 60)
        return limits

    def _push(self, time: float, kind: Kind, *payload: object) -> None:
        heapq.heappush(self._heap, (time, kind, next(self._seq), payload))

    def _schedule_world(self) -> None:
        for spec in self.world.orders:
            self._push(spec.arrival, Kind.ARRIVAL, spec.index)
        for h in self.world.handlers:
            for start, end in h.leave:
                self._push(start, Kind.LEAVE_START, h.id)
                self._push(end, Kind.LEAVE_END, h.id)
        for i in range(math.ceil(self._arrivals_end / SAMPLE_EVERY_MINUTES)):
            self._push(i * SAMPLE_EVERY_MINUTES, Kind.SAMPLE)

    def run(self) -> RunResult:
        self._schedule_world()
        on_event = {
            Kind.ARRIVAL: self._on_arrival, Kind.ANSWER: self._on_answer,
            Kind.ACCEPT_DEADLINE: self._on_accept_deadline,
            Kind.RESOLVE_DEADLINE: self._on_resolve_deadline, Kind.WORK_DONE: self._on_work_done,
            Kind.LEAVE_START: self._on_leave_start, Kind.LEAVE_END: self._on_leave_end,
            Kind.SAMPLE: self._on_sample,
        }
        while self._heap and self._heap[0][0] <= self._horizon:
            time, kind, _, payload = heapq.heappop(self._heap)
            self.now = time
            on_event[kind](*payload)
        end = max(self.now, self._arrivals_end)
        for order in self.orders.values():
            if order.pending_since is not None:
                order.pending_minutes += end - order.pending_since
        return RunResult(
            policy=self.policy.name, world=self.world,
            orders=tuple(self.orders[i] for i in sorted(self.orders)),
            handlers=tuple(self.handlers[i] for i in sorted(self.handlers)),
            samples=Samples(tuple(self._sample_times), tuple(self._sample_loads),
                            tuple(self._sample_duty)),
            end_time=end,
        )

    # --- status and dispatch -----------------------------------------------------

    def _set_status(self, order: OrderRun, action: Action) -> None:
        """Apply a lifecycle transition and keep the pending clock."""
        old, new = order.status, apply(order.status, action)
        if old is Status.PENDING and new is not Status.PENDING and order.pending_since is not None:
            order.pending_minutes += self.now - order.pending_since
            order.pending_since = None
        order.status = new

    def _snapshot(self, h: HandlerRun) -> HandlerState:
        while h.recent and h.recent[0] <= self.now - MINUTES_PER_DAY:
            h.recent.popleft()
        s = h.spec
        return HandlerState(
            id=s.id, role=s.role, skills=s.skills, areas=s.areas, tier=s.tier,
            capacity=s.capacity, on_duty=h.on_duty, load=h.load,
            assigned_last_24h=len(h.recent),
            last_assigned_at=self._last_assigned_at(h),
        )

    @staticmethod
    def _last_assigned_at(h: HandlerRun):
        if h.last_assigned is None:
            return None
        if h.last_assigned_dt is None or h.last_assigned_dt[0] != h.last_assigned:
            h.last_assigned_dt = (h.last_assigned, at(h.last_assigned))
        return h.last_assigned_dt[1]

    def _decide(self, order: OrderRun) -> DispatchDecision:
        spec = order.spec
        request = OrderToDispatch(
            kind=spec.kind, category=spec.category, priority=spec.priority,
            area_by_tier=spec.area_by_tier, tier=order.tier, declined_by=frozenset(order.declined),
        )
        # only the kind's role: no policy gives an order to another role
        team = self._teams[self.taxonomy.handler_role(spec.kind)]
        snapshots = [self._snapshot(h) for h in team]
        return self.policy.decide(request, snapshots, self.taxonomy)

    def _could_take(self, h: HandlerSpec, order: OrderRun, declined: set[int]) -> bool:
        """Whether ``h`` could ever take ``order`` (duty and load aside)."""
        tiers = self.taxonomy.tiers
        return (
            h.role == self.taxonomy.handler_role(order.spec.kind)
            and order.spec.category in h.skills
            and tiers.index(h.tier) >= tiers.index(order.tier)
            and order.spec.area_by_tier[h.tier] in h.areas
            and h.id not in declined
        )

    def _dispatch(self, order: OrderRun) -> None:
        decision = self._decide(order)
        if decision.queued and order.declined and not any(
            self._could_take(h, order, order.declined) for h in self.world.handlers
        ):
            order.declined.clear()
            order.decline_resets += 1
            decision = self._decide(order)
        if decision.queued:
            if order.status is Status.NEW:
                self._set_status(order, Action.QUEUE)
            if order.spec.index not in self.pending:
                order.queued += 1
                order.pending_since = self.now
                self.pending.add(order.spec.index)
        else:
            self._assign(order, decision)

    def _assign(self, order: OrderRun, decision: DispatchDecision) -> None:
        h = self.handlers[decision.handler_id]
        self._set_status(order, Action.DISPATCH)
        self.pending.discard(order.spec.index)
        open_before = len(h.open)
        order.tier, order.handler = decision.tier, h.spec.id
        order.assignments += 1
        h.open[order.spec.index] = order.weight
        over = h.load - h.spec.capacity
        if over > 0:
            h.max_over = max(h.max_over, over)
            if order.spec.priority is Priority.URGENT:
                h.urgent_over += 1
            else:
                h.normal_over += 1
        h.assignments += 1
        h.recent.append(self.now)
        h.last_assigned = self.now
        nth = order.offers.get(h.spec.id, 0)
        order.offers[h.spec.id] = nth + 1
        reply = answer(self.world.seed, order.spec, h.spec, nth, self.now, open_before, h.load)
        accept_minutes, _ = self._limits[order.spec.category, order.spec.priority]
        self._push(self.now + reply.delay, Kind.ANSWER, order.spec.index, order.token,
                   reply.declines)
        self._push(self.now + accept_minutes, Kind.ACCEPT_DEADLINE, order.spec.index, order.token)

    def _detach(self, order: OrderRun) -> HandlerRun:
        """Take the order away from its handler (who then moves on to other work)."""
        h = self.handlers[order.handler]
        index = order.spec.index
        del h.open[index]
        if index in h.queue:
            h.queue.remove(index)
        if h.current == index:
            self._worked(h, order)
            h.current = None
            h.work_token += 1
        order.handler = None
        order.token += 1
        return h

    def _freed(self, h: HandlerRun) -> None:
        """``h`` has less load or came back: work on, then retry the orders they could take."""
        self._work_next(h)
        waiting = sorted(
            (self.orders[i] for i in self.pending
             if self._could_take(h.spec, self.orders[i], self.orders[i].declined)),
            key=lambda o: (o.spec.priority is not Priority.URGENT, o.spec.arrival),
        )
        for order in waiting:
            if order.spec.index in self.pending:
                self._dispatch(order)

    # --- work --------------------------------------------------------------------

    @staticmethod
    def _finish(order: OrderRun, start: float) -> float:
        """When the order's remaining work begun at ``start`` is done (urgent: at any hour)."""
        if order.spec.priority is Priority.URGENT:
            return start + order.remaining
        return work_finish(start, order.remaining)

    def _worked(self, h: HandlerRun, order: OrderRun) -> float:
        """Minutes ``h`` has worked on ``order`` since starting it; add them to ``busy_minutes``."""
        start = h.started_at
        if order.spec.priority is Priority.URGENT:
            done = self.now - start
            in_window = max(0.0, min(self.now, self._arrivals_end) - start)
        else:
            done = working_minutes(start, self.now)
            in_window = working_minutes(start, min(self.now, self._arrivals_end))
        h.busy_minutes += in_window
        return done

    def _work_next(self, h: HandlerRun) -> None:
        if h.current is not None or not h.on_duty or not h.queue:
            return
        urgent = [i for i in h.queue if self.orders[i].spec.priority is Priority.URGENT]
        index = (urgent or h.queue)[0]
        h.queue.remove(index)
        order = self.orders[index]
        self._set_status(order, Action.PROGRESS)
        h.current, h.started_at = index, self.now
        h.work_token += 1
        self._push(self._finish(order, self.now), Kind.WORK_DONE, h.spec.id, h.work_token)

    def _working_on_normal(self, h: HandlerRun) -> bool:
        return h.current is not None and self.orders[h.current].spec.priority is Priority.NORMAL

    def _pause(self, h: HandlerRun) -> None:
        if h.current is None:
            return
        order = self.orders[h.current]
        order.remaining = max(0.0, order.remaining - self._worked(h, order))
        h.queue.insert(0, h.current)
        h.current = None
        h.work_token += 1

    # --- events --------------------------------------------------------------------

    def _on_arrival(self, index: int) -> None:
        spec = self.world.orders[index]
        _, resolve_minutes = self._limits[spec.category, spec.priority]
        order = OrderRun(spec=spec, tier=self.taxonomy.tiers[0],
                         resolve_by=self.now + resolve_minutes)
        self.orders[index] = order
        self._push(order.resolve_by, Kind.RESOLVE_DEADLINE, index, order.deadline_token)
        self._dispatch(order)

    def _on_answer(self, index: int, token: int, declines: bool) -> None:
        order = self.orders[index]
        if token != order.token or order.status is not Status.ASSIGNED:
            return
        if declines:
            order.declines += 1
            order.declined.add(order.handler)
            h = self._detach(order)
            self._set_status(order, Action.DECLINE)
            self._dispatch(order)
            self._freed(h)
            return
        h = self.handlers[order.handler]
        self._set_status(order, Action.ACCEPT)
        if order.first_accepted is None:
            order.first_accepted = self.now
        order.remaining = order.spec.work
        h.queue.append(index)
        if order.spec.priority is Priority.URGENT and self._working_on_normal(h):
            self._pause(h)  # an emergency interrupts routine work
        self._work_next(h)

    def _on_accept_deadline(self, index: int, token: int) -> None:
        order = self.orders[index]
        if token != order.token or order.status is not Status.ASSIGNED:
            return
        order.accept_timeouts += 1
        order.declined.add(order.handler)
        h = self._detach(order)
        self._set_status(order, Action.ACCEPT_TIMEOUT)
        order.tier = self.taxonomy.next_tier(order.tier) or order.tier
        self._dispatch(order)
        self._freed(h)

    def _on_resolve_deadline(self, index: int, token: int) -> None:
        order = self.orders[index]
        if token != order.deadline_token or order.status is Status.RESOLVED:
            return
        order.breaches += 1
        upper = self.taxonomy.next_tier(order.tier)
        if upper is None:  # county: it stays where it is
            order.resolve_by = None
            return
        _, resolve_minutes = self._limits[order.spec.category, order.spec.priority]
        order.resolve_by = self.now + resolve_minutes
        order.deadline_token += 1
        self._push(order.resolve_by, Kind.RESOLVE_DEADLINE, index, order.deadline_token)
        order.tier = upper
        if order.handler is None:  # pending: retry from the tier above
            self._dispatch(order)
            return
        h = self._detach(order)
        self._set_status(order, Action.ESCALATE)
        self._dispatch(order)
        self._freed(h)

    def _on_work_done(self, handler_id: int, token: int) -> None:
        h = self.handlers[handler_id]
        if token != h.work_token or h.current is None:
            return
        order = self.orders[h.current]
        self._detach(order)
        self._set_status(order, Action.RESOLVE)
        order.resolved_at = self.now
        self._freed(h)

    def _on_leave_start(self, handler_id: int) -> None:
        h = self.handlers[handler_id]
        h.on_duty = False
        self._pause(h)
        offered = [i for i in h.open if self.orders[i].status is Status.ASSIGNED]
        for index in offered:  # handed back before leaving
            order = self.orders[index]
            self._detach(order)
            self._set_status(order, Action.DECLINE)
            self._dispatch(order)

    def _on_leave_end(self, handler_id: int) -> None:
        h = self.handlers[handler_id]
        h.on_duty = True
        self._freed(h)

    def _on_sample(self) -> None:
        runs = [self.handlers[i] for i in sorted(self.handlers)]
        self._sample_times.append(self.now)
        self._sample_loads.append(tuple(h.load for h in runs))
        self._sample_duty.append(tuple(h.on_duty for h in runs))


def run_policy(world: World, policy: Policy) -> RunResult:
    """Simulate ``world`` dispatched by ``policy``."""
    return Simulation(world, policy).run()
