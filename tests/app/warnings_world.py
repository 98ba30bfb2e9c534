"""What the 研判预警 service tests share: reading warnings back, staff with chats."""

from __future__ import annotations

from sqlalchemy import select

from integrations.workorders.adapters.orm import RiskWarning, WarningEvent, WarningOrder, WorkOrder
from integrations.workorders.service import accept, create_staff_user, resolve


def warnings(world, kind: str | None = None) -> list[RiskWarning]:
    with world.db.session() as s:
        stmt = select(RiskWarning).order_by(RiskWarning.id)
        if kind is not None:
            stmt = stmt.where(RiskWarning.kind == kind)
        return list(s.scalars(stmt))


def warning_events(world, warning_id: int) -> list[WarningEvent]:
    with world.db.session() as s:
        return list(s.scalars(select(WarningEvent).where(WarningEvent.warning_id == warning_id)
                              .order_by(WarningEvent.id)))


def warning_orders(world, warning_id: int) -> dict[str, str]:
    """Order number -> role."""
    with world.db.session() as s:
        rows = s.execute(select(WorkOrder.number, WarningOrder.role)
                         .join(WorkOrder, WorkOrder.id == WarningOrder.order_id)
                         .where(WarningOrder.warning_id == warning_id))
        return {number: role for number, role in rows}


def warning_notices(world, warning_id: int) -> list:
    return [m for m in world.outbox(topic="warning.raised")
            if m.payload.get("warning_id") == warning_id]


def staff_with_chats(world) -> None:
    """A dispatcher and a supervisor account of 东镇 with Telegram chats, and one of 西镇."""
    uow = world.uow
    create_staff_user(uow(), "disp", "dispatcher", "t-disp-" + "x" * 24, world.clock,
                      areas=["township:qy-dz"], telegram_chat_id="700")
    create_staff_user(uow(), "boss", "supervisor", "t-boss-" + "x" * 24, world.clock,
                      areas=["township:qy-dz"], telegram_chat_id="800")
    create_staff_user(uow(), "west", "dispatcher", "t-west-" + "x" * 24, world.clock,
                      areas=["township:qy-xz"], telegram_chat_id="900")


def done(world, number: str, handler_id: int, note: str = "已处理完毕。") -> None:
    """Accept and resolve ``number`` as ``handler_id``, a few minutes apart."""
    accept(world.uow(), number, handler_id, world.tick(minutes=5))
    resolve(world.uow(), number, handler_id, note, world.tick(minutes=30))
