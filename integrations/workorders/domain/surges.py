"""激增: is the count of new reports in a window surprisingly high for this area x category?"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .warning_rules import SurgeRules
from .warnings import Level


@dataclass(frozen=True)
class SurgeHistory:
    weeks: float                     # weeks of history the area x category has (0 for a new area)
    by_hour_of_week: tuple[int, ...]  # 168 counts over those weeks (Mon 00h China time first)


@dataclass(frozen=True)
class SurgePrior:
    weekly_rate: float              # expected reports per week for one grid
    profile: tuple[float, ...]      # 168 shares summing to 1 (county-wide, smoothed)


@dataclass(frozen=True)
class SurgeFinding:
    observed: int
    expected: float
    p_value: float
    window_hours: float
    usual_per_day: float
    level: Level


def test_window(observed: int, window_start: datetime, window_end: datetime,
                history: SurgeHistory, prior: SurgePrior, rules: SurgeRules) -> SurgeFinding | None:
    raise NotImplementedError


def explain_surge(f: SurgeFinding, *, area_name: str, category_name: str) -> str:
    raise NotImplementedError


# not a test, whatever its name: keep pytest from collecting it where it is imported
test_window.__test__ = False  # type: ignore[attr-defined]
