"""How long the service keeps what it no longer needs, and the sweeps that remove it.

- Staged photos (uploaded, never attached to an order) live
  ``config.staged_photo_ttl`` (24 h by default): ``expire_staged_photos``.
- Delivered outbox rows are deleted ``config.outbox_retention`` (7 days by
  default) after their delivery. Pending rows are never touched, and dead
  rows stay for an operator to look at.

``run_retention`` runs both; the sweeper calls it on every pass. Each step
works in batches of short transactions, so several sweepers may run it at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from ..adapters.orm import Attachment
from ..adapters.outbox_table import DELIVERED, OutboxMessage
from .common import require_aware
from .uow import UnitOfWork


@dataclass
class RetentionReport:
    staged_photos_removed: int = 0
    outbox_rows_pruned: int = 0


def _delete_in_batches(uow: UnitOfWork, id_column: Any, *where: Any, batch: int) -> int:
    """Delete the rows matching ``where``, ``batch`` at a time in short transactions; how many.

    The delete re-checks ``where`` on each row, so a row a concurrent writer
    changed between the select and the delete (a photo attached meanwhile) stays.
    """
    table = id_column.class_
    removed = 0
    while True:
        with uow:
            ids = uow.session.scalars(
                select(id_column).where(*where).order_by(id_column).limit(batch)).all()
            if not ids:
                return removed
            result = uow.session.execute(
                delete(table).where(id_column.in_(ids), *where)
                .execution_options(synchronize_session=False))
            removed += int(result.rowcount or 0)  # type: ignore[attr-defined]
            uow.commit()
        if len(ids) < batch:
            return removed


def expire_staged_photos(uow: UnitOfWork, now: datetime, *, batch: int = 500) -> int:
    """Delete staged photos (bytes and rows) older than ``config.staged_photo_ttl``; how many.

    Attached photos are kept with their order.
    """
    require_aware(now)
    cutoff = now - uow.config.staged_photo_ttl
    return _delete_in_batches(uow, Attachment.id, Attachment.order_id.is_(None),
                              Attachment.created_at <= cutoff, batch=batch)


def prune_delivered_outbox(uow: UnitOfWork, now: datetime, *, batch: int = 1000) -> int:
    """Delete outbox rows delivered longer than ``config.outbox_retention`` ago; how many."""
    require_aware(now)
    cutoff = now - uow.config.outbox_retention
    return _delete_in_batches(uow, OutboxMessage.id, OutboxMessage.status == DELIVERED,
                              OutboxMessage.delivered_at <= cutoff, batch=batch)


def run_retention(uow: UnitOfWork, now: datetime) -> RetentionReport:
    """Expire staged photos and prune delivered outbox rows (module doc)."""
    return RetentionReport(
        staged_photos_removed=expire_staged_photos(uow, now),
        outbox_rows_pruned=prune_delivered_outbox(uow, now),
    )
