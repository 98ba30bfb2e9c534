"""Conversation analytics: Rasa broker events in, per-conversation facts and
their metrics out (tables of migration 0014, folding in ``domain.conversations``).

``record_events`` stores the kept part of each event once (``event_key`` is
unique: a redelivered event inserts nothing and refolds nothing) and refolds the
conversations the new events touch. ``mark_dropouts`` refolds started, unopened
reports that went silent (a conversation becomes dropped by silence, not by an
event); the consumer calls it periodically. ``conversation_metrics`` answers
``GET /api/v1/metrics/conversations``: per day (the service's time zone) and
channel, and totals.

Each function takes a ``UnitOfWork`` (it enters it and commits) or a plain
``Session`` (the caller commits: the consumer acknowledges the broker's messages
only after its commit).
"""

from __future__ import annotations

import functools
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import and_, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..adapters.conversation_tables import Conversation, ConversationEvent
from ..adapters.inserts import insert_unless_taken
from ..domain.conversations import (
    DROPOUT_SILENCE,
    ConversationFacts,
    StoredEvent,
    fold,
    median,
    reduce_event,
)
from .common import require_aware
from .config import CHINA_TZ
from .errors import InvalidInput
from .uow import UnitOfWork

#: the longest range ``conversation_metrics`` answers (days, both ends counted)
MAX_RANGE_DAYS = 366


@contextmanager
def _session(uow_or_session: UnitOfWork | Session, *, write: bool):
    """The session to use; a unit of work is entered (and committed if ``write``)."""
    if isinstance(uow_or_session, Session):
        yield uow_or_session
        return
    uow = uow_or_session
    context: AbstractContextManager[Any] = uow if write else uow.read_only()
    with context:
        yield uow.session
        if write:
            uow.commit()


