"""A small world (areas, handlers, orders) on a test database, and the database handle.

Imported by name; the fixtures that build them (``db``, ``world``, ``pg_db`` ...)
are in tests/app/conftest.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from integrations.workorders.adapters.orm import OrderEvent, OutboxMessage, WorkOrder
from integrations.workorders.service import (
    HandlerCreate,
    OrderCreate,
    OrderView,
    ServiceConfig,
    UnitOfWork,
    add_area,
    create_handler,
    create_order,
)

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Monday 2025-03-03 09:00 in China (01:00 UTC).
T0 = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)

AREAS = [
    ("county:qy", "青阳县", "county", None),
    ("township:qy-dz", "东镇", "township", "county:qy"),
    ("township:qy-xz", "西镇", "township", "county:qy"),
    ("grid:qy-dz-01", "东镇幸福里网格", "grid", "township:qy-dz"),
    ("grid:qy-dz-02", "东镇和平街网格", "grid", "township:qy-dz"),
    ("grid:qy-xz-01", "西镇一网格", "grid", "township:qy-xz"),
]
AREA_BY_TIER = {"grid": "grid:qy-dz-01", "township": "township:qy-dz", "county": "county:qy"}


# --------------------------------------------------------------------- databases


@dataclass
class Db:
    """One test database: its URL, engine and a way to get units of work."""

    backend: str
    url: str
    engine: Engine
    session_factory: sessionmaker[Session]
    config: ServiceConfig

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory, self.config)

    def session(self) -> Session:
        return self.session_factory()


# ------------------------------------------------------------------------- world


class World:
    """Areas, handlers and orders on a test database, and what ended up in it."""

    def __init__(self, db: Db) -> None:
        self.db = db
        self.clock = T0
        self._ref = 0
        for code, name, tier, parent in AREAS:
            add_area(db.uow(), code, name, tier, parent)

    def uow(self) -> UnitOfWork:
        return self.db.uow()

    def tick(self, **delta: float) -> datetime:
        self.clock += timedelta(**delta)
        return self.clock

    def handler(self, name: str = "王调解", **kw) -> int:
        data = dict(
            name=name, role="mediator", tier="grid", skills=["dispute.neighbor"],
            areas=[AREA_BY_TIER[kw.get("tier", "grid")]], capacity=5,
        )
        data.update(kw)
        return create_handler(self.uow(), HandlerCreate(**data), self.clock).id

    def order(self, **kw) -> OrderView:
        self._ref += 1
        data = dict(
            category="dispute.neighbor", description="楼上装修噪音很大，晚上十点以后还在施工。",
            location_text="幸福里小区3号楼", area_code="grid:qy-dz-01",
            reporter_channel="tg", reporter_ref=f"tg:{1000 + self._ref}",
        )
        data.update(kw)
        if "reporter_channel" not in kw:
            data["reporter_channel"] = data["reporter_ref"].partition(":")[0]
        return create_order(self.uow(), OrderCreate(**data), self.clock)

    # ---- what is in the database

    def row(self, number: str) -> WorkOrder:
        with self.db.session() as s:
            return s.scalars(select(WorkOrder).where(WorkOrder.number == number)).one()

    def events(self, number: str) -> list[OrderEvent]:
        with self.db.session() as s:
            order_id = s.scalar(select(WorkOrder.id).where(WorkOrder.number == number))
            return list(s.scalars(
                select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.seq)
            ))

    def actions(self, number: str) -> list[str]:
        return [e.action for e in self.events(number)]

    def outbox(self, number: str | None = None, **where) -> list[OutboxMessage]:
        with self.db.session() as s:
            stmt = select(OutboxMessage).order_by(OutboxMessage.id)
            if number is not None:
                stmt = stmt.where(OutboxMessage.order_number == number)
            for key, value in where.items():
                stmt = stmt.where(getattr(OutboxMessage, key) == value)
            return list(s.scalars(stmt))

    def count(self, model) -> int:
        with self.db.session() as s:
            return len(s.scalars(select(model)).all())
