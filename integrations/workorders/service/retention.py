"""How long the service keeps what it no longer needs, and the sweeps that remove it.

- Staged photos (uploaded, never attached to an order) live
  ``config.staged_photo_ttl`` (24 h by default): ``attachments.expire_staged_photos``.
- Delivered outbox rows are deleted ``config.outbox_retention`` (7 days by
  default) after their delivery. Pending rows are never touched, and dead
  rows stay for an operator to look at.

``run_retention`` runs both; the sweeper calls it on every pass. Each step
works in batches of short transactions, so several sweepers may run it at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from ..adapters.outbox_table import DELIVERED, OutboxMessage
from .attachments import expire_staged_photos
from .common import require_aware
from .uow import UnitOfWork


@dataclass
class RetentionReport:
    staged_photos_removed: int = 0
    outbox_rows_pruned: int = 0


def prune_delivered_outbox(uow: UnitOfWork, now: datetime, *, batch: int = 1000) -> int:
    """Delete outbox rows delivered longer than ``config.outbox_retention`` ago; how many."""
    require_aware(now)
    cutoff = now - uow.config.outbox_retention
    removed = 0
    while True:
        with uow:
            session = uow.session
            ids = session.scalars(
                select(OutboxMessage.id).where(OutboxMessage.status == DELIVERED,
                                               OutboxMessage.delivered_at <= cutoff)
                .order_by(OutboxMessage.id).limit(batch)).all()
            if not ids:
                return removed
            result = session.execute(
                delete(OutboxMessage).where(OutboxMessage.id.in_(ids),
                                            OutboxMessage.status == DELIVERED)
                .execution_options(synchronize_session=False))
            removed += int(result.rowcount or 0)  # type: ignore[attr-defined]
            uow.commit()
        if len(ids) < batch:
            return removed


def run_retention(uow: UnitOfWork, now: datetime) -> RetentionReport:
    """Expire staged photos and prune delivered outbox rows (module doc)."""
    return RetentionReport(
        staged_photos_removed=expire_staged_photos(uow, now),
        outbox_rows_pruned=prune_delivered_outbox(uow, now),
    )
