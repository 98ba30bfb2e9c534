"""激增 on simulated background: under one false surge per grid per month, real bursts caught.

Reports of one category in one grid are simulated as a Poisson process
following a realistic week (few at night, most in office hours), at 0.2, 1 and
5 reports a day. Each block is 8 weeks of history (the baseline) and 4 weeks
scanned. A 30-s scan over sliding windows can only see a window turn
significant when a report arrives, when one is about to leave a window, or
when the window crosses an hour (the profile is hourly): the simulation tests
exactly those moments, so it sees every new alarm the 30-s scan would. A false
surge is a moment when some window turns significant after none was.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from integrations.workorders.domain import surges
from integrations.workorders.domain.surges import SurgeHistory, SurgePrior
from integrations.workorders.domain.warning_rules import SurgeRules

CHINA = timezone(timedelta(hours=8))
MONDAY = datetime(2026, 3, 2, tzinfo=CHINA)
HISTORY_WEEKS, SCANNED_WEEKS = 8, 4
CATEGORIES_PER_GRID = 20  # the budget of one false surge per grid-month is shared by them


def week_profile() -> tuple[float, ...]:
    day = [0.2] * 7 + [1.0] * 2 + [2.0] * 3 + [1.5] * 2 + [2.0] * 4 + [1.5] * 4 + [0.5] * 2
    weights = [x * (0.8 if d >= 5 else 1.0) for d in range(7) for x in day]
    return tuple(w / sum(weights) for w in weights)


PROFILE = week_profile()


def arrivals(rng: np.random.Generator, per_day: float, weeks: int) -> list[float]:
    """Arrival times in hours since MONDAY."""
    times: list[float] = []
    for week in range(weeks):
        for hour, share in enumerate(PROFILE):
            n = rng.poisson(per_day * 7 * share)
            times.extend(week * 168 + hour + np.sort(rng.random(n)))
    return sorted(times)


def history_of(times: list[float]) -> SurgeHistory:
    counts = [0] * 168
    for t in times:
        if t < HISTORY_WEEKS * 168:
            counts[int(t) % 168] += 1
    return SurgeHistory(HISTORY_WEEKS, tuple(counts))


def flagged(times: list[float], at: float, history: SurgeHistory, prior: SurgePrior,
            rules: SurgeRules) -> bool:
    for hours in rules.windows_hours:
        n = bisect.bisect_right(times, at) - bisect.bisect_right(times, at - hours)
        if n >= rules.min_count and surges.test_window(
                n, MONDAY + timedelta(hours=at - hours), MONDAY + timedelta(hours=at),
                history, prior, rules):
            return True
    return False


def false_alarms(times: list[float], history: SurgeHistory, prior: SurgePrior,
                 rules: SurgeRules) -> int:
    start, end = HISTORY_WEEKS * 168, (HISTORY_WEEKS + SCANNED_WEEKS) * 168
    moments = {float(h) for h in range(start, end)}
    moments.update(t for t in times if start <= t < end)
    for hours in rules.windows_hours:
        moments.update(t + hours - 1e-6 for t in times if start <= t + hours - 1e-6 < end)
    alarms, before = 0, False
    for at in sorted(moments):
        now_flagged = flagged(times, at, history, prior, rules)
        alarms += now_flagged and not before
        before = now_flagged
    return alarms


def per_month(alarms: int, blocks: int) -> float:
    return alarms / (blocks * SCANNED_WEEKS * 7) * 30


@pytest.mark.parametrize("per_day, blocks", [(0.2, 24), (1.0, 16), (5.0, 10)])
def test_false_surges_stay_within_the_monthly_budget(per_day, blocks):
    rng = np.random.default_rng(int(per_day * 1000) + 14)
    rules = SurgeRules()
    prior = SurgePrior(weekly_rate=per_day * 7, profile=PROFILE)
    alarms = 0
    for _ in range(blocks):
        times = arrivals(rng, per_day, HISTORY_WEEKS + SCANNED_WEEKS)
        alarms += false_alarms(times, history_of(times), prior, rules)
    assert per_month(alarms, blocks) * CATEGORIES_PER_GRID < 1, alarms


def test_the_simulation_does_count_false_alarms():
    """With a careless alpha the same simulation finds many: the check above can fail."""
    rng = np.random.default_rng(3)
    rules = SurgeRules(alpha=0.05)
    prior = SurgePrior(weekly_rate=7, profile=PROFILE)
    alarms = 0
    for _ in range(2):
        times = arrivals(rng, 1.0, HISTORY_WEEKS + SCANNED_WEEKS)
        alarms += false_alarms(times, history_of(times), prior, rules)
    assert per_month(alarms, 2) > 1


@pytest.mark.parametrize("per_day, size, hours", [(0.2, 4, 1), (1.0, 6, 3), (5.0, 12, 3)])
def test_planted_bursts_are_caught_over_background(per_day, size, hours):
    rng = np.random.default_rng(int(per_day * 100) + size)
    rules = SurgeRules()
    prior = SurgePrior(weekly_rate=per_day * 7, profile=PROFILE)
    for _ in range(20):
        background = arrivals(rng, per_day, HISTORY_WEEKS + SCANNED_WEEKS)
        start = HISTORY_WEEKS * 168 + rng.random() * (SCANNED_WEEKS * 168 - hours)
        burst = list(start + np.sort(rng.random(size)) * hours)
        times = sorted(background + burst)
        assert flagged(times, burst[-1], history_of(background), prior, rules), start
