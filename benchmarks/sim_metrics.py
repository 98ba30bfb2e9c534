"""Metrics of one simulation run, and the comparison table.

Definitions (all over the orders that arrived during the simulated days; the
run continues after the last arrival until everything is resolved, or for
``DRAIN_DAYS`` at most, so late orders get their outcome too):

- ``accept_timeout_rate``: share of orders that hit at least one accept
  timeout (not accepted within 120 min, 15 min if urgent, of an offer);
- ``breach_rate``: share of orders not resolved by their first resolve-by
  (creation + the category's resolve hours, 4 h if urgent);
- ``urgent_breach_rate``: the same over urgent orders only (4 h limit);
  ``urgent_orders``, ``urgent_breached``, ``breached``: the counts behind them
  (``urgent_doable``: of the next one);
- ``urgent_breach_rate_doable``: the same over the urgent orders whose
  hands-on work fits in their limit (work <= 4 h): the breaches a dispatch
  rule could have avoided (the others breach whoever gets them; urgent work
  is lognormal with a 90 min median, so about 8 % of urgent orders need more
  than 4 h);
- ``accept_p50_min`` / ``accept_p95_min``: minutes from creation to the first
  acceptance, over the orders ever accepted (linear-interpolated percentiles);
- ``load_max_mean``: load imbalance. Every 30 min, for the handlers on duty,
  each handler's load ratio is load / capacity (load = weights of their open
  orders: urgent 3, normal 1); the sample's imbalance is max ratio / mean
  ratio (samples whose mean is 0 are skipped); reported: the mean over the
  samples of the arrival window. 1.0 is perfect balance;
- ``gini_assignments``: Gini coefficient of the number of assignments (offers,
  including re-dispatches) per handler, all 50 handlers; 0 is equal counts;
- ``gini_per_capacity``: the same of assignments / capacity, i.e. measured
  against what each handler can carry;
- ``pending_share``: share of orders that were ever queued as pending;
- ``pending_mean_min`` / ``pending_p95_min``: minutes each order spent pending
  (queued with no handler), over all orders, zeros included;
  ``pending_max_min``: the longest any order waited;
- ``urgent_pending_share`` / ``urgent_pending_max_min``: the same over urgent
  orders (the accept limit of an urgent order is 15 min);
- ``utilisation``: hands-on work / working hours (08:00-20:00, on duty)
  during the arrival window, all handlers together (policies that send work
  up the tiers, or leave it undone, change it a little);
- ``load_ratio_mean``: mean over the samples of the mean load ratio of the
  handlers on duty (can exceed 1 when a policy ignores capacity);
- ``over_capacity``: share of (sample, handler on duty) pairs with load above
  capacity;
- ``over_capacity_max``: the most any handler's load exceeded their capacity
  right after an assignment (checked at every assignment, not sampled);
  ``normal_over_capacity`` / ``urgent_over_capacity``: assignments of normal
  / urgent orders that left their handler over capacity. The workload
  rule's invariant: no normal order ever does (0), and nobody exceeds
  capacity by more than one urgent order (max <= 3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from integrations.workorders.domain import Priority

from .sim_state import OrderRun, RunResult
from .sim_world import MINUTES_PER_DAY, HandlerSpec, at, working_minutes

DEFINITIONS = __doc__


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear interpolation; NaN if empty."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def gini(values: Sequence[float]) -> float:
    """Gini coefficient of non-negative values (0 equal, towards 1 concentrated)."""
    ordered = sorted(values)
    n, total = len(ordered), sum(ordered)
    if n == 0 or total == 0:
        return 0.0
    weighted = sum((i + 1) * v for i, v in enumerate(ordered))
    return 2 * weighted / (n * total) - (n + 1) / n


@dataclass(frozen=True)
class PolicyMetrics:
    policy: str
    orders: int
    resolved: int
    assignments: int
    declines: int
    accept_timeout_rate: float
    breach_rate: float
    urgent_breach_rate: float
    urgent_breach_rate_doable: float
    breached: int
    urgent_orders: int
    urgent_breached: int
    urgent_doable: int
    accept_p50_min: float
    accept_p95_min: float
    load_max_mean: float
    gini_assignments: float
    gini_per_capacity: float
    pending_share: float
    pending_mean_min: float
    pending_p95_min: float
    pending_max_min: float
    urgent_pending_share: float
    urgent_pending_max_min: float
    utilisation: float
    load_ratio_mean: float
    over_capacity: float
    over_capacity_max: int
    normal_over_capacity: int
    urgent_over_capacity: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _load_stats(result: RunResult) -> tuple[float, float, float]:
    """(mean imbalance, mean utilisation, over-capacity share) over the samples."""
    capacities = [h.spec.capacity for h in result.handlers]
    imbalances, utilisations, over, pairs = [], [], 0, 0
    for loads, duty in zip(result.samples.loads, result.samples.on_duty, strict=False):
        ratios = [load / cap for load, cap, on in zip(loads, capacities, duty, strict=False) if on]
        over += sum(r > 1 for r in ratios)
        pairs += len(ratios)
        mean = sum(ratios) / len(ratios) if ratios else 0.0
        utilisations.append(mean)
        if mean > 0:
            imbalances.append(max(ratios) / mean)
    average = lambda xs: sum(xs) / len(xs) if xs else math.nan  # noqa: E731
    return average(imbalances), average(utilisations), over / pairs if pairs else math.nan


def available_minutes(spec: HandlerSpec, end: float) -> float:
    """Working minutes in [0, end) when ``spec`` is not on leave."""
    leave = sum(working_minutes(max(0.0, a), min(b, end)) for a, b in spec.leave)
    return working_minutes(0.0, end) - leave


def busy_share(result: RunResult) -> float:
    """Hands-on work over available working time, all handlers, arrival window."""
    end = result.world.days * MINUTES_PER_DAY
    available = sum(available_minutes(h.spec, end) for h in result.handlers)
    return sum(h.busy_minutes for h in result.handlers) / available


def _rate(orders: Sequence[OrderRun], pred) -> float:
    return sum(1 for o in orders if pred(o)) / len(orders) if orders else math.nan


def _resolve_minutes(result: RunResult, order: OrderRun) -> float:
    start = at(0.0)
    deadlines = result.world.taxonomy.deadlines(order.spec.category, order.spec.priority, start)
    return (deadlines.resolve_by - start).total_seconds() / 60


def compute(result: RunResult) -> PolicyMetrics:
    orders = result.orders
    n = len(orders)
    share = lambda pred: sum(1 for o in orders if pred(o)) / n if n else math.nan  # noqa: E731
    to_accept = [o.first_accepted - o.spec.arrival for o in orders if o.first_accepted is not None]
    pending = [o.pending_minutes for o in orders]
    urgent = [o for o in orders if o.spec.priority is Priority.URGENT]
    doable = [o for o in urgent if o.spec.work <= _resolve_minutes(result, o)]
    breached = lambda o: o.breaches > 0  # noqa: E731
    imbalance, load_ratio, over = _load_stats(result)
    return PolicyMetrics(
        policy=result.policy,
        orders=n,
        resolved=sum(o.resolved_at is not None for o in orders),
        assignments=sum(o.assignments for o in orders),
        declines=sum(o.declines for o in orders),
        accept_timeout_rate=share(lambda o: o.accept_timeouts > 0),
        breach_rate=share(breached),
        urgent_breach_rate=_rate(urgent, breached),
        urgent_breach_rate_doable=_rate(doable, breached),
        breached=sum(1 for o in orders if breached(o)),
        urgent_orders=len(urgent),
        urgent_breached=sum(1 for o in urgent if breached(o)),
        urgent_doable=len(doable),
        accept_p50_min=percentile(to_accept, 50),
        accept_p95_min=percentile(to_accept, 95),
        load_max_mean=imbalance,
        gini_assignments=gini([h.assignments for h in result.handlers]),
        gini_per_capacity=gini([h.assignments / h.spec.capacity for h in result.handlers]),
        pending_share=share(lambda o: o.queued > 0),
        pending_mean_min=sum(pending) / n if n else math.nan,
        pending_p95_min=percentile(pending, 95),
        pending_max_min=max(pending, default=math.nan),
        urgent_pending_share=_rate(urgent, lambda o: o.queued > 0),
        urgent_pending_max_min=max((o.pending_minutes for o in urgent), default=math.nan),
        utilisation=busy_share(result),
        load_ratio_mean=load_ratio,
        over_capacity=over,
        over_capacity_max=max((h.max_over for h in result.handlers), default=0),
        normal_over_capacity=sum(h.normal_over for h in result.handlers),
        urgent_over_capacity=sum(h.urgent_over for h in result.handlers),
    )


#: (field, row label, format) of the printed table.
ROWS = (
    ("orders", "orders", "{:d}"),
    ("resolved", "resolved", "{:d}"),
    ("assignments", "assignments (offers)", "{:d}"),
    ("declines", "declines", "{:d}"),
    ("accept_timeout_rate", "accept-timeout rate", "{:.1%}"),
    ("breach_rate", "resolve breach rate", "{:.1%}"),
    ("urgent_breach_rate", "  of urgent orders", "{:.1%}"),
    ("urgent_breach_rate_doable", "  of urgent orders doable in 4 h", "{:.1%}"),
    ("accept_p50_min", "time to accept p50 (min)", "{:.0f}"),
    ("accept_p95_min", "time to accept p95 (min)", "{:.0f}"),
    ("load_max_mean", "load max/mean ratio", "{:.2f}"),
    ("gini_assignments", "Gini of assignments", "{:.3f}"),
    ("gini_per_capacity", "Gini of assignments/capacity", "{:.3f}"),
    ("pending_share", "orders ever pending", "{:.1%}"),
    ("pending_mean_min", "time pending mean (min)", "{:.1f}"),
    ("pending_p95_min", "time pending p95 (min)", "{:.1f}"),
    ("pending_max_min", "time pending max (min)", "{:.0f}"),
    ("urgent_pending_share", "urgent orders ever pending", "{:.1%}"),
    ("urgent_pending_max_min", "urgent time pending max (min)", "{:.0f}"),
    ("utilisation", "utilisation (busy/work hours)", "{:.1%}"),
    ("load_ratio_mean", "mean load/capacity", "{:.1%}"),
    ("over_capacity", "handler-time over capacity", "{:.1%}"),
    ("over_capacity_max", "most units over capacity", "{:d}"),
    ("normal_over_capacity", "normal orders taking one over", "{:d}"),
    ("urgent_over_capacity", "urgent orders taking one over", "{:d}"),
)


def table(metrics: Sequence[PolicyMetrics]) -> str:
    """A fixed-width table, one column per policy (at least 12 wide, wider for long names)."""
    label_width = max(len(label) for _, label, _ in ROWS)
    widths = [max(12, len(m.policy) + 2) for m in metrics]
    lines = ["metric".ljust(label_width)
             + "".join(m.policy.rjust(w) for m, w in zip(metrics, widths, strict=False))]
    lines.append("-" * len(lines[0]))
    for name, label, fmt in ROWS:
        cells = (fmt.format(getattr(m, name)).rjust(w) for m, w in zip(metrics, widths, strict=False))
        lines.append(label.ljust(label_width) + "".join(cells))
    return "\n".join(lines)
