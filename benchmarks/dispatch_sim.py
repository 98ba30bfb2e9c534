"""Dispatch simulation benchmark: workload dispatch vs round-robin vs random.

One simulated county (3 townships x 4 grids), 50 handlers at three tiers (40
mediators and grid workers, 10 community staff for requests), and ``--days``
days of Poisson-arriving reports over the 14 categories of ``taxonomy.yml``;
the same world (arrivals, orders, handlers and how each of them answers each
offer) is replayed under each policy. See ``sim_world`` for
the world, ``sim_engine`` for the rules, ``sim_policies`` for the policies
and ``sim_metrics`` for the exact definition of every number.

    cd /work/main && .venv/bin/python -m benchmarks.dispatch_sim [--seed 42] [--days 30]

Prints the comparison table and writes ``dispatch.json`` and
``dispatch_load.png`` (load / capacity over time per handler, one panel per
policy) to ``--out-dir``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .sim_engine import SAMPLE_EVERY_MINUTES, run_policy
from .sim_state import RunResult
from .sim_metrics import DEFINITIONS, PolicyMetrics, compute, table
from .sim_policies import POLICY_NAMES, make_policy
from .sim_world import MINUTES_PER_DAY, World, build_world

DEFAULT_OUT_DIR = Path("benchmarks/results")


@dataclass(frozen=True)
class Benchmark:
    world: World
    results: tuple[RunResult, ...]
    metrics: tuple[PolicyMetrics, ...]
    seconds: float


def run_benchmark(seed: int = 42, days: int = 30,
                  policies: Sequence[str] = POLICY_NAMES) -> Benchmark:
    """Build the world once and run every policy against it."""
    started = time.perf_counter()
    world = build_world(seed, days)
    results = tuple(run_policy(world, make_policy(name, seed)) for name in policies)
    metrics = tuple(compute(r) for r in results)
    return Benchmark(world, results, metrics, time.perf_counter() - started)


def machine() -> dict[str, object]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }


def _clean(value: object) -> object:
    """NaN is not JSON: write null."""
    return None if isinstance(value, float) and math.isnan(value) else value


def to_json(bench: Benchmark) -> dict[str, object]:
    world = bench.world
    return {
        "benchmark": "dispatch_sim",
        "seed": world.seed,
        "days": world.days,
        "handlers": len(world.handlers),
        "orders": len(world.orders),
        "orders_per_day": round(len(world.orders) / world.days, 2),
        "seconds": round(bench.seconds, 2),
        "machine": machine(),
        "policies": {
            m.policy: {k: _clean(v) for k, v in m.as_dict().items() if k != "policy"}
            for m in bench.metrics
        },
        "definitions": DEFINITIONS,
    }


def plot(bench: Benchmark, path: Path) -> None:
    """One panel per policy: each handler's load/capacity (thin), max and mean (bold)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = bench.results
    fig, axes = plt.subplots(len(results), 1, figsize=(12, 3.2 * len(results)),
                             sharex=True, sharey=True, squeeze=False)
    for ax, result, metrics in zip(axes[:, 0], results, bench.metrics):
        _plot_policy(ax, result, metrics)
    axes[-1, 0].set_xlabel("day")
    fig.suptitle(f"Dispatch simulation, seed {bench.world.seed}, {bench.world.days} days, "
                 f"{len(bench.world.handlers)} handlers, sampled every "
                 f"{SAMPLE_EVERY_MINUTES:.0f} min")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_policy(ax, result: RunResult, metrics: PolicyMetrics) -> None:
    days = [t / MINUTES_PER_DAY for t in result.samples.times]
    capacities = [h.spec.capacity for h in result.handlers]
    ratios = [[load / cap for load, cap in zip(loads, capacities)]
              for loads in result.samples.loads]
    for i in range(len(capacities)):
        ax.plot(days, [r[i] for r in ratios], linewidth=0.4, alpha=0.35, color="tab:gray")
    ax.plot(days, [max(r) for r in ratios], linewidth=1.8, color="tab:red", label="max")
    ax.plot(days, [sum(r) / len(r) for r in ratios], linewidth=1.8, color="tab:blue",
            label="mean")
    ax.axhline(1.0, linestyle="--", linewidth=1.0, color="black", label="capacity")
    ax.set_title(f"{result.policy}: breach {metrics.breach_rate:.1%}, "
                 f"load max/mean {metrics.load_max_mean:.2f}, "
                 f"Gini {metrics.gini_assignments:.3f}")
    ax.set_ylabel("load / capacity")
    ax.legend(loc="upper right", fontsize=8)


def write_outputs(bench: Benchmark, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out_dir / "dispatch.json", out_dir / "dispatch_load.png"
    json_path.write_text(json.dumps(to_json(bench), indent=2, ensure_ascii=False) + "\n",
                         encoding="utf-8")
    plot(bench, png_path)
    return json_path, png_path


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR)
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    bench = run_benchmark(args.seed, args.days)
    world = bench.world
    print(f"dispatch simulation: seed {world.seed}, {world.days} days, "
          f"{len(world.handlers)} handlers, {len(world.orders)} orders "
          f"({len(world.orders) / world.days:.1f}/day), {bench.seconds:.1f} s")
    print(table(bench.metrics))
    json_path, png_path = write_outputs(bench, args.out_dir)
    print(f"wrote {json_path} and {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
