"""热点: the week's places x categories with the most orders, and those slowest to resolve."""

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
    change: float  # this week's count minus the mean of the previous weeks
    median_resolve_hours: float | None


@dataclass(frozen=True)
class Hotspots:
    top: tuple[Hotspot, ...]
    slowest: tuple[Hotspot, ...]


def rank_hotspots(tallies: Iterable[PlaceTally], rules: HotspotRules) -> Hotspots:
    raise NotImplementedError
