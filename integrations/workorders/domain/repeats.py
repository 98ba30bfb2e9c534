"""重复诉求: a new order at the place and in the category of an order resolved or closed lately."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from .warning_rules import RepeatRules
from .warnings import Level


@dataclass(frozen=True)
class PastOrder:
    order_id: int
    number: str
    kind: str
    category: str
    place_key: str
    status: str
    created_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    resolved_by: str | None


@dataclass(frozen=True)
class RepeatFinding:
    earlier: tuple[PastOrder, ...]  # newest first
    sham: bool                      # the newest earlier order was resolved < sham_days before now
    level: Level                    # WARNING if sham else ATTENTION


def find_repeat(kind: str, category: str, place_key: str, now: datetime,
                past: Iterable[PastOrder], rules: RepeatRules) -> RepeatFinding | None:
    raise NotImplementedError


def explain_repeat(f: RepeatFinding, *, place: str, area_name: str, category_name: str,
                   resolver_name: str | None) -> str:
    raise NotImplementedError
