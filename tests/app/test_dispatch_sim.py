"""The dispatch simulation benchmark (benchmarks/dispatch_sim.py): determinism,
one world for every policy, the capacity invariant (over capacity by one urgent
order at most), the headline claims, and the comparison of the urgent rules."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from benchmarks import dispatch_sim
from benchmarks.sim_compare import COMPARED, comparison_table, run_comparison
from benchmarks.sim_engine import run_policy
from benchmarks.sim_metrics import gini, percentile
from benchmarks.sim_policies import (
    POLICY_NAMES,
    RULE_VARIANTS,
    RoundRobinPolicy,
    WorkloadPolicy,
    describe,
    make_policy,
)
from benchmarks.sim_world import (
    GRIDS,
    MINUTES_PER_DAY,
    answer,
    at,
    build_world,
    hour_of_day,
    is_weekday,
    work_finish,
    working_minutes,
)
from integrations.workorders.domain import (
    NO_URGENT_RULE,
    URGENT_RULE,
    HandlerState,
    OrderToDispatch,
    Priority,
    Status,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SHORT_DAYS = 3


def comparable(bench):
    """The benchmark's JSON without what legitimately varies (wall time, machine)."""
    return without_times(dispatch_sim.to_json(bench))


def without_times(data):
    data = dict(data)
    data.pop("seconds")
    data.pop("machine")
    if "comparison" in data:
        data["comparison"] = {k: v for k, v in data["comparison"].items() if k != "seconds"}
    return data


@pytest.fixture(scope="module")
def short_bench():
    return dispatch_sim.run_benchmark(seed=7, days=SHORT_DAYS)


@pytest.fixture(scope="module")
def default_bench():
    """The 30-day, seed-42 run that `make bench-dispatch` reports."""
    return dispatch_sim.run_benchmark()


def by_policy(bench):
    return {m.policy: m for m in bench.metrics}


# --- determinism ---------------------------------------------------------------

def test_same_seed_gives_identical_results(short_bench):
    again = dispatch_sim.run_benchmark(seed=7, days=SHORT_DAYS)
    assert comparable(again) == comparable(short_bench)
    for first, second in zip(short_bench.results, again.results, strict=False):
        assert [(o.first_accepted, o.resolved_at, o.pending_minutes) for o in first.orders] == \
               [(o.first_accepted, o.resolved_at, o.pending_minutes) for o in second.orders]
        assert first.samples == second.samples


def test_another_seed_gives_another_world(short_bench):
    other = build_world(seed=8, days=SHORT_DAYS)
    assert [o.category for o in other.orders] != [o.category for o in short_bench.world.orders]


def test_results_do_not_depend_on_hash_seed(tmp_path):
    """Two processes with different PYTHONHASHSEED write the same numbers."""
    outputs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / hash_seed
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO_ROOT)}
        subprocess.run(
            [sys.executable, "-m", "benchmarks.dispatch_sim", "--days", "2", "--seed", "5",
             "--seeds", "1", "--out-dir", str(out)],
            cwd=REPO_ROOT, env=env, check=True, capture_output=True, timeout=300,
        )
        data = json.loads((out / "dispatch.json").read_text(encoding="utf-8"))
        outputs.append(without_times(data))
    assert outputs[0] == outputs[1]
    assert outputs[0]["comparison"]["seeds"] == 2  # seed 1 and the main seed, 5


# --- one world for every policy ------------------------------------------------

def test_every_policy_sees_the_same_arrival_stream(short_bench):
    streams = [
        [(o.spec.index, o.spec.arrival, o.spec.category, o.spec.priority, o.spec.grid, o.spec.work)
         for o in result.orders]
        for result in short_bench.results
    ]
    assert [r.policy for r in short_bench.results] == list(POLICY_NAMES)
    assert len(streams[0]) == len(short_bench.world.orders) > 0
    assert all(stream == streams[0] for stream in streams)


def test_policies_do_change_outcomes(short_bench):
    """The stream test above is not vacuous: the runs themselves differ."""
    assignees = [tuple(h.assignments for h in r.handlers) for r in short_bench.results]
    assert len(set(assignees)) > 1


def test_streams_are_independent_of_how_much_was_drawn():
    """An order's attributes depend on (seed, index) only: a longer run starts the same."""
    short, longer = build_world(seed=3, days=2), build_world(seed=3, days=4)
    assert longer.orders[: len(short.orders)] == short.orders
    assert longer.orders[len(short.orders)].arrival >= 2 * MINUTES_PER_DAY


