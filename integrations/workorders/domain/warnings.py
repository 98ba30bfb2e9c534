"""研判预警: the kinds of warning, their levels and states, and their Chinese labels.

A warning (预警) is one finding of the detectors (repeat complaint, dispute at
risk, surge, hotspot) with a level (关注 < 预警 < 紧急) and a state (open →
acknowledged → closed). The values are the strings stored in the ``warnings``
table; the labels are what supervisors read.
"""

from __future__ import annotations

from enum import StrEnum


class WarningKind(StrEnum):
    REPEAT = "repeat"
    DISPUTE_RISK = "dispute_risk"
    SURGE = "surge"
    HOTSPOT = "hotspot"


class Level(StrEnum):
    ATTENTION = "attention"
    WARNING = "warning"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        """0 for attention, 1 for warning, 2 for urgent: compare severities with it."""
        return _LEVEL_RANK[self.value]


_LEVEL_RANK = {"attention": 0, "warning": 1, "urgent": 2}


class WarningState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


KIND_LABELS: dict[str, str] = {
    "repeat": "重复诉求",
    "dispute_risk": "矛盾激化风险",
    "surge": "激增",
    "hotspot": "热点",
}
LEVEL_LABELS: dict[str, str] = {"attention": "关注", "warning": "预警", "urgent": "紧急"}
STATE_LABELS: dict[str, str] = {"open": "待处理", "acknowledged": "已知悉", "closed": "已关闭"}


def higher(a: Level, b: Level) -> Level:
    """The more severe of two levels."""
    return a if a.rank >= b.rank else b
