"""The comparison behind the urgent rule: every rule tried, over many seeds.

Each seed is a different world (handlers, arrivals, answers); every policy of
``COMPARED`` runs against each, the seeds in parallel processes (the result
does not depend on how many). Figures are pooled over the seeds: rates are
counts over counts (an urgent order of seed 3 weighs what one of seed 17
does), balance figures are means over the seeds, maxima are the largest of
any seed. ``sim_metrics`` defines each figure for one run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass

from .sim_engine import run_policy
from .sim_metrics import PolicyMetrics, compute
from .sim_policies import RULE_VARIANTS, describe, make_policy
from .sim_world import build_world

#: Every urgent rule tried, then the two baselines.
COMPARED = (*RULE_VARIANTS, "round_robin", "random")
DEFAULT_SEEDS = tuple(range(1, 21))


@dataclass(frozen=True)
class Pooled:
    """One policy over all the seeds of a comparison."""

    policy: str
    rule: str
    seeds: int
    orders: int
    urgent_orders: int
    urgent_doable: int
    urgent_breach_rate: float
    urgent_breach_rate_doable: float
    breach_rate: float
    load_max_mean: float
    gini_assignments: float
    pending_share: float
    pending_mean_min: float
    pending_max_min: float
    urgent_pending_max_min: float
    over_capacity: float
    over_capacity_max: int
    normal_over_capacity: int
    urgent_breach_rate_main_seed: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _run_seed(args: tuple[int, int, tuple[str, ...]]) -> list[PolicyMetrics]:
    seed, days, policies = args
    world = build_world(seed, days)
    return [compute(run_policy(world, make_policy(name, seed))) for name in policies]


def run_comparison(seeds: Sequence[int], days: int, main_seed: int,
                   policies: Sequence[str] = COMPARED, jobs: int = 2) -> tuple[Pooled, ...]:
    """Run ``policies`` on every seed (``main_seed`` included) and pool by policy.

    The seeds are taken in ascending order, whatever the order given, so the
    pooled floats come out the same bit for bit."""
    seeds = tuple(sorted({*seeds, main_seed}))
    tasks = [(seed, days, tuple(policies)) for seed in seeds]
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            per_seed = list(pool.map(_run_seed, tasks))
    else:
        per_seed = [_run_seed(task) for task in tasks]
    pooled = []
    for i, name in enumerate(policies):
        runs = [metrics[i] for metrics in per_seed]
        main = per_seed[seeds.index(main_seed)][i]
        pooled.append(_pool(name, runs, main))
    return tuple(pooled)


def _pool(name: str, runs: Sequence[PolicyMetrics], main: PolicyMetrics) -> Pooled:
    orders = sum(m.orders for m in runs)
    urgent = sum(m.urgent_orders for m in runs)
    doable = sum(m.urgent_doable for m in runs)
    doable_breached = sum(round(m.urgent_breach_rate_doable * m.urgent_doable) for m in runs
                          if m.urgent_doable)
    mean = lambda field: sum(getattr(m, field) for m in runs) / len(runs)  # noqa: E731
    rule = RULE_VARIANTS.get(name)
    return Pooled(
        policy=name,
        rule=describe(rule) if rule is not None else "blind to load and capacity",
        seeds=len(runs),
        orders=orders,
        urgent_orders=urgent,
        urgent_doable=doable,
        urgent_breach_rate=sum(m.urgent_breached for m in runs) / urgent,
        urgent_breach_rate_doable=doable_breached / doable if doable else math.nan,
        breach_rate=sum(m.breached for m in runs) / orders,
        load_max_mean=mean("load_max_mean"),
        gini_assignments=mean("gini_assignments"),
        pending_share=sum(round(m.pending_share * m.orders) for m in runs) / orders,
        pending_mean_min=sum(m.pending_mean_min * m.orders for m in runs) / orders,
        pending_max_min=max(m.pending_max_min for m in runs),
        urgent_pending_max_min=max(m.urgent_pending_max_min for m in runs),
        over_capacity=mean("over_capacity"),
        over_capacity_max=max(m.over_capacity_max for m in runs),
        normal_over_capacity=sum(m.normal_over_capacity for m in runs),
        urgent_breach_rate_main_seed=main.urgent_breach_rate,
    )


#: (field, column heading, format) of the comparison table.
COLUMNS = (
    ("urgent_breach_rate", "urgent", "{:.1%}"),
    ("urgent_breach_rate_doable", "doable", "{:.1%}"),
    ("urgent_breach_rate_main_seed", "seed", "{:.1%}"),
    ("breach_rate", "all", "{:.2%}"),
    ("load_max_mean", "max/mean", "{:.2f}"),
    ("gini_assignments", "Gini", "{:.3f}"),
    ("pending_share", "pending", "{:.1%}"),
    ("pending_mean_min", "mean", "{:.0f}"),
    ("pending_max_min", "max", "{:.0f}"),
    ("urgent_pending_max_min", "urgent", "{:.0f}"),
    ("over_capacity", "time", "{:.2%}"),
    ("over_capacity_max", "units", "{:d}"),
)


def comparison_table(pooled: Sequence[Pooled], chosen: str, main_seed: int) -> str:
    """One row per policy; ``chosen`` is marked with '*'."""
    name_width = max(len(p.policy) for p in pooled) + 2
    widths = [max(len(heading), 6) + 2 for _, heading, _ in COLUMNS]
    groups = ("urgent breach rate", "breach", "balance", "pending (min)", "over capacity")
    spans = (3, 1, 2, 4, 2)
    top, at = " " * name_width, 0
    for group, span in zip(groups, spans, strict=False):
        width = sum(widths[at:at + span])
        top += group.center(width, "-")[:width]
        at += span
    head = "policy".ljust(name_width) + "".join(
        heading.rjust(w) for (_, heading, _), w in zip(COLUMNS, widths, strict=False))
    lines = [top, head, "-" * len(head)]
    for p in pooled:
        mark = "*" if p.policy == chosen else " "
        cells = "".join(fmt.format(getattr(p, field)).rjust(w)
                        for (field, _, fmt), w in zip(COLUMNS, widths, strict=False))
        lines.append(f"{mark}{p.policy}".ljust(name_width) + cells)
    first = pooled[0]
    lines += [
        "",
        f"{first.seeds} seeds, {first.orders} orders, {first.urgent_orders} urgent (per policy); "
        f"'seed' = seed {main_seed} alone; 'doable' = urgent orders whose work fits in 4 h;",
        "'pending' = share of orders ever pending; 'time' = handler-time over capacity "
        "(30-min samples); 'units' = most units any handler went over.",
        "rules (reserve: units of each handler at the tier normal orders may not use; overflow:",
        "  an urgent order nobody has room for goes over capacity, one urgent order at most):",
        *(f"  {p.policy:24} {p.rule}" for p in pooled if p.policy in RULE_VARIANTS),
    ]
    return "\n".join(lines)
