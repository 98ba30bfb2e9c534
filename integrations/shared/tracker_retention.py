"""Retention of Rasa's conversation trackers: delete conversations nobody spoke in for N days.

Rasa's ``SQLTrackerStore`` keeps every event of every conversation in one
table, ``events`` (``sender_id``, ``timestamp`` as Unix seconds, ...), on
SQLite (the embedded default, ``var/rasa-tracker.db``) or PostgreSQL (the
scaled set-up). Residents type phone numbers and places into it, so it must
not grow forever. ``prune_trackers`` deletes, whole, every conversation whose
*last* event is older than the limit: a conversation still in use keeps its
history. It works in batches of senders, one short transaction each, and a
conversation that receives an event while it is being pruned is kept.

The sweeper calls it on every pass when ``WORKORDERS_TRACKER_DATABASE_URL``
is set (``make run`` sets it). This module imports no other project package.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine, create_engine, delete, func, inspect, select
from sqlalchemy.sql import column, table

__all__ = ["DEFAULT_RETENTION_DAYS", "PruneResult", "make_tracker_engine", "prune_trackers"]

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 30.0
_events = table("events", column("id"), column("sender_id"), column("timestamp"))


@dataclass(frozen=True)
class PruneResult:
    conversations: int = 0
    events: int = 0


def make_tracker_engine(url: str) -> Engine:
    """An engine for the tracker store's URL (``postgresql://`` uses psycopg 3)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    elif url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://"):]
    return create_engine(url, pool_pre_ping=True)


def prune_trackers(
    engine: Engine, now_ts: float, retention_days: float = DEFAULT_RETENTION_DAYS, *,
    batch: int = 200,
) -> PruneResult:
    """Delete every conversation whose last event is older than ``retention_days``.

    ``now_ts`` is the current time in Unix seconds (Rasa's event timestamps).
    A store without an ``events`` table yet (Rasa has not written anything)
    has nothing to prune.
    """
    if retention_days <= 0:
        raise ValueError("retention_days must be positive")
    if batch < 1:
        raise ValueError("batch must be at least 1")
    if not inspect(engine).has_table("events"):
        return PruneResult()
    cutoff = now_ts - retention_days * 86400.0
    conversations = events = 0
    while True:
        with engine.begin() as conn:
            stale = conn.execute(
                select(_events.c.sender_id).group_by(_events.c.sender_id)
                .having(func.max(_events.c.timestamp) < cutoff)
                .order_by(_events.c.sender_id).limit(batch)
            ).scalars().all()
            if not stale:
                break
            # a conversation that spoke again since the select keeps everything
            revived = select(_events.c.sender_id).where(
                _events.c.sender_id.in_(stale), _events.c.timestamp >= cutoff)
            kept = set(conn.execute(revived).scalars())
            gone = [sender for sender in stale if sender not in kept]
            if gone:
                result = conn.execute(
                    delete(_events).where(_events.c.sender_id.in_(gone),
                                          _events.c.sender_id.not_in(revived)))
                events += int(result.rowcount or 0)
                conversations += len(gone)
        if len(stale) < batch:
            break
    if conversations:
        log.info("tracker retention: removed %d conversations (%d events) older than %g days",
                 conversations, events, retention_days)
    return PruneResult(conversations=conversations, events=events)
