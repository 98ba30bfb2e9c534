"""Which orders are linked under a parent (合并办理), shared by the hooks that must leave them alone.

An order is *linked* while it has a ``parent_id`` and waits as ``pending``:
``service.linking`` put it there, and only the parent's resolution
(``resolve_linked``) or cancellation (``unlink``) takes it out. A child resolved
with its parent keeps ``parent_id`` as the record; if its resident reopens it,
it is handled on its own (``parent_id`` cleared). Nothing here imports the
other use cases, so the outbox and the dispatcher can ask without a cycle.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from ..adapters.orm import WorkOrder
from ..domain.lifecycle import Status

#: SQL: the order is linked under a parent (see the module).
LINKED: ColumnElement[bool] = and_(WorkOrder.parent_id.is_not(None),
                                   WorkOrder.status == Status.PENDING.value)
#: SQL: the order is not linked (what the queue and the sweeper may touch).
NOT_LINKED: ColumnElement[bool] = WorkOrder.parent_id.is_(None)


def is_linked(order: WorkOrder) -> bool:
    """Whether ``order`` waits under a parent order."""
    return order.parent_id is not None and order.status == Status.PENDING.value


def linked_children(session: Session, parent: WorkOrder, *, lock: bool = False) -> list[WorkOrder]:
    """The orders linked under ``parent``, oldest first (locked if ``lock``)."""
    if parent.id is None:
        return []
    stmt = (select(WorkOrder)
            .where(WorkOrder.parent_id == parent.id, WorkOrder.status == Status.PENDING.value)
            .order_by(WorkOrder.id))
    if lock:
        stmt = stmt.with_for_update()
    return list(session.scalars(stmt))