def _now(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else require_aware(now)


# ------------------------------------------------------------------------------ writing


def record_events(uow_or_session: UnitOfWork | Session, events: Iterable[Mapping[str, Any]],
                  *, now: datetime | None = None) -> int:
    """Store the kept part of each Rasa broker event unless already stored; refold
    the conversations of the senders that got new events. Returns the newly stored count."""
    now = _now(now)
    rows: dict[str, dict[str, Any]] = {}
    for raw in events:
        event = reduce_event(raw)
        if event is not None:
            rows.setdefault(event.key, {
                "event_key": event.key, "sender_id": event.sender_id, "ts": event.ts,
                "type": event.type, "name": event.name, "value": event.value,
                "confidence": event.confidence, "received_at": now})
    with _session(uow_or_session, write=True) as session:
        earliest: dict[str, float] = {}
        new = _insert_new(session, list(rows.values()))
        for sender, ts in new:
            earliest[sender] = min(ts, earliest.get(sender, ts))
        for sender in sorted(earliest):
            refold(session, sender, since_ts=earliest[sender], now=now)
        return len(new)


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """Insert the rows whose event_key is not taken; (sender_id, ts) of those inserted.

    PostgreSQL and SQLite: ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` executed for
    all rows at once (SQLAlchemy sends them as multi-row INSERTs); others: row by row."""
    table = ConversationEvent.__table__
    dialect = session.get_bind().dialect.name
    if not rows:
        return []
    if dialect not in _BULK_INSERTS:
        return [(row["sender_id"], row["ts"]) for row in rows
                if insert_unless_taken(session, table, row) is not None]
    return [(sender, ts) for sender, ts in session.execute(_bulk_statement(dialect), rows)]


_BULK_INSERTS: dict[str, Callable[[Any], Any]] = {
    "postgresql": postgresql.insert, "sqlite": sqlite.insert,
}


@functools.cache
def _bulk_statement(dialect: str) -> Any:
    table = ConversationEvent.__table__
    return (_BULK_INSERTS[dialect](table).on_conflict_do_nothing()
            .returning(table.c.sender_id, table.c.ts))


def refold(session: Session, sender_id: str, *, since_ts: float | None = None,
           now: datetime) -> int:
    """Fold again the conversations of ``sender_id`` from the one holding ``since_ts``
    (None: all); rows of conversations no longer found are deleted. Returns the
    number of conversations written."""
    events = ConversationEvent.__table__
    start: float | None = None
    if since_ts is not None:
        start = session.scalar(
            select(func.max(events.c.ts)).where(
                events.c.sender_id == sender_id, events.c.type == "session_started",
                events.c.ts <= since_ts))
    query = select(events.c.sender_id, events.c.ts, events.c.type, events.c.name,
                   events.c.value, events.c.confidence).where(events.c.sender_id == sender_id)
    if start is not None:
        query = query.where(events.c.ts >= start)
    found = [StoredEvent(*row) for row in session.execute(query.order_by(events.c.ts, events.c.id))]
    if not found:
        return 0
    conversations = fold(found, now)
    first_start = conversations[0].started_at
    existing = {row.started_at: row for row in session.scalars(
        select(Conversation).where(Conversation.sender_id == sender_id,
                                   Conversation.started_at >= first_start))}
    for facts in conversations:
        columns = _columns(facts, now)
        row = existing.pop(facts.started_at, None)
        if row is None:
            if insert_unless_taken(session, Conversation.__table__, columns) is not None:
                continue
            row = session.scalars(select(Conversation).where(
                Conversation.sender_id == sender_id,
                Conversation.started_at == facts.started_at)).one()
        for name, value in columns.items():
            setattr(row, name, value)
    for stale in existing.values():  # e.g. a session start that arrived late split it
        session.delete(stale)
    session.flush()
    return len(conversations)


def _columns(facts: ConversationFacts, now: datetime) -> dict[str, Any]:
    return {
        "sender_id": facts.sender_id, "started_at": facts.started_at, "channel": facts.channel,
        "day": facts.started_at.astimezone(CHINA_TZ).date(),
        "last_event_at": facts.last_event_at, "turns": facts.turns,
        "intents": json.dumps(facts.intents, ensure_ascii=False),
        "fallbacks": facts.fallbacks, "report_started": facts.report_started,
        "report_opened": facts.report_opened, "order_number": facts.order_number,
        "seconds_to_order": facts.seconds_to_order, "handed_off": facts.handed_off,
        "dropped_at": facts.dropped_at, "updated_at": now,
    }


def _pending(now: datetime):
    """Started, unopened, not yet dropped reports silent for DROPOUT_SILENCE."""
    return and_(Conversation.report_started.is_(True), Conversation.report_opened.is_(False),
                Conversation.dropped_at.is_(None),
                Conversation.last_event_at <= now - DROPOUT_SILENCE)


def mark_dropouts(uow_or_session: UnitOfWork | Session, *, now: datetime | None = None,
                  limit: int = 500) -> int:
    """Refold started reports that went silent, so they get ``dropped_at``; how many were."""
    now = _now(now)
    with _session(uow_or_session, write=True) as session:
        pending = session.execute(
            select(Conversation.sender_id, Conversation.started_at).where(_pending(now))
            .order_by(Conversation.last_event_at).limit(limit)).all()
        for sender, started in pending:
            # +1 ms: the stored datetime is rounded to microseconds, the event's ts is not
            refold(session, sender, since_ts=started.timestamp() + 1e-3, now=now)
        return len(pending)


def prune_events(uow_or_session: UnitOfWork | Session, *, before: datetime,
                 limit: int = 10_000) -> int:
    """Delete up to ``limit`` stored events older than ``before`` (event time); the
    conversation facts stay. How many were deleted."""
    table = ConversationEvent.__table__
    with _session(uow_or_session, write=True) as session:
        ids = select(table.c.id).where(table.c.ts < before.timestamp()).limit(limit)
        result = session.execute(delete(table).where(table.c.id.in_(ids.scalar_subquery())))
        return int(getattr(result, "rowcount", 0) or 0)


# ------------------------------------------------------------------------------ reading


@dataclass
class _Tally:
    conversations: int = 0
    reports_started: int = 0
    reports_opened: int = 0
    started_and_opened: int = 0
    dropouts: Counter[str] = field(default_factory=Counter)
    fallbacks: int = 0
    turns: int = 0
    handed_off: int = 0
    turn_counts: list[float] = field(default_factory=list)
    seconds_to_order: list[float] = field(default_factory=list)

    def add(self, row: Any, dropped_at: str | None) -> None:
        self.conversations += 1
        self.reports_started += bool(row.report_started)
        self.reports_opened += bool(row.report_opened)
        self.started_and_opened += bool(row.report_started and row.report_opened)
        if dropped_at:
            self.dropouts[dropped_at] += 1
        self.fallbacks += row.fallbacks
        self.turns += row.turns
        self.handed_off += bool(row.handed_off)
        self.turn_counts.append(float(row.turns))
        if row.seconds_to_order is not None:
            self.seconds_to_order.append(float(row.seconds_to_order))

    def result(self) -> dict[str, Any]:
        return {
            "conversations": self.conversations,
            "reports_started": self.reports_started,
            "reports_opened": self.reports_opened,
            "completion_rate": _ratio(self.started_and_opened, self.reports_started),
            "dropouts": dict(sorted(self.dropouts.items(), key=lambda kv: (-kv[1], kv[0]))),
            "fallback_rate": _ratio(self.fallbacks, self.turns),
            "handoff_rate": _ratio(self.handed_off, self.conversations),
            "median_turns": median(self.turn_counts),
            "median_seconds_to_order": median(self.seconds_to_order),
        }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def conversation_metrics(session: UnitOfWork | Session, *, since: date, until: date,
                         channel: str | None = None, now: datetime | None = None) -> dict:
    """Per day (started_at in the service's time zone) and channel, and totals, over
    ``since``..``until`` (both included). ``completion_rate``: reports opened among the
    started ones; ``fallback_rate``: fallback turns / turns; ``handoff_rate``: handed-off
    conversations / conversations. A started report silent for 30 minutes by ``now``
    counts as dropped even before the consumer's periodic check marked it."""
    now = _now(now)
    if since > until:
        raise InvalidInput("since", "since is after until", "开始日期不能晚于结束日期。")
    if (until - since).days + 1 > MAX_RANGE_DAYS:
        raise InvalidInput("until", f"range longer than {MAX_RANGE_DAYS} days",
                           f"查询范围不能超过{MAX_RANGE_DAYS}天。")
    with _session(session, write=False) as db:
        query = select(
            Conversation.sender_id, Conversation.started_at, Conversation.day,
            Conversation.channel, Conversation.turns, Conversation.fallbacks,
            Conversation.report_started, Conversation.report_opened,
            Conversation.seconds_to_order, Conversation.handed_off, Conversation.dropped_at,
            Conversation.last_event_at,
        ).where(Conversation.day >= since, Conversation.day <= until)
        if channel is not None:
            query = query.where(Conversation.channel == channel)
        rows = db.execute(query.order_by(Conversation.day, Conversation.channel)).all()
        late = _late_dropouts(db, rows, now)
    by_group: dict[tuple[date, str], _Tally] = defaultdict(_Tally)
    total = _Tally()
    for row in rows:
        dropped = row.dropped_at or late.get((row.sender_id, row.started_at))
        by_group[(row.day, row.channel)].add(row, dropped)
        total.add(row, dropped)
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "days": [{"day": day.isoformat(), "channel": ch, **tally.result()}
                 for (day, ch), tally in sorted(by_group.items())],
        "totals": total.result(),
    }


def _late_dropouts(session: Session, rows: Sequence[Any],
                   now: datetime) -> dict[tuple[str, datetime], str]:
    """Dropped-at of conversations silent long enough that the periodic check has not
    marked yet (folded here, not written)."""
    cutoff = now - DROPOUT_SILENCE
    pending = [r for r in rows if r.report_started and not r.report_opened
               and r.dropped_at is None and r.last_event_at <= cutoff]
    found: dict[tuple[str, datetime], str] = {}
    events = ConversationEvent.__table__
    for row in pending[:1000]:
        query = select(events.c.sender_id, events.c.ts, events.c.type, events.c.name,
                       events.c.value, events.c.confidence).where(
            events.c.sender_id == row.sender_id,
            events.c.ts >= row.started_at.timestamp() - 1e-3,
        ).order_by(events.c.ts, events.c.id)
        for facts in fold([StoredEvent(*e) for e in session.execute(query)], now):
            if facts.started_at == row.started_at and facts.dropped_at:
                found[(row.sender_id, row.started_at)] = facts.dropped_at
    return found

