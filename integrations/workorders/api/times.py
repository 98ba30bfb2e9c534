"""Times given by people: naive ones (and bare dates) are China time."""

from __future__ import annotations

from datetime import datetime

from ..service import CHINA_TZ


def aware(value: datetime | None) -> datetime | None:
    """``value`` with a zone: China time when it has none."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=CHINA_TZ)