def test_a_handler_answers_the_same_offer_with_the_same_dice():
    world = build_world(seed=11, days=1)
    order, handler = world.orders[0], world.handlers[0]
    calm = answer(11, order, handler, 0, now=600.0, open_orders=0, load_after=1)
    busy = answer(11, order, handler, 0, now=600.0, open_orders=4, load_after=handler.capacity)
    assert answer(11, order, handler, 0, now=600.0, open_orders=0, load_after=1) == calm
    assert busy.delay == pytest.approx(calm.delay * 3.0)  # 1 + 0.5 * 4 open orders
    assert answer(11, order, handler, 1, now=600.0, open_orders=0, load_after=1) != calm


# --- the world ---------------------------------------------------------------------

def test_world_matches_the_brief():
    world = build_world(seed=42, days=30)
    handlers = world.handlers
    assert len(handlers) == 50
    assert {h.tier for h in handlers} == {"grid", "township", "county"}
    assert all(3 <= h.capacity <= 8 for h in handlers)
    assert 1 <= sum(bool(h.leave) for h in handlers) <= 8
    for role in ("mediator", "grid_worker", "staff"):
        covered = set().union(*(h.areas for h in handlers if h.tier == "grid" and h.role == role))
        assert covered == set(GRIDS)
    staff = [h for h in handlers if h.role == "staff"]
    assert [h.tier for h in staff].count("grid") == 6 and len(staff) == 10
    assert all(h.skills == {"request.consult", "request.suggest", "request.complaint"}
               for h in staff)
    assert 50 <= len(world.orders) / world.days <= 70
    assert len({o.category for o in world.orders}) == 14
    assert [o.index for o in world.orders] == list(range(len(world.orders)))
    assert all(a.arrival <= b.arrival for a, b in zip(world.orders, world.orders[1:], strict=False))
    requests = sum(o.kind == "request" for o in world.orders) / len(world.orders)
    assert 0.07 < requests < 0.15
    urgent = sum(o.priority is Priority.URGENT for o in world.orders) / len(world.orders)
    assert 0.02 < urgent < 0.09


def test_requests_do_not_change_the_disputes_and_incidents():
    """Requests have streams of their own: the other reports are what they were before
    (the first of seed 42, as drawn when the world had no requests)."""
    world = build_world(seed=42, days=30)
    reports = [o for o in world.orders if o.kind != "request"]
    assert [o.key for o in reports] == list(range(len(reports))) and len(reports) == 1672
    assert all(str(o.key).startswith("request-") for o in world.orders if o.kind == "request")
    first = reports[0]
    assert (first.category, first.priority, first.grid) == ("incident.sanitation", "normal", "G-03")
    assert sum(o.priority is Priority.URGENT for o in reports) == 83


def test_weekday_evenings_are_busiest():
    world = build_world(seed=42, days=28)
    evening = [o for o in world.orders
               if is_weekday(o.arrival) and 18 <= hour_of_day(o.arrival) < 22]
    night = [o for o in world.orders if 0 <= hour_of_day(o.arrival) < 6]
    per_hour_evening = len(evening) / (20 * 4)
    per_hour_night = len(night) / (28 * 6)
    assert per_hour_evening > 3 * per_hour_night


def test_working_hours_calendar():
    assert work_finish(7 * 60, 30) == 8 * 60 + 30          # waits for 08:00
    assert work_finish(19 * 60, 120) == MINUTES_PER_DAY + 9 * 60  # one hour today, one tomorrow
    assert working_minutes(0, MINUTES_PER_DAY) == 12 * 60
    assert at(0).utcoffset() == timedelta(hours=8)


# --- policies ------------------------------------------------------------------------

def _state(id, load, capacity=4):
    return HandlerState(
        id=id, role="mediator", skills={"dispute.neighbor"}, areas={"G-01"}, tier="grid",
        capacity=capacity, on_duty=True, load=load, assigned_last_24h=0, last_assigned_at=None,
    )


def test_round_robin_cycles_and_ignores_load(short_bench):
    taxonomy = short_bench.world.taxonomy
    order = OrderToDispatch(kind="dispute", category="dispute.neighbor", priority="normal",
                            area_by_tier={"grid": "G-01", "township": "T-01", "county": "C-01"},
                            tier="grid")
    handlers = [_state(1, load=4), _state(2, load=0), _state(3, load=9, capacity=4)]
    rr = RoundRobinPolicy()
    assert [rr.decide(order, handlers, taxonomy).handler_id for _ in range(4)] == [1, 2, 3, 1]
    assert WorkloadPolicy().decide(order, handlers, taxonomy).handler_id == 2


