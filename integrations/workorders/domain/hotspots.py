"""热点: the week's places x categories with the most orders, and those slowest to resolve.

The service tallies the week's orders per place (``repeat_place_key``) and
category, with the counts of the weeks before and the median hours to resolve.
Hotspots: at least ``min_count`` orders this week, most first (ties: the
larger rise against the mean of the ``compare_weeks`` before, then by area,
place and category so the order is stable). Slowest: the places with a median
resolve time, longest first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .warning_rules import HotspotRules


@dataclass(frozen=True)
class PlaceTally:
    area_code: str
    place_key: str
    place_text: str
    category: str
    this_week: int
    previous: tuple[int, ...]            # counts of the weeks before, most recent first
    median_resolve_hours: float | None


@dataclass(frozen=True)
class Hotspot:
    place_text: str
    area_code: str
    category: str
    count: int
    change: float  # this week's count minus the mean of the previous weeks (0 weeks: the count)
    median_resolve_hours: float | None


@dataclass(frozen=True)
class Hotspots:
    top: tuple[Hotspot, ...]
    slowest: tuple[Hotspot, ...]


def _hotspot(t: PlaceTally, compare_weeks: int) -> Hotspot:
    before = t.previous[:compare_weeks]
    mean = sum(before) / len(before) if before else 0.0
    return Hotspot(place_text=t.place_text, area_code=t.area_code, category=t.category,
                   count=t.this_week, change=round(t.this_week - mean, 2),
                   median_resolve_hours=t.median_resolve_hours)


def rank_hotspots(tallies: Iterable[PlaceTally], rules: HotspotRules) -> Hotspots:
    pairs = [(t, _hotspot(t, rules.compare_weeks)) for t in tallies]
    busy = sorted((p for p in pairs if p[0].this_week >= rules.min_count),
                  key=lambda p: (-p[1].count, -p[1].change, p[0].area_code, p[0].place_key,
                                 p[0].category))
    slow = sorted((p for p in pairs if p[0].median_resolve_hours is not None),
                  key=lambda p: (-(p[0].median_resolve_hours or 0.0), -p[1].count,
                                 p[0].area_code, p[0].place_key, p[0].category))
    return Hotspots(top=tuple(h for _, h in busy[: rules.top]),
                    slowest=tuple(h for _, h in slow[: rules.top]))
