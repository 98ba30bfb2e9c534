"""Warnings benchmark (研判预警): planted repeats, escalating disputes and surges in 90
days of a county's ordinary reports, run through the real service; recall and
precision of the warnings per kind (风险预警准确率), time to warning, false alarms.

    .venv/bin/python -m benchmarks.warnings_sim [--seed 14] [--days 90] [--quick]
        [--out benchmarks/results/warnings.json]

The world is ``warnings_world`` (``sim_world``'s county, category mix and daily/weekly
rhythm, with place names, texts and the planted events, all from the seed); the driver
is ``warnings_run`` (real use cases on a temporary SQLite file, simulated clock,
``run_warning_scan`` every 30 simulated seconds while anything changed and every hour;
the scan's re-scoring of every open dispute for waiting time runs every
``--full-pass-minutes``, by default the service's 10: see
``warnings_run.simulation_speedups``); the truth
and the matching are ``warnings_score``, whose docstring defines every number.
``--quick`` runs 7 days (a smoke test; the targets are judged on the full 90). Prints
a table with PASS/FAIL per target and writes the JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from integrations.workorders.domain.warning_rules import default_rules

from .machine import machine
from .sim_world import COUNTY, GRIDS, MINUTES_PER_DAY, TOWNSHIP_OF
from .warnings_run import Driver, Run, simulation_speedups
from .warnings_score import (
    KindScore,
    OrderFact,
    WarningFact,
    repeat_truth,
    score_disputes,
    score_repeats,
    score_surges,
)
from .warnings_world import HARMLESS_VIOLENT, WarningsWorld, build

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "warnings.json"
#: --quick's output unless --out is given (git-ignored: a smoke test keeps the 90-day file)
QUICK_OUT = DEFAULT_OUT.with_suffix(".quick.tmp")
DEFAULT_SEED = 14
RECALL_TARGET, PRECISION_TARGET = 0.90, 0.80
LATENCY_TARGET_S = 60.0
FALSE_SURGES_PER_AREA_MONTH = 1.0
KINDS = ("repeat", "dispute_risk", "surge")
#: How often the scan re-scores every open dispute here; None: the service's own
#: (``FULL_DISPUTE_PASS``, 10 minutes). See ``warnings_run.simulation_speedups``.
FULL_PASS_MINUTES: float | None = None

# The rule's windows, as the product is configured by default (warnings.yml's defaults).
_RULES = default_rules().repeat
WINDOW_DAYS = {k: float(_RULES.window_days(k)) for k in ("incident", "dispute", "request")}
SHAM_DAYS = float(_RULES.sham_days)


@dataclass(frozen=True)
class Outcome:
    world: WarningsWorld
    run: Run
    scores: dict[str, KindScore]
    sham: dict[str, int]
    accidental_repeats: int
    planted_repeats_true: int
    warnings_by_kind: dict[str, int]
    seconds: float
    examples: dict[str, Any]
    full_pass_minutes: float | None


def simulate(seed: int, days: int, *, scan: bool = True, verbose: bool = False,
             full_pass_minutes: float | None = FULL_PASS_MINUTES) -> Outcome:
    started = time.perf_counter()
    world = build(seed, days)
    with tempfile.TemporaryDirectory(prefix="bench-warnings-",
                                     dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as d:
        driver = Driver(world, Path(d) / "workorders.db", scan=scan)
        try:
            progress = (lambda m: print(f"  day {m / MINUTES_PER_DAY:.0f}", file=sys.stderr,
                                        flush=True)) if verbose else None
            with simulation_speedups(full_pass_minutes):
                run = driver.execute(progress)
            orders, warnings, bursts = driver.facts()
        finally:
            driver.dispose()
    truth = repeat_truth(orders.values(), WINDOW_DAYS, SHAM_DAYS)
    repeats, sham = score_repeats(truth, orders, warnings)
    chain = {g: (g, TOWNSHIP_OF[g], COUNTY) for g in GRIDS}
    scores = {"repeat": repeats, "dispute_risk": score_disputes(run.threats, warnings),
              "surge": score_surges(bursts, warnings, chain)}
    planted = {n for n, r in run.report_of.items() if r.plant == "repeat"}
    by_kind: dict[str, int] = {}
    for w in warnings:
        by_kind[w.kind] = by_kind.get(w.kind, 0) + 1
    return Outcome(world, run, scores, sham, len(set(truth) - planted),
                   len(set(truth) & planted), by_kind, time.perf_counter() - started,
                   examples(world, run, orders, warnings, scores), full_pass_minutes)


def examples(world: WarningsWorld, run: Run, orders: dict[str, OrderFact],
             warnings: list[WarningFact], scores: dict[str, KindScore], n: int = 10
             ) -> dict[str, Any]:
    """A few false warnings and misses per kind, to see which detector behaviour is behind
    a figure (place spellings, texts, burst sizes)."""
    by_id = {w.id: w for w in warnings}
    out: dict[str, Any] = {}
    for kind, score in scores.items():
        false = []
        for wid in score.false_ids[:n]:
            w = by_id[wid]
            r = run.report_of.get(w.order_number or "")
            false.append({"id": wid, "level": w.level, "area": w.area_code,
                          "category": w.category, "explanation": w.explanation,
                          "order_location": r.location_text if r else None,
                          "order_description": r.description if r else None})
        out[f"{kind}_false"] = false
    harmless: dict[str, int] = {}
    for wid in scores["dispute_risk"].false_ids:
        r = run.report_of.get(by_id[wid].order_number or "")
        text = next((t for t in HARMLESS_VIOLENT if r and t in r.description), "(no violent words)")
        harmless[text] = harmless.get(text, 0) + 1
    out["dispute_risk_false_by_text"] = harmless
    missed_repeats = []
    for number in scores["repeat"].missed[:n]:
        o = orders[number]
        before = sorted((p for p in orders.values() if p.place == o.place
                         and p.category == o.category and p.created < o.created),
                        key=lambda p: p.created)
        missed_repeats.append({"number": number, "category": o.category,
                               "location": run.report_of[number].location_text,
                               "earlier_locations": [run.report_of[p.number].location_text
                                                     for p in before[-3:]]})
    out["repeat_missed"] = missed_repeats
    threat_text = {num: next((e.threat.description for e in world.escalations
                              if run.numbers.get(e.threat.key) == num), None)
                   for num in scores["dispute_risk"].missed[:n]}
    out["dispute_risk_missed"] = [{"number": k, "threat": v} for k, v in threat_text.items()]
    sizes = {b.key: b for b in world.bursts}
    out["surge_missed"] = [{"burst": key, "grid": sizes[key].grid, "category": sizes[key].category,
                            "reports": len(sizes[key].reports),
                            "minutes": round(sizes[key].end - sizes[key].start, 1)}
                           for key in scores["surge"].missed[:n]]
    return out


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "—" if value is None else format(value, spec)


def _verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("PASS" if ok else "FAIL")


def checks(o: Outcome) -> list[dict[str, Any]]:
    """Every target: name, value, target, PASS/FAIL (None when there is nothing to judge)."""
    weeks = o.world.days / 7.0
    months = o.world.days / 30.0
    areas = len(GRIDS)
    rows: list[dict[str, Any]] = []
    for kind in KINDS:
        s = o.scores[kind]
        rows.append({"name": f"{kind} recall", "value": s.recall, "target": f"≥ {RECALL_TARGET}",
                     "ok": None if s.recall is None else s.recall >= RECALL_TARGET})
        rows.append({"name": f"{kind} precision", "value": s.precision,
                     "target": f"≥ {PRECISION_TARGET}",
                     "ok": None if s.precision is None else s.precision >= PRECISION_TARGET})
        p50, p95 = s.latency(0.5), s.latency(0.95)
        rows.append({"name": f"{kind} time to warning p50 (s)", "value": p50,
                     "target": f"≤ {LATENCY_TARGET_S:.0f}",
                     "ok": None if p50 is None else p50 <= LATENCY_TARGET_S})
        rows.append({"name": f"{kind} time to warning p95 (s)", "value": p95,
                     "target": f"≤ {LATENCY_TARGET_S:.0f}",
                     "ok": None if p95 is None else p95 <= LATENCY_TARGET_S})
    false_all = sum(o.scores[k].false_warnings for k in KINDS)
    rows.append({"name": "false warnings / area / week", "value": false_all / areas / weeks,
                 "target": "(reported)", "ok": None})
    surge_false = o.scores["surge"].false_warnings / areas / months
    rows.append({"name": "false surges / area / month", "value": surge_false,
                 "target": f"≤ {FALSE_SURGES_PER_AREA_MONTH:.0f}",
                 "ok": surge_false <= FALSE_SURGES_PER_AREA_MONTH})
    return rows


def table(o: Outcome, rows: list[dict[str, Any]]) -> str:
    run = o.run
    lines = [f"研判预警 benchmark: seed {o.world.seed}, {o.world.days} simulated days, "
             f"full dispute pass every {o.full_pass_minutes or 10:.0f} min, "
             f"{len(GRIDS)} grids; {run.calls.get('open_order', 0)} orders opened, "
             f"{run.calls.get('attach_report_to', 0)} co-reports/notes; "
             f"{run.scans} scans; wall {o.seconds:.0f} s",
             "",
             f"  {'kind':14} {'truth':>6} {'found':>6} {'warnings':>9} {'true':>6} {'false':>6}"
             f" {'recall':>7} {'precision':>9} {'p50 s':>7} {'p95 s':>7}"]
    for kind in KINDS:
        s = o.scores[kind]
        lines.append(f"  {kind:14} {s.truth:6d} {s.found:6d} {s.warnings:9d} "
                     f"{s.true_warnings:6d} {s.false_warnings:6d} {_fmt(s.recall):>7} "
                     f"{_fmt(s.precision):>9} {_fmt(s.latency(0.5), '.1f'):>7} "
                     f"{_fmt(s.latency(0.95), '.1f'):>7}")
    lines += ["", f"  repeats: {o.planted_repeats_true} planted + {o.accidental_repeats} "
              "accidental in the background (true repeats by the rule's definition); "
              f"sham (≤{SHAM_DAYS:.0f} d): {o.sham['true_sham']}, flagged {o.sham['flagged_sham']} "
              f"of which right {o.sham['flagged_right']}",
              f"  planted: {len(o.world.repeats)} re-reports ({o.run.repeats_scheduled} "
              f"scheduled after their earlier order was resolved, decoys included), "
              f"{len(o.world.escalations)} escalating disputes, {len(o.world.bursts)} bursts "
              f"(sizes {sorted({len(b.reports) for b in o.world.bursts})})"]
    if run.scan_ms:
        ordered = sorted(run.scan_ms)
        lines.append(f"  one scan (wall): median {ordered[len(ordered) // 2]:.1f} ms, "
                     f"p95 {ordered[int(0.95 * (len(ordered) - 1))]:.1f} ms, "
                     f"max {ordered[-1]:.1f} ms")
    else:
        lines.append("  run_warning_scan is not available on this branch: no scans were made"
                     + (f" ({run.scan_error})" if run.scan_error else ""))
    lines += ["", f"  {'target':36} {'value':>10} {'target':>10}  verdict"]
    for row in rows:
        lines.append(f"  {row['name']:36} {_fmt(row['value']):>10} {row['target']:>10}  "
                     f"{_verdict(row['ok'])}")
    return "\n".join(lines)


def to_json(o: Outcome, rows: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(o.run.scan_ms)

    def kind(s: KindScore) -> dict[str, Any]:
        return {"truth": s.truth, "found": s.found, "warnings": s.warnings,
                "true_warnings": s.true_warnings, "false_warnings": s.false_warnings,
                "recall": s.recall, "precision": s.precision,
                "time_to_warning_p50_s": s.latency(0.5), "time_to_warning_p95_s": s.latency(0.95),
                "missed": s.missed[:50], "false_warning_ids": s.false_ids[:50]}

    return {
        "benchmark": "warnings", "seed": o.world.seed, "days": o.world.days, "grids": len(GRIDS),
        "detector_available": o.run.scan_error is None,
        "scan_error": o.run.scan_error,
        "repeat_windows_days": WINDOW_DAYS, "sham_days": SHAM_DAYS,
        "full_dispute_pass_minutes": o.full_pass_minutes,
        "kinds": {k: kind(o.scores[k]) for k in KINDS},
        "warnings_by_kind": o.warnings_by_kind,
        "repeats": {"planted_true": o.planted_repeats_true, "accidental": o.accidental_repeats,
                    "sham": o.sham},
        "planted": {"re_reports": len(o.world.repeats),
                    "re_reports_scheduled": o.run.repeats_scheduled,
                    "escalations": len(o.world.escalations), "bursts": len(o.world.bursts),
                    "burst_sizes": sorted(len(b.reports) for b in o.world.bursts)},
        "calls": o.run.calls, "skipped": o.run.skipped,
        "scans": o.run.scans,
        "scan_wall_ms": {"median": ordered[len(ordered) // 2] if ordered else None,
                         "p95": ordered[int(0.95 * (len(ordered) - 1))] if ordered else None,
                         "max": ordered[-1] if ordered else None},
        "checks": rows, "examples": o.examples, "seconds": round(o.seconds, 1),
        "machine": machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--quick", action="store_true", help="7 days (a smoke test)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"default {DEFAULT_OUT.name} ({QUICK_OUT.name} with --quick)")
    parser.add_argument("--verbose", action="store_true", help="print each simulated day")
    parser.add_argument("--full-pass-minutes", type=float, default=FULL_PASS_MINUTES,
                        help="how often every open dispute is re-scored (default: the "
                             "service's 10 minutes; longer is faster, see warnings_run)")
    args = parser.parse_args(argv)
    days = 7 if args.quick else args.days
    out = args.out or (QUICK_OUT if args.quick else DEFAULT_OUT)
    outcome = simulate(args.seed, days, verbose=args.verbose,
                       full_pass_minutes=args.full_pass_minutes)
    rows = checks(outcome)
    print(table(outcome, rows))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(to_json(outcome, rows), ensure_ascii=False, indent=1) + "\n",
                        encoding="utf-8")
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