def test_workload_policies_differ_only_in_the_urgent_rule(short_bench):
    taxonomy = short_bench.world.taxonomy
    urgent = OrderToDispatch(kind="dispute", category="dispute.neighbor", priority="urgent",
                             area_by_tier={"grid": "G-01", "township": "T-01", "county": "C-01"},
                             tier="grid")
    handlers = [_state(1, load=4), _state(2, load=3)]  # nobody has 3 free units
    assert make_policy("workload", 1).decide(urgent, handlers, taxonomy).handler_id == 2
    assert make_policy("workload", 1).decide(urgent, handlers, taxonomy).over_capacity
    assert make_policy("workload_before", 1).decide(urgent, handlers, taxonomy).queued
    assert make_policy("reserve-c3", 1).decide(urgent, handlers, taxonomy).queued
    assert WorkloadPolicy().rule == URGENT_RULE
    assert make_policy("workload_before", 1).rule == RULE_VARIANTS["before"] == NO_URGENT_RULE


def test_the_products_rule_is_one_of_those_compared():
    chosen = dispatch_sim.chosen_variant()
    assert RULE_VARIANTS[chosen] == URGENT_RULE
    assert chosen == "overflow+reserve-c3"
    assert describe(URGENT_RULE) == "reserve county 3, overflow"
    assert describe(NO_URGENT_RULE).startswith("none")
    assert COMPARED[-2:] == ("round_robin", "random")
    assert set(RULE_VARIANTS) <= set(COMPARED)


def test_unknown_policy_is_refused():
    with pytest.raises(ValueError):
        make_policy("fifo", 1)


# --- invariants of a run -----------------------------------------------------------------

def _over_capacity(result):
    capacities = [h.spec.capacity for h in result.handlers]
    return [
        (t, handler.spec.id, load, cap)
        for t, loads in zip(result.samples.times, result.samples.loads, strict=False)
        for handler, load, cap in zip(result.handlers, loads, capacities, strict=False) if load > cap
    ]


def _by_name(bench, name):
    return next(r for r in bench.results if r.policy == name)


def _assert_capacity_invariant(result, metrics):
    """No normal order takes anyone over capacity; nobody is over by more than one urgent
    order (checked at every assignment, and in the samples)."""
    assert metrics.normal_over_capacity == 0
    assert metrics.over_capacity_max <= 3
    assert all(load <= cap + 3 for _, _, load, cap in _over_capacity(result))


def test_workload_keeps_the_capacity_invariant_short(short_bench):
    workload = _by_name(short_bench, "workload")
    assert len(workload.samples.times) == SHORT_DAYS * 48
    _assert_capacity_invariant(workload, by_policy(short_bench)["workload"])
    assert _over_capacity(_by_name(short_bench, "workload_before")) == []


def test_workload_keeps_the_capacity_invariant_30_days(default_bench):
    metrics = by_policy(default_bench)
    _assert_capacity_invariant(_by_name(default_bench, "workload"), metrics["workload"])
    assert _over_capacity(_by_name(default_bench, "workload_before")) == []
    assert metrics["workload_before"].over_capacity_max == 0
    assert _over_capacity(_by_name(default_bench, "round_robin")), \
        "round-robin ignores capacity, the check must see it"
    assert metrics["round_robin"].normal_over_capacity > 0


def test_every_order_ends_resolved(default_bench):
    for result in default_bench.results:
        assert {o.status for o in result.orders} == {Status.RESOLVED}
        assert all(o.handler is None for o in result.orders)
        assert all(not h.open and not h.queue and h.current is None for h in result.handlers)


def test_samples_match_open_orders_at_the_end(short_bench):
    """A fresh run's loads are sums of open order weights (here: nothing left at the end)."""
    result = run_policy(short_bench.world, make_policy("workload", short_bench.world.seed))
    assert all(h.load == 0 for h in result.handlers)
    assert max(max(loads) for loads in result.samples.loads) > 0


# --- the claim ---------------------------------------------------------------------------

def test_workload_beats_round_robin_on_breaches_and_imbalance(default_bench):
    metrics = by_policy(default_bench)
    workload, rr = metrics["workload"], metrics["round_robin"]
    assert default_bench.world.seed == 42 and default_bench.world.days == 30
    assert workload.breach_rate < rr.breach_rate
    assert workload.gini_assignments < rr.gini_assignments
    assert workload.load_max_mean < rr.load_max_mean
    assert default_bench.seconds < 60


def test_before_the_urgent_rule_an_urgent_order_starved(default_bench):
    """The finding that led to the rule (seed 42): an urgent order waited 11 days, and
    urgent orders breached more often than under round-robin."""
    metrics = by_policy(default_bench)
    before, rr = metrics["workload_before"], metrics["round_robin"]
    assert before.urgent_pending_max_min > 11 * MINUTES_PER_DAY
    assert before.urgent_breach_rate > rr.urgent_breach_rate


