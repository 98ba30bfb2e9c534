"""The warnings benchmark: its scoring on a hand-checkable case, its world, and a smoke run."""

from __future__ import annotations

import json

from benchmarks import warnings_sim
from benchmarks.warnings_score import (
    BurstFact,
    OrderFact,
    WarningFact,
    repeat_truth,
    score_disputes,
    score_repeats,
    score_surges,
)
from benchmarks.warnings_world import build, build_communities, chinese_number

DAY = 1440.0
WINDOWS = {"incident": 30.0, "dispute": 90.0, "request": 30.0}


def order(number: str, created: float, history: tuple[tuple[float, str], ...] = (), *,
          category: str = "incident.water", place: str = "G-01/阳光花园/3") -> OrderFact:
    kind = category.split(".")[0]
    return OrderFact(number, "G-01", category, kind, place, created,
                     ((created, "new"),) + history)


def warning(wid: int, kind: str, number: str | None, created: float, *, level: str = "attention",
            area: str = "G-01", category: str | None = "incident.water",
            members: tuple[str, ...] = ()) -> WarningFact:
    return WarningFact(wid, kind, level, area, category, number, created, members)


def test_repeat_truth_follows_the_rule_definition():
    resolved = ((50.0, "assigned"), (60.0, "accepted"), (100.0, "resolved"), (300.0, "closed"))
    orders = [
        order("A", 0.0, resolved),
        order("B", 5 * DAY),                                  # 5 days after A: sham repeat
        order("C", 6 * DAY, category="incident.facility"),   # same place, other category
        order("D", 40 * DAY),                                 # A closed 40 days before: too late
        order("E", 2 * DAY, place="G-01/阳光花园/4"),          # another building
        order("F", 10.0),                                     # A not yet resolved at 10 min
    ]
    truth = repeat_truth(orders, WINDOWS, sham_days=14)
    # D: A was closed 40 days before, B is still open; F: A was not resolved yet
    assert truth == {"B": True}


def test_repeat_truth_an_order_reopened_after_unsatisfied_is_open_again():
    history = ((100.0, "resolved"), (200.0, "reopened"), (3 * DAY, "resolved"))
    orders = [order("A", 0.0, history), order("B", 250.0), order("C", 20 * DAY)]
    truth = repeat_truth(orders, WINDOWS, sham_days=14)
    assert truth == {"C": False}  # B came while A was reopened; C 17 days after A's resolution


def test_scores_count_true_and_false_warnings_and_time_to_warning():
    orders = {o.number: o for o in (order("A", 0.0, ((100.0, "resolved"),)), order("B", DAY))}
    truth = repeat_truth(orders.values(), WINDOWS, sham_days=14)
    warnings = [warning(1, "repeat", "B", DAY, level="warning"),
                warning(2, "repeat", "A", 0.0),
                warning(3, "dispute_risk", "X", 10.5),
                warning(4, "dispute_risk", "Y", 50.0),
                warning(5, "surge", None, 210.0, members=()),
                warning(6, "surge", None, 220.0, area="G-02"),
                warning(7, "surge", None, 150.0, members=("n2",), category="incident.water")]
    repeats, sham = score_repeats(truth, orders, warnings)
    assert (repeats.truth, repeats.found, repeats.warnings, repeats.true_warnings) == (1, 1, 2, 1)
    assert repeats.recall == 1.0 and repeats.precision == 0.5 and repeats.false_ids == [2]
    assert repeats.latencies_s == [0.0]
    assert sham == {"true_sham": 1, "flagged_sham": 1, "flagged_right": 1}

    disputes = score_disputes({"X": 10.0, "Z": 30.0}, warnings)
    assert disputes.recall == 0.5 and disputes.precision == 0.5
    assert disputes.latencies_s == [30.0] and disputes.missed == ["Z"]

    bursts = [BurstFact("b1", "G-01", "incident.water", 100.0, 200.0, frozenset({"n1", "n2"}),
                        (100.0, 140.0, 200.0))]
    chain = {"G-01": ("G-01", "T-01", "C-01")}
    surges = score_surges(bursts, warnings, chain)
    assert (surges.warnings, surges.true_warnings, surges.found) == (3, 2, 1)
    assert surges.false_ids == [6]
    # the first matching warning (id 5, at 210) is 10 minutes after the burst's last report
    assert surges.latencies_s == [600.0]


def test_world_is_a_function_of_the_seed_and_spells_places_variously():
    assert [chinese_number(n) for n in (3, 10, 12, 20, 21, 30)] == \
        ["三", "十", "十二", "二十", "二十一", "三十"]
    one, two = build(7, 14), build(7, 14)
    assert [(r.key, r.at, r.location_text, r.description) for r in one.reports] == \
        [(r.key, r.at, r.location_text, r.description) for r in two.reports]
    assert one.bursts and one.escalations and one.repeats
    for burst in one.bursts:
        assert 3 <= len(burst.reports) <= 15 and burst.end - burst.start <= 180
        assert {r.grid for r in burst.reports} == {burst.grid}
    for plan in one.escalations:
        assert plan.threat.threat and plan.threat.attach_to == plan.order
    # one place, several spellings (the detector has to see they are the same place)
    spellings: dict[str, set[str]] = {}
    for r in one.reports:
        spellings.setdefault(r.place.key, set()).add(r.location_text)
    assert max(len(s) for s in spellings.values()) >= 3
    assert len(build_communities(7)) == 12


def test_a_few_days_run_through_the_service_and_are_scored(tmp_path):
    out = tmp_path / "warnings.json"
    assert warnings_sim.main(["--days", "1", "--seed", "3", "--out", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["days"] == 1 and data["calls"]["open_order"] > 30
    assert data["calls"]["accept"] > 0 and data["calls"]["resolve"] > 0
    for kind in ("repeat", "dispute_risk", "surge"):
        k = data["kinds"][kind]
        assert k["true_warnings"] + k["false_warnings"] == k["warnings"]
        assert k["found"] <= k["truth"]
    assert {row["name"] for row in data["checks"]} >= {"false surges / area / month"}
