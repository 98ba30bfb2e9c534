"""Catching up from Rasa's SQL tracker store: the same events as the broker's,
stored once whichever way they came (SQLite and PostgreSQL work-order databases)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, func, select, text

from integrations.conversations.__main__ import main
from integrations.conversations.backfill import backfill
from integrations.workorders.adapters.conversation_tables import Conversation, ConversationEvent
from integrations.workorders.service.conversations import record_events
from integrations.workorders.service.uow import UnitOfWork
from tests.app.rasa_events import Talk, completed_report, dropped_report

# the columns of Rasa 3.6's SQLTrackerStore.SQLEvent
EVENTS_TABLE = """CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL,
    type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255),
    action_name VARCHAR(255), data TEXT)"""


def tracker_store(path, talks: list[Talk]):
    """A tracker store holding the talks as Rasa writes them (data without sender_id)."""
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text(EVENTS_TABLE))
        for talk in talks:
            for event in talk.events:
                data = {k: v for k, v in event.items() if k != "sender_id"}
                conn.execute(text(
                    "INSERT INTO events (sender_id, type_name, timestamp, intent_name, "
                    "action_name, data) VALUES (:s, :t, :ts, :i, :a, :d)"),
                    {"s": event["sender_id"], "t": event["event"], "ts": event["timestamp"],
                     "i": None, "a": event.get("name"), "d": json.dumps(data)})
    return engine


def count(db, table) -> int:
    with db.session_factory() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_backfill_stores_what_the_broker_lost_and_agrees_with_it_on_keys(db, tmp_path):
    start = time.time() - 3 * 3600
    talks = [completed_report("tg:1", start), dropped_report("web:2", start + 60),
             Talk("tg:3", start + 120).greet().not_understood()]
    old = Talk("tg:old", start - 3 * 86400).greet()  # before the window
    tracker = tracker_store(tmp_path / "rasa.db", talks + [old])
    try:
        # the broker delivered only the first conversation
        delivered = record_events(_uow(db), talks[0].events)
        result = backfill(tracker, db.session_factory, since=datetime.now(UTC) - timedelta(days=1),
                          page=25)
    finally:
        tracker.dispose()
    assert delivered > 0
    assert result.stored == count(db, ConversationEvent) - delivered > 0
    with db.session_factory() as session:
        rows = {r.sender_id: r for r in session.scalars(select(Conversation))}
    assert set(rows) == {"tg:1", "web:2", "tg:3"}
    assert rows["tg:1"].report_opened and rows["web:2"].dropped_at == "location"
    assert rows["tg:3"].fallbacks == 1
    # the broker's copies of the backfilled events: nothing new
    assert record_events(_uow(db), [e for t in talks for e in t.events]) == 0


def _uow(db) -> UnitOfWork:
    return UnitOfWork(db.session_factory, db.config)


def test_the_backfill_command(sqlite_db, tmp_path, monkeypatch, capsys):
    tracker = tracker_store(tmp_path / "rasa.db", [completed_report("tg:9", time.time() - 600)])
    tracker.dispose()
    monkeypatch.setenv("WORKORDERS_DATABASE_URL", sqlite_db.url)
    monkeypatch.setenv("WORKORDERS_TRACKER_DATABASE_URL", f"sqlite:///{tmp_path / 'rasa.db'}")
    assert main(["backfill", "--hours", "1"]) == 0
    assert main(["backfill", "--hours", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(" new") and not out[0].endswith(" 0 new")
    assert out[1].endswith(" 0 new")
    assert count(sqlite_db, Conversation) == 1