def test_the_urgent_rule_meets_its_targets(default_bench):
    metrics = by_policy(default_bench)
    workload, rr = metrics["workload"], metrics["round_robin"]
    assert workload.urgent_breach_rate < 0.05
    assert workload.urgent_breach_rate < rr.urgent_breach_rate
    assert workload.urgent_pending_max_min <= 15 and workload.urgent_pending_share == 0
    assert [c.name for c in dispatch_sim.checks(default_bench) if not c.ok] == []


def test_the_chosen_rule_over_a_few_more_seeds():
    """Not only seed 42: urgent orders never wait and breach less often than round-robin."""
    pooled = {p.policy: p for p in run_comparison(
        range(1, 5), 30, 42, policies=("overflow+reserve-c3", "overflow", "round_robin"))}
    chosen, overflow, rr = pooled["overflow+reserve-c3"], pooled["overflow"], pooled["round_robin"]
    assert chosen.seeds == 5
    assert chosen.urgent_pending_max_min == 0
    assert chosen.urgent_breach_rate < rr.urgent_breach_rate
    assert chosen.breach_rate < rr.breach_rate
    assert chosen.normal_over_capacity == 0 and chosen.over_capacity_max <= 3
    assert overflow.urgent_pending_max_min > 15  # overflow alone: one over at the county, waits


# --- metrics and output --------------------------------------------------------------------

def test_gini_and_percentile():
    assert gini([5, 5, 5, 5]) == 0
    assert gini([0, 0, 0, 9]) == pytest.approx(0.75)
    assert gini([]) == 0
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile([0, 10], 95) == pytest.approx(9.5)


def test_cli_writes_table_json_and_png(tmp_path, capsys):
    assert dispatch_sim.main(["--days", "2", "--seed", "9", "--no-compare",
                              "--out-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "resolve breach rate" in printed and "round_robin" in printed
    assert "targets, seed 9 (workload against round_robin):" in printed
    assert "urgent breach rate vs round-robin" in printed
    assert "urgent rules compared" not in printed
    data = json.loads((tmp_path / "dispatch.json").read_text(encoding="utf-8"))
    assert data["seed"] == 9 and data["days"] == 2 and data["handlers"] == 50
    assert data["machine"]["cpu_count"] == os.cpu_count()
    assert set(data["policies"]) == set(POLICY_NAMES)
    assert data["urgent_rule"] == "overflow+reserve-c3" and "comparison" not in data
    assert {t["name"] for t in data["targets"]} >= {"urgent breach rate",
                                                     "urgent time pending max (min)"}
    assert all(isinstance(t["ok"], bool) for t in data["targets"])
    png = (tmp_path / "dispatch_load.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_cli_compares_the_urgent_rules(tmp_path, capsys):
    assert dispatch_sim.main(["--days", "2", "--seed", "9", "--seeds", "1-2", "--jobs", "2",
                              "--out-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "urgent rules compared over 3 seeds" in printed
    assert "*overflow+reserve-c3" in printed
    assert "targets over the 3 seeds (overflow+reserve-c3 against round_robin):" in printed
    for line in printed.splitlines():
        if line.startswith("  ") and " target " in line:
            assert line.endswith((" ok", " MISSED")), line
    data = json.loads((tmp_path / "dispatch.json").read_text(encoding="utf-8"))
    comparison = data["comparison"]
    assert comparison["seeds"] == 3 and comparison["chosen"] == "overflow+reserve-c3"
    assert list(comparison["policies"]) == list(COMPARED)
    assert comparison["policies"]["reserve-c3"]["rule"] == "reserve county 3"
    assert comparison["targets"]


def test_comparison_does_not_depend_on_the_number_of_processes():
    policies = ("before", "overflow+reserve-c3", "round_robin")
    one = run_comparison((1, 2), 2, 3, policies=policies, jobs=1)
    two = run_comparison((2, 1), 2, 3, policies=policies, jobs=2)
    assert [p.as_dict() for p in one] != [] and one[0].seeds == 3
    assert {p.policy: p for p in one} == {p.policy: p for p in two}
    worlds = [build_world(seed, 2) for seed in (1, 2, 3)]
    urgent = sum(o.priority is Priority.URGENT for w in worlds for o in w.orders)
    assert all(p.urgent_orders == urgent for p in one)
    table = comparison_table(one, "overflow+reserve-c3", 3)
    assert "*overflow+reserve-c3" in table and " before" in table
