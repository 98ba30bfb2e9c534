"""Warnings written straight into a test database, as a detector would leave them.

The detectors (``service.warnings``/``warning_scan``) are tested on their own; the
tests of reading and acting on warnings need rows of every kind, level, state and
area without running them:

    wid = add_warning(world, kind="repeat", level="warning", area_code="grid:qy-dz-01",
                      orders=[(new.number, "trigger"), (old.number, "earlier")])
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import select

from integrations.workorders.adapters.orm import (
    RiskWarning,
    WarningEvent,
    WarningOrder,
    WorkOrder,
)


def add_warning(
    world: Any,
    *,
    kind: str = "repeat",
    level: str = "attention",
    state: str = "open",
    area_code: str = "grid:qy-dz-01",
    category: str | None = "dispute.neighbor",
    explanation: str = "幸福里小区3号楼 邻里纠纷 30天内再次反映。",
    details: dict[str, Any] | None = None,
    created_at: datetime | None = None,
    orders: Sequence[tuple[str, str]] = (),
    order_number: str | None = None,
    dedupe_key: str | None = None,
) -> int:
    """A warning with its ``raise`` event and the orders behind it (``(number, role)``);
    ``order_number``: the order it is about (default: the trigger's). Its id."""
    at = created_at or world.clock
    with world.db.session() as s:
        ids = {number: s.scalar(select(WorkOrder.id).where(WorkOrder.number == number))
               for number, _ in orders}
        if order_number is None:
            order_number = next((n for n, role in orders if role in ("trigger", "parent")), None)
        order_id = None if order_number is None else s.scalar(
            select(WorkOrder.id).where(WorkOrder.number == order_number))
        warning = RiskWarning(
            kind=kind, level=level, state=state, area_code=area_code, category=category,
            dedupe_key=dedupe_key or f"{kind}:test:{uuid4().hex}", explanation=explanation,
            details=details if details is not None else {"note": "planted by a test"},
            order_id=order_id, created_at=at, updated_at=at,
        )
        s.add(warning)
        s.flush()
        for number, role in orders:
            s.add(WarningOrder(warning_id=warning.id, order_id=ids[number], role=role,
                               added_at=at))
        s.add(WarningEvent(warning_id=warning.id, action="raise", actor="system", at=at,
                           level=level, note=None))
        s.commit()
        return warning.id


def warning_row(world: Any, warning_id: int) -> RiskWarning:
    with world.db.session() as s:
        row = s.get(RiskWarning, warning_id)
        assert row is not None
        return row


def warning_events(world: Any, warning_id: int) -> list[WarningEvent]:
    with world.db.session() as s:
        return list(s.scalars(select(WarningEvent).where(WarningEvent.warning_id == warning_id)
                              .order_by(WarningEvent.id)))
