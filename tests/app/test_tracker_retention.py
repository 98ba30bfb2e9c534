"""Rasa's tracker store keeps conversations for a configurable number of days.

The conversations are written by Rasa's own ``SQLTrackerStore`` (the Rasa
environment's Python), into SQLite and into PostgreSQL; the pruning is the
sweeper's (``integrations.shared.tracker_retention`` and ``sweep --once``).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from integrations.shared.privacy import EXAMPLE_KEY
from integrations.shared.tracker_retention import make_tracker_engine, prune_trackers
from integrations.workorders.cli import main
from integrations.workorders.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
WRITER = Path(__file__).with_name("rasa_tracker_writer.py")
DAY = 86400.0
pytestmark = pytest.mark.slow  # starts Rasa's Python (a few seconds)


def write_with_rasa(store: dict, conversations: dict[str, list[float]]) -> None:
    if not RASA_PYTHON.exists():
        pytest.fail("the Rasa environment is missing: run `make venvs`")
    result = subprocess.run(
        [str(RASA_PYTHON), str(WRITER),
         json.dumps({"store": store, "conversations": conversations})],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
        env={**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-3000:]


def senders(url: str) -> dict[str, int]:
    engine = make_tracker_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT sender_id, count(*) FROM events GROUP BY sender_id")).all()
    finally:
        engine.dispose()
    return {sender: count for sender, count in rows}


NOW = time.time()
CONVERSATIONS = {
    "tg:old": [NOW - 45 * DAY, NOW - 40 * DAY],            # last spoke 40 days ago: removed
    "voice:h:abc": [NOW - 31 * DAY],                       # 31 days: removed
    "tg:recent": [NOW - 60 * DAY, NOW - 29 * DAY],         # last spoke 29 days ago: kept whole
    "web:today": [NOW - 60],                               # kept
}


@pytest.fixture(params=["sqlite", "postgresql"])
def tracker_store(request, tmp_path):
    """(SQLAlchemy URL, SQLTrackerStore arguments) of an empty tracker store."""
    if request.param == "sqlite":
        path = tmp_path / "rasa-tracker.db"
        yield f"sqlite:///{path}", {"dialect": "sqlite", "db": str(path)}
        return
    url = request.getfixturevalue("pg_empty_url")
    parts = make_url(url)
    yield url, {"dialect": "postgresql", "host": parts.host or "127.0.0.1",
                "port": parts.port or 5432, "username": parts.username,
                "password": parts.password, "db": parts.database}


def test_conversations_silent_longer_than_the_limit_are_removed_whole(tracker_store):
    url, store = tracker_store
    write_with_rasa(store, CONVERSATIONS)
    before = senders(url)
    assert set(before) == set(CONVERSATIONS)

    engine = make_tracker_engine(url)
    try:
        result = prune_trackers(engine, NOW, retention_days=30, batch=1)
        assert result.conversations == 2
        assert result.events == before["tg:old"] + before["voice:h:abc"]
        assert senders(url) == {"tg:recent": before["tg:recent"], "web:today": before["web:today"]}
        # again: nothing more to do
        assert prune_trackers(engine, NOW, retention_days=30).conversations == 0
        # a shorter limit, configured: the 29-day-old conversation goes too
        assert prune_trackers(engine, NOW, retention_days=7).conversations == 1
        assert set(senders(url)) == {"web:today"}
    finally:
        engine.dispose()


def test_a_store_rasa_has_not_written_yet_has_nothing_to_prune(tmp_path):
    engine = make_tracker_engine(f"sqlite:///{tmp_path / 'none.db'}")
    try:
        assert prune_trackers(engine, NOW).conversations == 0
    finally:
        engine.dispose()


def test_the_sweeper_prunes_the_tracker_store_with_the_configured_days(tmp_path, capsys):
    path = tmp_path / "rasa-tracker.db"
    write_with_rasa({"dialect": "sqlite", "db": str(path)}, CONVERSATIONS)
    db = f"sqlite:///{tmp_path / 'workorders.db'}"
    settings = Settings(database_url=db, secret_key=EXAMPLE_KEY, development=True,
                        tracker_database_url=f"sqlite:///{path}", tracker_retention_days=30)
    assert main(["migrate"], settings=settings) == 0
    assert main(["sweep", "--once"], settings=settings) == 0
    assert set(senders(f"sqlite:///{path}")) == {"tg:recent", "web:today"}
    settings = settings.model_copy(update={"tracker_retention_days": 1})
    assert main(["sweep", "--once"], settings=settings) == 0
    assert set(senders(f"sqlite:///{path}")) == {"web:today"}
