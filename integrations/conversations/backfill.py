"""Catching up from Rasa's SQL tracker store: what the broker never delivered.

Rasa's tracker store keeps every event as ``json.dumps(event.as_dict())`` in
its ``events`` table (rasa/core/tracker_store.py ``SQLTrackerStore``), the same
dict the broker publishes, so an event read here has the same ``event_key`` as
the one the consumer got from RabbitMQ and storing it twice is a no-op. Events
the broker lost (its buffer overflowed, or a Rasa instance was killed while
RabbitMQ was away) are found here, as long as the tracker retention has not
deleted them yet.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from integrations.workorders.domain.conversations import KEPT_TYPES
from integrations.workorders.service.conversations import record_events

log = logging.getLogger("integrations.conversations.backfill")


@dataclass
class BackfillResult:
    read: int = 0
    stored: int = 0


def backfill(tracker: Engine, sessions: sessionmaker[Session], *, since: datetime,
             page: int = 2000, now: datetime | None = None,
             between_pages: Callable[[], None] = lambda: None) -> BackfillResult:
    """Store the tracker store's events from ``since`` on (each once).
    ``between_pages``: called after each page (the consumer answers RabbitMQ's heartbeats)."""
    result = BackfillResult()
    types = sorted(KEPT_TYPES)
    query = text(
        "SELECT id, sender_id, data FROM events WHERE id > :after AND timestamp >= :since "
        f"AND type_name IN ({', '.join(f':t{i}' for i in range(len(types)))}) "
        "ORDER BY id LIMIT :page")
    params: dict[str, object] = {f"t{i}": t for i, t in enumerate(types)}
    after = 0
    while True:
        with tracker.connect() as conn:
            rows = conn.execute(query, {**params, "after": after, "since": since.timestamp(),
                                        "page": page}).all()
        if not rows:
            break
        after = rows[-1][0]
        events = []
        for _id, sender, data in rows:
            try:
                event = json.loads(data)
            except (TypeError, ValueError):
                continue
            if isinstance(event, dict):
                events.append({**event, "sender_id": sender})
        with sessions() as session:
            stored = record_events(session, events, now=now or datetime.now(UTC))
            session.commit()
        result.read += len(rows)
        result.stored += stored
        between_pages()
    log.info("backfill from the tracker store since %s: %d events read, %d new",
             since.isoformat(), result.read, result.stored)
    return result
