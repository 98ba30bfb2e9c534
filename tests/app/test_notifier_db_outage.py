"""The notifier when the database fails between a send and its record: the outcome is
written again while the lease holds, so the message is not sent a second time."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy.exc import OperationalError

from integrations.workorders.adapters.outbox_table import DELIVERED, PENDING
from integrations.workorders.notifier import SenderRegistry, claim, deliver_batch, delivery
from tests.app.test_notifier import T0, Clock, add_messages, all_rows


class FailingSessions:
    """A session factory whose sessions cannot reach the database while ``down``."""

    def __init__(self, factory) -> None:
        self.factory = factory
        self.down = False
        self.refused = 0

    def __call__(self):
        if self.down:
            self.refused += 1
            raise OperationalError("UPDATE outbox", {}, Exception("server closed the connection"))
        return self.factory()


class Recording:
    def __init__(self, sessions: FailingSessions, outage_s: float) -> None:
        self.sessions = sessions
        self.outage_s = outage_s
        self.sent: list[str] = []

    async def send(self, message) -> None:
        self.sent.append(message.dedupe_key)
        # the database goes away right after the send, and comes back a little later
        self.sessions.down = True
        asyncio.get_running_loop().call_later(self.outage_s, setattr, self.sessions, "down", False)


def test_an_outcome_is_recorded_once_the_database_is_back(sqlite_db, monkeypatch):
    monkeypatch.setattr(delivery, "RECORD_RETRY_FIRST_S", 0.05)
    keys = add_messages(sqlite_db.session_factory, 2)
    sessions = FailingSessions(sqlite_db.session_factory)
    leased = claim(sqlite_db.session_factory, "w1", T0, lease_s=60)
    sender = Recording(sessions, outage_s=0.3)
    counts = asyncio.run(deliver_batch(
        sessions, SenderRegistry({"webhook": sender}), leased, "w1", Clock(T0 + timedelta(seconds=1)),
        concurrency=1, send_timeout_s=5,
    ))
    assert counts.delivered == 2 and counts.lost == 0, counts
    assert sessions.refused >= 2  # the database did fail while recording
    assert sender.sent == keys  # each sent once
    rows = all_rows(sqlite_db.session_factory)
    assert all(r["status"] == DELIVERED and r["leased_by"] is None for r in rows)


def test_it_gives_up_before_the_lease_ends(sqlite_db, monkeypatch):
    monkeypatch.setattr(delivery, "RECORD_RETRY_FIRST_S", 0.05)
    monkeypatch.setattr(delivery, "RECORD_MARGIN_S", 0.0)
    add_messages(sqlite_db.session_factory, 1)
    sessions = FailingSessions(sqlite_db.session_factory)
    leased = claim(sqlite_db.session_factory, "w1", T0, lease_s=60)
    sender = Recording(sessions, outage_s=60)
    # the lease has 0.4 s left by this clock: the record is given up, the row stays leased
    clock = Clock(T0 + timedelta(seconds=59.6))
    counts = asyncio.run(deliver_batch(
        sessions, SenderRegistry({"webhook": sender}), leased, "w1", clock, send_timeout_s=0.1,
    ))
    assert counts.lost == 1 and counts.delivered == 0
    assert 1 <= sessions.refused <= 5
    (row,) = all_rows(sqlite_db.session_factory)
    assert row["status"] == PENDING and row["leased_by"] == "w1"  # sent again after the lease
