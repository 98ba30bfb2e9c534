"""激增: the negative-binomial test against a seasonal, shrunk, burst-proof baseline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from scipy import stats

from integrations.workorders.domain import surges
from integrations.workorders.domain.surges import (
    SurgeFinding,
    SurgeHistory,
    SurgePrior,
    county_weekly_rate,
    explain_surge,
    history_of,
    hour_of_week,
    weekly_profile,
    window_share,
)
from integrations.workorders.domain.warning_rules import SurgeRules
from integrations.workorders.domain.warnings import Level

CHINA = timezone(timedelta(hours=8))
MONDAY = datetime(2026, 3, 2, tzinfo=CHINA)  # a Monday, 00:00 China time
RULES = SurgeRules()
LEVEL = RULES.alpha / len(RULES.windows_hours)


def day_shape() -> list[float]:
    """Reports by hour of day: few at night, most in office hours."""
    return [0.2] * 7 + [1.0] * 2 + [2.0] * 3 + [1.5] * 2 + [2.0] * 4 + [1.5] * 4 + [0.5] * 2


def week_profile() -> tuple[float, ...]:
    weights = [x * (0.8 if d >= 5 else 1.0) for d in range(7) for x in day_shape()]
    total = sum(weights)
    return tuple(w / total for w in weights)


PROFILE = week_profile()


def steady(per_day: float, weeks: float) -> list[int]:
    """A history with the expected counts of ``weeks`` weeks at ``per_day``, rounded so that
    the total is right (largest remainders get the odd reports)."""
    exact = [per_day * 7 * weeks * p for p in PROFILE]
    counts = [int(x) for x in exact]
    missing = round(sum(exact)) - sum(counts)
    by_remainder = sorted(range(168), key=lambda h: (counts[h] - exact[h], h))
    for h in by_remainder[:missing]:
        counts[h] += 1
    return counts


def history(per_day: float, weeks: int = 8) -> SurgeHistory:
    return SurgeHistory(weeks=weeks, by_hour_of_week=tuple(steady(per_day, weeks)))


def prior(per_day: float) -> SurgePrior:
    return SurgePrior(weekly_rate=per_day * 7, profile=PROFILE)


NEW = SurgeHistory(weeks=0, by_hour_of_week=(0,) * 168)


def window(end_hour: float, hours: float) -> tuple[datetime, datetime]:
    end = MONDAY + timedelta(hours=end_hour)
    return end - timedelta(hours=hours), end


def test(observed, end_hour, hours, hist, pri, rules=RULES) -> SurgeFinding | None:
    start, end = window(end_hour, hours)
    return surges.test_window(observed, start, end, hist, pri, rules)


test.__test__ = False  # a helper


@pytest.mark.parametrize("per_day, count, hours", [(0.2, 4, 1), (1, 6, 3), (5, 12, 3)])
@pytest.mark.parametrize("known", ["eight weeks", "new area"])
def test_small_bursts_are_caught_at_any_hour_of_the_week(per_day, count, hours, known):
    hist = history(per_day) if known == "eight weeks" else NEW
    for end_hour in range(hours, 168 + hours, 1):
        f = test(count, end_hour, hours, hist, prior(per_day))
        assert f is not None, (end_hour, known)
        assert f.observed == count and f.window_hours == hours and f.p_value <= LEVEL
        assert f.level is (Level.URGENT if count >= RULES.urgent_count else Level.WARNING)
        assert f.expected < count / 5


@pytest.mark.parametrize("per_day", [0.2, 1, 5])
@pytest.mark.parametrize("hours", [1, 3, 24])
def test_busy_but_normal_windows_are_not_surges(per_day, hours):
    """A count a normal week reaches once in 10 000 windows is no surge (8 weeks or a new area)."""
    for hist in (history(per_day), NEW):
        for end_hour in range(hours, 168 + hours, 2):
            start, end = window(end_hour, hours)
            mean = per_day * 7 * window_share(start, end, PROFILE)
            busy = int(stats.poisson.isf(1e-4, mean))  # P(at least busy) > 1e-4
            assert test(busy, end_hour, hours, hist, prior(per_day)) is None, (end_hour, busy)


def test_a_normal_week_after_a_quiet_holiday_week_is_not_a_surge():
    per_day = 5
    quiet = [round(c * 0.1) for c in steady(per_day, 1)]
    cases = {
        # seven normal weeks, then the holiday week just before this one
        "eight weeks": SurgeHistory(8, tuple(a + b for a, b in zip(steady(per_day, 7), quiet,
                                                                        strict=True))),
        # a grid whose whole history is the holiday week (it started using the service then)
        "one quiet week": SurgeHistory(1, tuple(quiet)),
    }
    for name, hist in cases.items():
        for hours in RULES.windows_hours:
            for end_hour in range(int(hours), 168 + int(hours), 3):
                start, end = window(end_hour, hours)
                normal = per_day * 7 * window_share(start, end, PROFILE)
                busy = int(stats.poisson.isf(1e-3, normal))  # a busy hour of a normal week
                assert test(busy, end_hour, hours, hist, prior(per_day)) is None, (name, end_hour)
    # the check can fail: judged on the holiday week alone (no prior weight) a normal day flags
    alone = SurgeRules(prior_weeks=0.01)
    assert test(60, 24 * 3, 24, cases["one quiet week"], prior(per_day), alone) is not None


def test_one_past_burst_neither_hides_the_next_nor_inflates_the_baseline():
    per_day = 1
    counts = steady(per_day, 8)
    tuesday_10h = 24 + 10
    counts[tuesday_10h] += 30  # thirty reports of one burst pipe three weeks ago
    counts[tuesday_10h + 1] += 8
    burst_history = SurgeHistory(8, tuple(counts))
    normal = test(6, tuesday_10h + 2, 3, history(per_day), prior(per_day))
    again = test(6, tuesday_10h + 2, 3, burst_history, prior(per_day))  # the same hour of the week
    assert normal is not None and again is not None
    assert again.usual_per_day < normal.usual_per_day * 1.1  # the 38 reports hardly count
    naive_per_day = (RULES.prior_weeks * 7 * per_day + sum(counts)) / (RULES.prior_weeks + 8) / 7
    assert naive_per_day > normal.usual_per_day * 1.3  # they would have counted without the cap


def test_min_count_and_a_category_nobody_reported_before():
    rare = SurgePrior(weekly_rate=0.0, profile=PROFILE)  # the county never had one either
    assert test(2, 12, 1, NEW, rare) is None  # two is never a surge
    f = test(3, 12, 1, NEW, rare)  # the settings' default rate: three in an hour is unusual
    assert f is not None and f.usual_per_day == pytest.approx(RULES.default_weekly_rate / 7)
    assert test(3, 12, 1, NEW, rare, SurgeRules(min_count=4)) is None


def test_the_significance_is_split_between_the_windows():
    loose = SurgeRules(alpha=0.49)
    p = test(5, 12, 3, history(1), prior(1), loose).p_value
    three = SurgeRules(alpha=2 * p)  # per window 2p/3 < p: not significant
    assert test(5, 12, 3, history(1), prior(1), three) is None
    one = SurgeRules(alpha=2 * p, windows_hours=(3.0,))  # the whole 2p for one window
    assert test(5, 12, 3, history(1), prior(1), one) is not None


def test_a_long_history_outweighs_the_prior():
    """A grid much busier than the county mean is judged on its own rate, once it has history."""
    busy_grid = history(5)  # 5 a day where the county mean is 1 a day
    start, end = window(12, 3)
    busy = int(stats.poisson.isf(1e-4, 5 * 7 * window_share(start, end, PROFILE)))
    assert busy >= RULES.min_count
    assert test(busy, 12, 3, busy_grid, prior(1)) is None
    assert test(busy, 12, 3, NEW, prior(1)) is not None  # without history: a surge for the county


def test_the_window_share_follows_china_time_and_wraps_the_week():
    flat = tuple([1 / 168] * 168)
    assert window_share(MONDAY, MONDAY + timedelta(hours=3), flat) == pytest.approx(3 / 168)
    profile = surges._profile(tuple([1.0] + [0.0] * 167))  # all in Monday 00h (plus the flat tenth)
    sunday_16_utc = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)  # Monday 00:00 in China
    assert window_share(sunday_16_utc, sunday_16_utc + timedelta(hours=1), profile) == \
        pytest.approx(0.9 + 0.1 / 168)
    half = window_share(MONDAY - timedelta(minutes=30), MONDAY + timedelta(minutes=30), profile)
    assert half == pytest.approx(0.45 + 0.1 / 168)  # half of Sunday 23h, half of Monday 00h
    assert window_share(MONDAY, MONDAY + timedelta(hours=168), profile) == pytest.approx(1.0)


def test_bad_input_is_refused():
    start, end = window(12, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        surges.test_window(3, start.replace(tzinfo=None), end, NEW, prior(1), RULES)
    with pytest.raises(ValueError, match="end after it starts"):
        surges.test_window(3, end, start, NEW, prior(1), RULES)
    with pytest.raises(ValueError, match="168 hour-of-week counts"):
        surges.test_window(3, start, end, SurgeHistory(1, (0,) * 24), prior(1), RULES)
    with pytest.raises(ValueError, match="168 non-negative shares"):
        surges.test_window(3, start, end, NEW, SurgePrior(7, (1.0,) * 24), RULES)


def finding(observed, hours, per_day):
    return SurgeFinding(observed=observed, expected=0.1, p_value=1e-9, window_hours=hours,
                        usual_per_day=per_day, level=Level.WARNING)


def test_the_explanation_is_one_short_sentence():
    assert explain_surge(finding(9, 3, 1.2), area_name="阳光社区", category_name="供排水问题") == \
        "阳光社区 供排水问题 近3小时9件（平时每天约1件）"
    assert explain_surge(finding(4, 1, 0.2), area_name="阳光社区", category_name="路灯损坏") == \
        "阳光社区 路灯损坏 近1小时4件（平时每周约1件）"
    assert explain_surge(finding(12, 24, 5.4), area_name="阳光社区", category_name="噪音扰民") == \
        "阳光社区 噪音扰民 近24小时12件（平时每天约5件）"
    assert explain_surge(finding(3, 0.5, 0.05), area_name="红星村", category_name="动物伤人") == \
        "红星村 动物伤人 近30分钟3件（平时每月约2件）"
    assert explain_surge(finding(3, 1, 0.001), area_name="红星村", category_name="动物伤人") == \
        "红星村 动物伤人 近1小时3件（平时几乎没有）"


def test_building_the_history_and_the_prior_from_report_times():
    assert hour_of_week(MONDAY) == 0
    assert hour_of_week(datetime(2026, 3, 1, 16, 30, tzinfo=UTC)) == 0  # Monday 00:30 China
    assert hour_of_week(MONDAY - timedelta(minutes=1)) == 167
    with pytest.raises(ValueError, match="timezone-aware"):
        hour_of_week(datetime(2026, 3, 2))
    since, until = MONDAY - timedelta(weeks=2), MONDAY
    times = [MONDAY - timedelta(days=1, hours=14),  # Saturday 10h
             MONDAY - timedelta(days=8, hours=14),  # Saturday 10h the week before
             MONDAY + timedelta(hours=1),  # in the window, not the history
             since - timedelta(hours=1)]  # before the history
    hist = history_of(times, since=since, until=until)
    assert hist.weeks == 2 and sum(hist.by_hour_of_week) == 2
    assert hist.by_hour_of_week[5 * 24 + 10] == 2
    profile = weekly_profile(times)
    assert sum(profile) == pytest.approx(1.0) and len(profile) == 168
    assert profile[5 * 24 + 10] == max(profile)  # Saturday 10h, where most reports were
    assert profile[2 * 24 + 10] > profile[2 * 24 + 3] == 0  # 10h on other days, a little
    assert weekly_profile([]) == tuple([1 / 168] * 168)
    assert county_weekly_rate(48, grids=12, weeks=2, rules=RULES) == 2.0
    assert county_weekly_rate(0, grids=12, weeks=0, rules=RULES) == RULES.default_weekly_rate
