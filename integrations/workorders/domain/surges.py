"""激增: is the count of new reports in a window surprisingly high for this area x category?

The model
---------
Reports of one category in one grid arrive as a Poisson process whose rate
follows the week: ``R × profile[h]`` reports in hour-of-week ``h`` (Monday
00h China time first), ``R`` the grid's weekly rate and ``profile`` the
county-wide share of each hour (``SurgePrior.profile``, mixed with 10% of a
flat week so that no hour is "impossible").

``R`` is not known exactly, so it gets a gamma prior worth ``prior_weeks``
weeks of data at the prior rate (the county's mean per grid, or the settings'
``default_weekly_rate`` when the county has no history): shape
``a = prior_weeks × rate``, rate ``b = prior_weeks``. The grid's own history
(``weeks`` weeks, ``n`` reports) makes it ``Gamma(a + n, b + weeks)``; a new
grid simply uses the prior, so the test works from the first day, and a grid
with a long history is judged on its own rate. The count in a window whose
share of the week is ``s`` then follows the gamma-Poisson posterior
predictive, a negative binomial with ``n = a + n`` and ``p = B / (B + s)``
(``B = b + weeks``); its upper tail ``P(N ≥ observed)`` (``scipy.stats``) is
the p-value. The extra spread over a Poisson tail is what keeps a grid with
little history from flagging on its first busy afternoon.

Robustness of the baseline
--------------------------
*A quiet week* (a holiday) in the history only lowers the mean over all the
weeks a little; the rate is never estimated from the last week alone, so a
normal week after a quiet one does not look like a surge. *One past burst* is
kept from inflating the baseline (and so from hiding the next burst): each
hour-of-week cell of the history is capped at the count it would exceed with
probability 1/1000 given the rate estimated so far (three rounds). Thirty
reports of one burst hour count as the three or four that hour can plausibly
hold; ordinary cells are essentially never capped (168 cells × 1/1000). Old
bursts leave the history anyway after ``history_weeks``.

The false-alarm budget (alpha)
------------------------------
Target: at most one false surge per grid per month, with the scan running
every 30 s over sliding windows of 1, 3 and 24 h and some 20 categories per
grid. The scan does not make 86 400 independent tests a month: a window's
count only changes when a report arrives or leaves it, so a new false alarm
starts (almost always) with an arrival that lifts the count to the critical
value ``k``. Those arrivals come at a rate ``λ·P(N = k-1) = (k/w)·P(N = k)
≤ (k/w)·α_w`` for a window of ``w`` hours and a per-test level ``α_w``, so a
month of ``T = 720`` h gives at most ``α_w·k·T/w`` false alarms per window and
category. With ``alpha = 1e-5`` split evenly over the three windows
(``α_w ≈ 3.3e-6``) and critical counts of 3-15: about ``3.3e-6 × 10 × 720 ≈
0.02`` per category-month for the 1 h window, less for 3 h and 24 h; summed
over 20 categories about 0.5, and in practice far less because counts are
discrete (the critical count's actual tail is usually 10-1000 times below
``α_w``). The unit tests check this by simulation (Poisson background at
0.2, 1 and 5 reports a day) and check that small real bursts (4 in 1 h at
0.2/day, 6 in 3 h at 1/day, 12 in 3 h at 5/day) still come out far below it.
``min_count`` (3) keeps a single pair of reports from ever being a surge.

The service passes the history up to the window's start (reports in the
window itself are the observation, not the baseline).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache

import numpy as np

from .warning_rules import SurgeRules
from .warnings import Level

HOURS_PER_WEEK = 168
CHINA = timezone(timedelta(hours=8))
FLAT_SHARE = 0.1     # share of a flat week mixed into the profile: no hour is impossible
CELL_CAP_TAIL = 1e-3  # a history cell is capped where a Poisson count passes this tail
RATE_FLOOR = 0.05    # reports per week: the least prior rate (a category the county never saw)


@dataclass(frozen=True)
class SurgeHistory:
    weeks: float                      # weeks of history the area x category has (0 for a new area)
    by_hour_of_week: tuple[int, ...]  # 168 counts over those weeks (Mon 00h China time first)


@dataclass(frozen=True)
class SurgePrior:
    weekly_rate: float              # expected reports per week for one grid
    profile: tuple[float, ...]      # 168 shares summing to 1 (county-wide, smoothed)


@dataclass(frozen=True)
class SurgeFinding:
    observed: int
    expected: float       # reports the baseline expects in the window
    p_value: float        # P(at least ``observed`` | the baseline)
    window_hours: float
    usual_per_day: float  # the baseline's reports per day (over the whole week)
    level: Level


@dataclass(frozen=True)
class _Baseline:
    shape: float           # of the gamma posterior of the weekly rate
    weeks: float           # its rate parameter: prior weeks + weeks of history
    profile: tuple[float, ...]

    @property
    def weekly_rate(self) -> float:
        return self.shape / self.weeks


@lru_cache(maxsize=256)
def _profile(shares: tuple[float, ...]) -> tuple[float, ...]:
    if len(shares) != HOURS_PER_WEEK or any(not math.isfinite(x) or x < 0 for x in shares):
        raise ValueError("the surge profile must be 168 non-negative shares")
    total = sum(shares)
    if total <= 0:
        return (1.0 / HOURS_PER_WEEK,) * HOURS_PER_WEEK
    return tuple((1 - FLAT_SHARE) * x / total + FLAT_SHARE / HOURS_PER_WEEK for x in shares)


@lru_cache(maxsize=4096)
def _baseline(weeks: float, counts: tuple[int, ...], prior_rate: float, prior_weeks: float,
              profile: tuple[float, ...]) -> _Baseline:
    if len(counts) != HOURS_PER_WEEK:
        raise ValueError("the surge history must have 168 hour-of-week counts")
    if weeks < 0 or any(c < 0 for c in counts):
        raise ValueError("the surge history cannot be negative")
    a = prior_weeks * prior_rate
    if weeks <= 0:
        return _Baseline(a, prior_weeks, profile)
    from scipy import stats  # here: importing it costs every process ~1 s at start

    cells = np.asarray(counts, dtype=float)
    shares = np.asarray(profile)
    capped = cells
    for _ in range(3):
        rate = (a + capped.sum()) / (prior_weeks + weeks)
        caps = np.maximum(stats.poisson.isf(CELL_CAP_TAIL, rate * weeks * shares), 1.0)
        capped = np.minimum(cells, caps)
    return _Baseline(a + float(capped.sum()), prior_weeks + weeks, profile)


def _check_window(window_start: datetime, window_end: datetime) -> None:
    for at, name in ((window_start, "window_start"), (window_end, "window_end")):
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware")
    if window_end <= window_start:
        raise ValueError("a window must end after it starts")


def window_share(window_start: datetime, window_end: datetime, profile: tuple[float, ...]) -> float:
    """The share of a week's reports ``profile`` expects between the two times."""
    _check_window(window_start, window_end)
    start = window_start.astimezone(CHINA)
    end = window_end.astimezone(CHINA)
    monday = (start - timedelta(days=start.weekday())).replace(hour=0, minute=0, second=0,
                                                                microsecond=0)
    share = 0.0
    cell = start.replace(minute=0, second=0, microsecond=0)
    while cell < end:
        following = cell + timedelta(hours=1)
        overlap = (min(following, end) - max(cell, start)).total_seconds() / 3600
        index = int((cell - monday).total_seconds() // 3600) % HOURS_PER_WEEK
        share += profile[index] * overlap
        cell = following
    return share


def test_window(observed: int, window_start: datetime, window_end: datetime,
                history: SurgeHistory, prior: SurgePrior, rules: SurgeRules) -> SurgeFinding | None:
    """A finding when ``observed`` reports in the window are a surge, else None (see the module)."""
    _check_window(window_start, window_end)
    if observed < rules.min_count:
        return None
    profile = _profile(tuple(prior.profile))
    prior_rate = prior.weekly_rate if prior.weekly_rate > 0 else rules.default_weekly_rate
    baseline = _baseline(float(history.weeks), tuple(history.by_hour_of_week),
                         max(prior_rate, RATE_FLOOR), rules.prior_weeks, profile)
    share = window_share(window_start, window_end, profile)
    expected = baseline.weekly_rate * share
    if observed <= expected:
        return None
    from scipy import stats  # here: see _baseline

    p_value = float(stats.nbinom.sf(observed - 1, baseline.shape,
                                    baseline.weeks / (baseline.weeks + share)))
    if p_value > rules.alpha / len(rules.windows_hours):
        return None
    return SurgeFinding(
        observed=observed, expected=expected, p_value=p_value,
        window_hours=(window_end - window_start).total_seconds() / 3600,
        usual_per_day=baseline.weekly_rate / 7,
        level=Level.URGENT if observed >= rules.urgent_count else Level.WARNING)


def hour_of_week(at: datetime) -> int:
    """The hour-of-week cell of a time: 0 is Monday 00:00-00:59 China time, 167 Sunday 23h."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("times must be timezone-aware")
    local = at.astimezone(CHINA)
    return local.weekday() * 24 + local.hour


def history_of(times: Iterable[datetime], *, since: datetime, until: datetime) -> SurgeHistory:
    """An area x category's history from its report times in ``[since, until)`` (pass
    ``until`` = the window's start, and ``since`` no earlier than ``history_weeks`` before)."""
    if until < since:
        raise ValueError("a history must end after it starts")
    counts = [0] * HOURS_PER_WEEK
    for at in times:
        if since <= at < until:
            counts[hour_of_week(at)] += 1
    return SurgeHistory(weeks=(until - since) / timedelta(weeks=1), by_hour_of_week=tuple(counts))


#: Pseudo-reports spread evenly over the week that ``weekly_profile`` adds to the
#: observed ones: one per hour of the week, so a profile needs a few hundred
#: reports (two or three weeks of a county) before its own shape dominates.
PROFILE_PRIOR_REPORTS = 168.0


def weekly_profile(times: Iterable[datetime]) -> tuple[float, ...]:
    """``SurgePrior.profile`` from report times (county-wide; all categories is best).

    Half the weight is the hour-of-week counts smoothed over the neighbouring
    hours (1/4, 1/2, 1/4), half the hour-of-day counts spread over the seven
    days. That shape is then pulled toward a flat week by ``PROFILE_PRIOR_REPORTS``
    pseudo-reports, so that a county's first few reports do not teach it that
    every report comes at the hour those few came (one earlier report would
    otherwise put most of the week's expected reports into its hour, and a
    burst at that hour would look ordinary). No times: a flat week.
    """
    week = [0.0] * HOURS_PER_WEEK
    for at in times:
        week[hour_of_week(at)] += 1
    total = sum(week)
    if total == 0:
        return (1.0 / HOURS_PER_WEEK,) * HOURS_PER_WEEK
    smooth = [(week[h - 1] + 2 * week[h] + week[(h + 1) % HOURS_PER_WEEK]) / 4
              for h in range(HOURS_PER_WEEK)]
    by_hour = [sum(week[d * 24 + h] for d in range(7)) / 7 for h in range(24)]
    shares = [0.5 * smooth[h] / total + 0.5 * by_hour[h % 24] / total
              for h in range(HOURS_PER_WEEK)]
    scale = sum(shares)
    flat = 1.0 / HOURS_PER_WEEK
    return tuple((total * x / scale + PROFILE_PRIOR_REPORTS * flat)
                 / (total + PROFILE_PRIOR_REPORTS) for x in shares)


def county_weekly_rate(count: int, *, grids: int, weeks: float, rules: SurgeRules) -> float:
    """``SurgePrior.weekly_rate``: the county's reports of a category per grid per week, or
    the settings' default when the county has no history yet (no weeks or no grids)."""
    if grids <= 0 or weeks <= 0:
        return rules.default_weekly_rate
    return count / grids / weeks


# not a test, whatever its name: keep pytest from collecting it where it is imported
test_window.__test__ = False  # type: ignore[attr-defined]


def _window_text(hours: float) -> str:
    if hours < 1:
        return f"近{round(hours * 60)}分钟"
    if hours >= 48 and hours % 24 == 0:
        return f"近{round(hours / 24)}天"
    return f"近{hours:g}小时" if hours == round(hours) else f"近{hours:.1f}小时"


def _usual_text(per_day: float) -> str:
    if per_day >= 0.95:
        return f"平时每天约{max(1, round(per_day))}件"
    if per_day * 7 >= 0.95:
        return f"平时每周约{round(per_day * 7)}件"
    if per_day * 30 >= 0.95:
        return f"平时每月约{round(per_day * 30)}件"
    return "平时几乎没有"


def explain_surge(f: SurgeFinding, *, area_name: str, category_name: str) -> str:
    """E.g. "阳光社区 供排水问题 近3小时9件（平时每天约1件）"."""
    subject = " ".join(part for part in (area_name, category_name) if part)
    return f"{subject} {_window_text(f.window_hours)}{f.observed}件（{_usual_text(f.usual_per_day)}）"
