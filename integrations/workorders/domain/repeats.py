"""重复诉求: a new order at the place and in the category of an order resolved or closed lately.

The service reads the area's recent finished orders (``PastOrder``, place keys
from ``places.repeat_place_key``) and asks ``find_repeat`` before dispatching
the new one. Only finished orders count (resolved, closed, archived): an order
still open at the same place is the same report again, not a repeat, and a
cancelled one was never handled. 疑似假性整改: the newest earlier order was
*resolved* less than ``sham_days`` before the new report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .places import same_place
from .warning_rules import RepeatRules
from .warnings import Level

FINISHED = frozenset({"resolved", "closed", "archived"})


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

    @property
    def finished_at(self) -> datetime | None:
        """When it was resolved, or else closed."""
        return self.resolved_at or self.closed_at


@dataclass(frozen=True)
class RepeatFinding:
    earlier: tuple[PastOrder, ...]  # newest first
    sham: bool                      # the newest earlier order was resolved < sham_days before now
    level: Level                    # WARNING if sham else ATTENTION
    days_ago: int | None = None     # whole days from the newest earlier order's end to the new report


def _aware(at: datetime, name: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def find_repeat(kind: str, category: str, place_key: str, now: datetime,
                past: Iterable[PastOrder], rules: RepeatRules) -> RepeatFinding | None:
    """The finished orders of ``category`` at ``place_key`` within the kind's window, or None."""
    _aware(now, "now")
    window = timedelta(days=rules.window_days(kind))
    earlier: list[PastOrder] = []
    for order in past:
        done = order.finished_at
        if (order.status not in FINISHED or done is None or order.category != category
                or not same_place(place_key, order.place_key)):
            continue
        _aware(done, f"the end of order {order.number}")
        if timedelta(0) <= now - done <= window:
            earlier.append(order)
    if not earlier:
        return None
    earlier.sort(key=lambda o: (o.finished_at, o.order_id), reverse=True)
    newest = earlier[0]
    sham = (newest.resolved_at is not None
            and now - newest.resolved_at < timedelta(days=rules.sham_days))
    done_at = newest.finished_at
    assert done_at is not None
    return RepeatFinding(earlier=tuple(earlier), sham=sham,
                         level=Level.WARNING if sham else Level.ATTENTION,
                         days_ago=(now - done_at).days)


def _when(days: int | None) -> str:
    if days is None:
        return "此前"
    if days == 0:
        return "今天"
    if days == 1:
        return "昨天"
    return f"{days}天前"


def explain_repeat(f: RepeatFinding, *, place: str, area_name: str, category_name: str,
                   resolver_name: str | None) -> str:
    """One sentence, e.g. "幸福里社区 3号楼 路灯损坏 14天前已由李秀英办结（工单 12345678），
    今天又有居民反映，疑似假性整改。" (``resolver_name``: who ended the newest earlier order)."""
    newest = f.earlier[0]
    verb = "办结" if newest.resolved_at is not None else "关闭"
    by = f"由{resolver_name}" if resolver_name else ""
    subject = " ".join(part for part in (area_name, place, category_name) if part)
    if len(f.earlier) == 1:
        done = f"{_when(f.days_ago)}已{by}{verb}（工单 {newest.number}）"
    else:
        numbers = "、".join(o.number for o in f.earlier[:3])
        more = "等" if len(f.earlier) > 3 else ""
        done = (f"此前已处理{len(f.earlier)}次（工单 {numbers}{more}），"
                f"最近一次{_when(f.days_ago)}{by}{verb}")
    tail = "疑似假性整改。" if f.sham else "请核实上次处理情况。"
    return f"{subject} {done}，今天又有居民反映，{tail}"
