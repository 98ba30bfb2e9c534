"""The notifier: senders, leasing, retries, fencing, and crash recovery.

Runs against a temporary SQLite file and, for the leasing tests, PostgreSQL
(a throwaway database on the server of ``TEST_POSTGRES_URL``, see
tests/app/conftest.py). Webhooks go to a real HTTP server on 127.0.0.1 that
verifies every signature and can be told to fail.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, insert, select
from sqlalchemy.orm import sessionmaker

from integrations.shared.identity import caller_ref
from integrations.shared.privacy import EXAMPLE_KEY, Vault, generate_key
from integrations.workorders.adapters.base import Base
from integrations.workorders.adapters.outbox_table import DEAD, DELIVERED, PENDING, OutboxMessage
from integrations.workorders.notifier import (
    Delivery,
    LogSender,
    PermanentError,
    SenderRegistry,
    TransientError,
    WebhookSender,
    backoff_delay,
    claim,
    deliver_batch,
    drain,
    run_forever,
    sign,
    verify_signature,
)
from integrations.workorders.notifier.senders import parse_retry_after
from integrations.workorders.service.outbox import PHONE_CONTEXT

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
SECRET = "test-webhook-secret"
OUTBOX = OutboxMessage.__table__


# ---------------------------------------------------------------------- helpers


class Clock:
    """An injected clock that moves only when told."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def set(self, when: datetime) -> None:
        self.now = when


class FixedRandom:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


@dataclass
class Db:
    name: str
    url: str
    engine: object
    session_factory: sessionmaker


def _make_db(name: str, url: str, **engine_kw) -> Db:
    engine = create_engine(url, **engine_kw)
    Base.metadata.create_all(engine, tables=[OUTBOX])
    return Db(name, url, engine, sessionmaker(engine, expire_on_commit=False))


@pytest.fixture
def sqlite_db(tmp_path):
    db = _make_db("sqlite", f"sqlite:///{tmp_path / 'outbox.db'}", connect_args={"timeout": 30})
    yield db
    db.engine.dispose()


@pytest.fixture
def pg_db(pg_empty_url):
    """The outbox table alone in an empty PostgreSQL database (tests/app/conftest.py)."""
    db = _make_db("postgresql", pg_empty_url.replace("postgresql://", "postgresql+psycopg://", 1),
                  pool_size=10, max_overflow=10)
    yield db
    db.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request):
    return request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "pg_db")


def add_messages(session_factory, n, *, channel="webhook", start=0, due=T0, prefix="order.status"):
    rows = [
        dict(
            created_at=due,
            topic="order.status",
            recipient_kind="resident",
            recipient_ref=f"web:resident-{i}",
            channel=channel,
            order_number=f"{40000000 + i}",
            payload={"text": f"您的工单 {40000000 + i} 已受理", "status": "accepted", "label": "已受理"},
            dedupe_key=f"{prefix}:{40000000 + i}:accepted:resident",
            status=PENDING,
            attempts=0,
            next_attempt_at=due,
        )
        for i in range(start, start + n)
    ]
    with session_factory.begin() as session:
        session.execute(insert(OUTBOX), rows)
    return [r["dedupe_key"] for r in rows]


def all_rows(session_factory):
    with session_factory() as session:
        return [dict(r) for r in session.execute(select(OUTBOX).order_by(OUTBOX.c.id)).mappings()]


def one_row(session_factory):
    (row,) = all_rows(session_factory)
    return row


# --------------------------------------------------------------------- receiver


@dataclass
class Received:
    headers: dict
    body: bytes
    signature_ok: bool

    @property
    def json(self):
        return json.loads(self.body)

    @property
    def key(self):
        return self.headers.get("idempotency-key")


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records requests and verifies signatures.

    Answers 200 unless told otherwise: ``script`` holds (status, headers)
    pairs used in order, then ``default``; ``delay_s`` slows every answer.
    """

    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        self.requests: list[Received] = []
        self.script: collections.deque = collections.deque()
        self.default = (200, {})
        self.delay_s = 0.0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                ok = verify_signature(
                    receiver.secret, headers.get("x-timestamp"), body, headers.get("x-signature")
                )
                with receiver.lock:
                    receiver.requests.append(Received(headers, body, ok))
                    status, extra = receiver.script.popleft() if receiver.script else receiver.default
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                try:
                    payload = b'{"ok": true}' if status < 300 else b'{"error": "nope"}'
                    self.send_response(status)
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client went away (killed mid-request)
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/workorders"

    def respond(self, *responses) -> None:
        with self.lock:
            self.script.extend(responses)

    def keys(self) -> list[str]:
        with self.lock:
            return [r.key for r in self.requests]

    def count(self) -> int:
        with self.lock:
            return len(self.requests)


@pytest.fixture
def receiver():
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


async def _drain_webhook(db: Db, url: str, clock, **kw):
    async with httpx.AsyncClient() as client:
        sender = WebhookSender(url, SECRET, client, timeout=kw.pop("timeout", 5.0))
        registry = SenderRegistry({"webhook": sender}, fallback=LogSender())
        return await drain(db.session_factory, registry, clock, kw.pop("worker_id", "w1"),
                           rng=kw.pop("rng", FixedRandom(0.0)), **kw)


def drain_webhook(db: Db, url: str, clock, **kw):
    return asyncio.run(_drain_webhook(db, url, clock, **kw))


# ------------------------------------------------------------------ pure parts


def test_backoff_doubles_from_5s_up_to_30_minutes_with_bounded_jitter():
    no_jitter = FixedRandom(0.0)
    assert [backoff_delay(n, no_jitter) for n in range(1, 11)] == [
        5, 10, 20, 40, 80, 160, 320, 640, 1280, 1800,
    ]
    assert backoff_delay(500, no_jitter) == 1800  # no overflow, still the cap
    most = FixedRandom(0.999999)
    assert 3.75 <= backoff_delay(1, most) < 5
    assert 1350 <= backoff_delay(30, most) <= 1800
    assert backoff_delay(3, FixedRandom(0.5)) == pytest.approx(20 * 0.875)


def test_signature_verifies_and_rejects_tampering_wrong_key_and_stale_timestamps():
    body = '{"dedupe_key":"k","payload":{"text":"已受理"}}'.encode()
    header = sign(SECRET, 1_700_000_000, body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature(SECRET, "1700000000", body, header, now=1_700_000_100)
    assert verify_signature(SECRET, 1_700_000_000, body.decode(), header, now=1_700_000_000)
    assert not verify_signature(SECRET, "1700000000", body + b" ", header, now=1_700_000_000)
    assert not verify_signature("other", "1700000000", body, header, now=1_700_000_000)
    assert not verify_signature(SECRET, "1700000001", body, header, now=1_700_000_000)
    assert not verify_signature(SECRET, "1700000000", body, header, now=1_700_000_301)
    assert not verify_signature(SECRET, "1700000000", body, header, now=1_699_999_600)
    for bad_header in (None, "", "sha256=00", header.upper(), header[7:]):
        assert not verify_signature(SECRET, "1700000000", body, bad_header, now=1_700_000_000)
    for bad_ts in (None, "", "abc", "-5", "1e9", "１７００００００００"):
        assert not verify_signature(SECRET, bad_ts, body, header, now=1_700_000_000)


def test_retry_after_accepts_seconds_and_http_dates():
    now = T0.timestamp()
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after(" 0 ", now) == 0
    assert parse_retry_after(format_datetime(T0 + timedelta(seconds=90), usegmt=True), now) == 90
    assert parse_retry_after(format_datetime(T0 - timedelta(seconds=90), usegmt=True), now) == 0
    for junk in (None, "", "soon", "nan", "inf"):
        assert parse_retry_after(junk, now) is None


def test_log_sender_writes_one_redacted_json_line(caplog):
    message = Delivery(
        id=7, topic="order.assigned", recipient_kind="resident", recipient_ref="voice:13812345678",
        channel="voice", order_number="52718093",
        payload={"text": "工单 52718093 已派单，联系电话 138 1234 5678"}, dedupe_key="order.assigned:52718093",  # noqa: E501  (Chinese text counts double)
    )
    logger = logging.getLogger("test.notifier.log_sender")
    with caplog.at_level(logging.INFO, logger=logger.name):
        asyncio.run(LogSender(logger).send(message))
    (record,) = caplog.records
    line = record.getMessage()
    assert "13812345678" not in line and "1234 5678" not in line
    data = json.loads(line)
    assert data["recipient_ref"] == "voice:138****5678"
    assert data["text"] == "工单 52718093 已派单，联系电话 138****5678"
    assert data["order_number"] == "52718093" and data["dedupe_key"] == "order.assigned:52718093"
    assert data["channel"] == "voice" and data["attempt"] == 1


def test_registry_routes_by_channel_with_fallback():
    log_sender, hook = LogSender(), object()
    registry = SenderRegistry({"webhook": hook}, fallback=log_sender)
    assert registry.sender_for("webhook") is hook
    assert registry.sender_for("telegram") is log_sender  # no Telegram sender yet
    assert registry.unserved() == ["telegram", "voice", "log", "reports"]
    with pytest.raises(PermanentError):
        SenderRegistry({"webhook": hook}).sender_for("telegram")


def test_channel_without_sender_or_fallback_is_dead(sqlite_db):
    add_messages(sqlite_db.session_factory, 1, channel="telegram")
    counts = asyncio.run(drain(sqlite_db.session_factory, SenderRegistry(), Clock(), "w1"))
    assert (counts.dead, counts.delivered) == (1, 0)
    row = one_row(sqlite_db.session_factory)
    assert row["status"] == DEAD and "no sender for channel 'telegram'" in row["last_error"]


# ------------------------------------------------------------------- webhooks


def test_webhook_delivery_marks_row_delivered_with_signed_body(db, receiver):
    (key,) = add_messages(db.session_factory, 1)
    clock = Clock(T0 + timedelta(seconds=3))
    counts = drain_webhook(db, receiver.url, clock)
    assert counts.as_dict() == dict(claimed=1, delivered=1, retried=0, dead=0, lost=0, released=0)

    (req,) = receiver.requests
    assert req.signature_ok
    assert req.headers["idempotency-key"] == key
    assert req.headers["x-signature"] == sign(SECRET, req.headers["x-timestamp"], req.body)
    assert req.headers["content-type"].startswith("application/json")
    body = req.json
    assert set(body) == {"dedupe_key", "topic", "recipient", "order_number", "payload", "sent_at"}
    assert body["dedupe_key"] == key and body["topic"] == "order.status"
    assert body["recipient"] == {"kind": "resident", "ref": "web:resident-0"}
    assert body["order_number"] == "40000000"
    assert body["payload"] == {"text": "您的工单 40000000 已受理", "status": "accepted", "label": "已受理"}
    assert "已受理".encode() in req.body  # UTF-8, not \u escapes
    assert datetime.fromisoformat(body["sent_at"]).tzinfo is not None

    row = one_row(db.session_factory)
    assert row["status"] == DELIVERED
    assert row["delivered_at"] == clock.now
    assert row["attempts"] == 1
    assert row["leased_by"] is None and row["lease_until"] is None and row["last_error"] is None
    # nothing left to do
    assert drain_webhook(db, receiver.url, clock).claimed == 0
    assert receiver.count() == 1


def test_transient_failure_is_retried_after_backoff_then_delivered(sqlite_db, receiver):
    (key,) = add_messages(sqlite_db.session_factory, 1)
    receiver.respond((500, {}))
    clock = Clock()

    first = drain_webhook(sqlite_db, receiver.url, clock)
    assert (first.retried, first.delivered) == (1, 0)
    row = one_row(sqlite_db.session_factory)
    assert row["status"] == PENDING and row["attempts"] == 1
    assert row["next_attempt_at"] == T0 + timedelta(seconds=5)
    assert "HTTP 500" in row["last_error"]
    assert row["leased_by"] is None

    clock.advance(4.9)  # not due yet: no request
    assert drain_webhook(sqlite_db, receiver.url, clock).claimed == 0
    assert receiver.count() == 1

    clock.advance(0.1)
    second = drain_webhook(sqlite_db, receiver.url, clock)
    assert second.delivered == 1
    row = one_row(sqlite_db.session_factory)
    assert row["status"] == DELIVERED and row["attempts"] == 2 and row["last_error"] is None
    assert receiver.keys() == [key, key]  # the retry carries the same Idempotency-Key
    assert all(r.signature_ok for r in receiver.requests)


@pytest.mark.parametrize(
    "status, retry_after, expected_delay",
    [
        (429, "120", 120),
        (503, "7", 7),
        (503, format_datetime(T0 + timedelta(seconds=42), usegmt=True), 42),
        (429, None, 5),  # no header: our own backoff
        (500, "120", 5),  # Retry-After only honoured on 429/503
        (408, None, 5),
        (425, None, 5),
        (502, None, 5),
    ],
)
def test_retryable_statuses_schedule_a_retry(sqlite_db, receiver, status, retry_after, expected_delay):
    add_messages(sqlite_db.session_factory, 1)
    receiver.respond((status, {"Retry-After": retry_after} if retry_after else {}))
    clock = Clock()
    # the webhook sender reads its own clock for the HTTP date; pin it to the test clock
    async def go():
        async with httpx.AsyncClient() as client:
            sender = WebhookSender(receiver.url, SECRET, client, clock=lambda: clock.now.timestamp())
            registry = SenderRegistry({"webhook": sender})
            return await drain(sqlite_db.session_factory, registry, clock, "w1", rng=FixedRandom(0.0))

    counts = asyncio.run(go())
    assert counts.retried == 1
    row = one_row(sqlite_db.session_factory)
    assert row["status"] == PENDING
    assert row["next_attempt_at"] == T0 + timedelta(seconds=expected_delay)
    assert f"HTTP {status}" in row["last_error"]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422, 301])
def test_permanent_failure_is_dead_at_once(sqlite_db, receiver, status):
    add_messages(sqlite_db.session_factory, 1)
    receiver.respond((status, {"Location": "http://elsewhere"} if status == 301 else {}))
    clock = Clock()
    counts = drain_webhook(sqlite_db, receiver.url, clock)
    assert (counts.dead, counts.retried, counts.delivered) == (1, 0, 0)
    row = one_row(sqlite_db.session_factory)
    assert row["status"] == DEAD and row["attempts"] == 1
    assert f"HTTP {status}" in row["last_error"] and "nope" in row["last_error"]
    clock.advance(3600)
    assert drain_webhook(sqlite_db, receiver.url, clock).claimed == 0
    assert receiver.count() == 1


def test_network_errors_and_timeouts_are_transient(sqlite_db, receiver):
    add_messages(sqlite_db.session_factory, 2)
    closed = Receiver()  # bound, then closed: nothing listens on that port
    dead_url = closed.url
    closed.server.server_close()
    clock = Clock()
    counts = drain_webhook(sqlite_db, dead_url, clock)
    assert counts.retried == 2
    assert all("unreachable" in r["last_error"] for r in all_rows(sqlite_db.session_factory))

    receiver.delay_s = 1.0
    clock.advance(5)
    counts = drain_webhook(sqlite_db, receiver.url, clock, timeout=0.2)
    assert counts.retried == 2
    rows = all_rows(sqlite_db.session_factory)
    assert all("timed out" in r["last_error"] and r["attempts"] == 2 for r in rows)
    assert all(r["next_attempt_at"] == clock.now + timedelta(seconds=10) for r in rows)


def test_max_attempts_then_dead(sqlite_db, receiver):
    add_messages(sqlite_db.session_factory, 1)
    receiver.default = (500, {})
    clock = Clock()
    for attempt in range(1, 4):
        counts = drain_webhook(sqlite_db, receiver.url, clock, max_attempts=3)
        row = one_row(sqlite_db.session_factory)
        assert row["attempts"] == attempt
        if attempt < 3:
            assert counts.retried == 1 and row["status"] == PENDING
            clock.set(row["next_attempt_at"])
    assert counts.dead == 1
    assert row["status"] == DEAD
    assert row["last_error"].startswith("gave up after 3 attempts: webhook answered HTTP 500")
    clock.advance(86400)
    assert drain_webhook(sqlite_db, receiver.url, clock, max_attempts=3).claimed == 0
    assert receiver.count() == 3


def test_default_max_attempts_is_twelve(sqlite_db):
    class Failing:
        async def send(self, message):
            raise TransientError("down")

    add_messages(sqlite_db.session_factory, 1)
    clock = Clock()
    registry = SenderRegistry({"webhook": Failing()})
    delays = []
    for _ in range(12):
        asyncio.run(drain(sqlite_db.session_factory, registry, clock, "w1", rng=FixedRandom(0.0)))
        row = one_row(sqlite_db.session_factory)
        if row["status"] == DEAD:
            break
        delays.append((row["next_attempt_at"] - clock.now).total_seconds())
        clock.set(row["next_attempt_at"])
    assert row["status"] == DEAD and row["attempts"] == 12
    assert delays == [5, 10, 20, 40, 80, 160, 320, 640, 1280, 1800, 1800]


def test_sender_bug_is_retried_not_lost(sqlite_db):
    class Buggy:
        async def send(self, message):
            raise KeyError("oops")

    add_messages(sqlite_db.session_factory, 1)
    registry = SenderRegistry({"webhook": Buggy()})
    counts = asyncio.run(drain(sqlite_db.session_factory, registry, Clock(), "w1"))
    assert counts.retried == 1
    assert "KeyError" in one_row(sqlite_db.session_factory)["last_error"]


# -------------------------------------------------------------------- leasing


def test_concurrent_claims_never_lease_the_same_row(db):
    n_rows, n_workers = 300, 6
    add_messages(db.session_factory, n_rows)
    barrier = threading.Barrier(n_workers)
    got: dict[str, list[int]] = {}
    errors = []

    def worker(name):
        ids = []
        try:
            barrier.wait()
            while batch := claim(db.session_factory, name, T0, batch=7, lease_s=60):
                ids.extend(d.id for d in batch)
                assert all(d.lease_until == T0 + timedelta(seconds=60) for d in batch)
                time.sleep(0.01)  # "delivering": lets the others take turns at the lock
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        got[name] = ids

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(n_workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    claimed = [i for ids in got.values() for i in ids]
    assert len(claimed) == len(set(claimed)) == n_rows  # each row leased exactly once
    assert sum(1 for ids in got.values() if ids) >= 2  # the workers really interleaved
    owner = {i: name for name, ids in got.items() for i in ids}
    for row in all_rows(db.session_factory):
        assert row["leased_by"] == owner[row["id"]]
    assert claim(db.session_factory, "late", T0, batch=50) == []


def test_claim_takes_only_due_rows_oldest_first(db):
    add_messages(db.session_factory, 3, due=T0 + timedelta(seconds=10))
    add_messages(db.session_factory, 2, start=3, due=T0 - timedelta(seconds=10))
    with db.session_factory.begin() as session:
        session.execute(OUTBOX.update().where(OUTBOX.c.id == 1).values(status=DELIVERED))
        session.execute(OUTBOX.update().where(OUTBOX.c.id == 2).values(status=DEAD))
    assert [d.id for d in claim(db.session_factory, "w1", T0, batch=10)] == [4, 5]
    assert [d.id for d in claim(db.session_factory, "w1", T0 + timedelta(seconds=10), batch=10)] == [3]


def test_expired_lease_is_reclaimed_and_the_stale_worker_cannot_overwrite(db):
    keys = add_messages(db.session_factory, 3)
    stale = claim(db.session_factory, "stale", T0, lease_s=60)
    assert len(stale) == 3
    assert claim(db.session_factory, "fresh", T0 + timedelta(seconds=59)) == []

    fresh = claim(db.session_factory, "fresh", T0 + timedelta(seconds=60))
    assert [d.dedupe_key for d in fresh] == keys
    assert all(d.lease_until == T0 + timedelta(seconds=120) for d in fresh)

    sent = []

    class Recording:
        async def send(self, message):
            sent.append(message.dedupe_key)

    class Rejecting:
        async def send(self, message):
            raise PermanentError("recipient blocked the bot")

    # The stale worker stalled before its sends; it wakes up (its clock still
    # inside its lease) and fails them permanently after the fresh one took over.
    stale_counts = asyncio.run(deliver_batch(
        db.session_factory, SenderRegistry({"webhook": Rejecting()}), stale, "stale", Clock(T0),
    ))
    assert stale_counts.lost == 3 and stale_counts.dead == 0
    assert all(r["status"] == PENDING and r["leased_by"] == "fresh" for r in all_rows(db.session_factory))

    fresh_counts = asyncio.run(deliver_batch(
        db.session_factory, SenderRegistry({"webhook": Recording()}), fresh, "fresh",
        Clock(T0 + timedelta(seconds=61)),
    ))
    assert fresh_counts.delivered == 3 and sent == keys
    assert all(r["status"] == DELIVERED and r["last_error"] is None for r in all_rows(db.session_factory))

    # ...and a late outcome from the stale worker changes nothing either.
    again = asyncio.run(deliver_batch(
        db.session_factory, SenderRegistry({"webhook": Rejecting()}), stale, "stale", Clock(T0),
    ))
    assert again.lost == 3
    assert all(r["status"] == DELIVERED for r in all_rows(db.session_factory))


def test_sends_that_could_outlive_their_lease_are_released_not_started(sqlite_db):
    add_messages(sqlite_db.session_factory, 2)
    leased = claim(sqlite_db.session_factory, "w1", T0, lease_s=60)
    sent = []

    class Recording:
        async def send(self, message):
            sent.append(message.id)

    late = Clock(T0 + timedelta(seconds=45))  # 15 s left, sends may take 20 s
    counts = asyncio.run(deliver_batch(
        sqlite_db.session_factory, SenderRegistry({"webhook": Recording()}), leased, "w1", late,
    ))
    assert sent == [] and counts.released == 2
    rows = all_rows(sqlite_db.session_factory)
    assert all(r["leased_by"] is None and r["lease_until"] is None and r["attempts"] == 0 for r in rows)
    assert len(claim(sqlite_db.session_factory, "w2", late.now)) == 2  # due again at once


def test_drain_refuses_a_send_timeout_longer_than_the_lease(sqlite_db):
    with pytest.raises(ValueError, match="shorter than lease_s"):
        asyncio.run(drain(sqlite_db.session_factory, SenderRegistry(), Clock(), "w1",
                          lease_s=10, send_timeout_s=10))


# ------------------------------------------------------------------ run loop


class SlowSender:
    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.started: list[str] = []
        self.finished: list[str] = []

    async def send(self, message):
        self.started.append(message.dedupe_key)
        await asyncio.sleep(self.delay_s)
        self.finished.append(message.dedupe_key)


def test_run_forever_stops_gracefully_finishing_sends_in_flight(sqlite_db):
    add_messages(sqlite_db.session_factory, 10)
    sender = SlowSender(0.5)

    async def go():
        stop = asyncio.Event()
        task = asyncio.create_task(run_forever(
            sqlite_db.session_factory, SenderRegistry({"webhook": sender}), worker_id="w1",
            stop=stop, concurrency=2, poll_interval_s=0.05,
        ))
        while len(sender.started) < 2:
            await asyncio.sleep(0.01)
        stop.set()
        return await asyncio.wait_for(task, 10)

    counts = asyncio.run(go())
    assert sender.started == sender.finished  # nothing cut off mid-send
    assert counts.delivered == 2 and counts.released == 8
    rows = all_rows(sqlite_db.session_factory)
    delivered = [r for r in rows if r["status"] == DELIVERED]
    assert sorted(r["dedupe_key"] for r in delivered) == sorted(sender.finished)
    rest = [r for r in rows if r["status"] != DELIVERED]
    assert len(rest) == 8
    assert all(r["status"] == PENDING and r["leased_by"] is None and r["attempts"] == 0 for r in rest)


def test_run_forever_polls_and_wakes_promptly(sqlite_db):
    sender = SlowSender(0)

    async def go():
        stop, wake = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(run_forever(
            sqlite_db.session_factory, SenderRegistry({"webhook": sender}), worker_id="w1",
            stop=stop, wake=wake, poll_interval_s=30,
        ))
        await asyncio.sleep(0.2)  # idle: asleep for 30 s
        add_messages(sqlite_db.session_factory, 60)
        started = time.monotonic()
        wake.set()
        while len(sender.finished) < 60:
            await asyncio.sleep(0.01)
        elapsed = time.monotonic() - started
        stop.set()
        counts = await asyncio.wait_for(task, 5)
        return elapsed, counts

    elapsed, counts = asyncio.run(go())
    assert elapsed < 5  # woken, and the second batch (over 50) claimed without waiting
    assert counts.delivered == 60 and counts.claimed == 60


# -------------------------------------------------------- notifier processes


def _notifier_env(db_url: str, receiver_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKORDERS_")}
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        WORKORDERS_DATABASE_URL=db_url,
        WORKORDERS_WEBHOOK_URL=receiver_url,
        WORKORDERS_WEBHOOK_SECRET=SECRET,
    )
    return env


def _start_notifier(env, *args, log_path: Path):
    return subprocess.Popen(
        [PYTHON, "-m", "integrations.notifier", *args],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=open(log_path, "ab"),
    )


def _wait_for(predicate, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def _status_counts(session_factory):
    return collections.Counter(r["status"] for r in all_rows(session_factory))


@pytest.mark.slow
def test_crash_mid_delivery_then_restart_delivers_everything(tmp_path, receiver):
    db_file = tmp_path / "outbox.db"
    db = _make_db("sqlite", f"sqlite:///{db_file}")
    keys = add_messages(db.session_factory, 50, due=datetime.now(UTC) - timedelta(seconds=1))
    receiver.delay_s = 0.15
    env = _notifier_env(f"sqlite:///{db_file}", receiver.url)
    log_path = tmp_path / "notifier.log"
    opts = ["--lease-seconds", "3", "--send-timeout", "2", "--concurrency", "4", "--batch", "20",
            "--poll-interval", "0.2"]

    first = _start_notifier(env, "--worker-id", "first", *opts, log_path=log_path)
    try:
        _wait_for(lambda: receiver.count() >= 12, 30, "the first notifier to be mid-delivery")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert first.returncode == -signal.SIGKILL
    at_kill = receiver.count()
    stranded = _status_counts(db.session_factory)[PENDING]
    assert stranded > 0 and at_kill < 50, "the kill came too late to test recovery"
    leased = [r for r in all_rows(db.session_factory) if r["leased_by"] == "first"]
    assert leased, "the killed notifier held leases"

    second = _start_notifier(env, "--worker-id", "second", *opts, log_path=log_path)
    try:
        _wait_for(lambda: _status_counts(db.session_factory)[DELIVERED] == 50, 60,
                  "every row to be delivered after the restart")
    finally:
        second.send_signal(signal.SIGTERM)
        out, _ = second.communicate(timeout=15)
    assert second.returncode == 0, log_path.read_text()
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["worker_id"] == "second" and summary["delivered"] >= stranded

    received = receiver.keys()
    assert all(r.signature_ok for r in receiver.requests)
    assert set(received) == set(keys)  # every message arrived at least once
    by_key = {}
    for req in receiver.requests:  # the receiver's de-duplication by Idempotency-Key
        by_key.setdefault(req.key, req.json)
        assert req.json["dedupe_key"] == req.key
        assert req.json["payload"] == by_key[req.key]["payload"]
    assert len(by_key) == 50
    rows = all_rows(db.session_factory)
    assert all(r["status"] == DELIVERED and r["leased_by"] is None for r in rows)
    # The only duplicates are sends the killed process made but could not record.
    assert len(received) - 50 <= 4
    db.engine.dispose()


@pytest.mark.slow
def test_two_notifier_processes_share_the_outbox_without_duplicates(tmp_path, receiver):
    db_file = tmp_path / "outbox.db"
    db = _make_db("sqlite", f"sqlite:///{db_file}")
    keys = add_messages(db.session_factory, 120, due=datetime.now(UTC) - timedelta(seconds=1))
    receiver.delay_s = 0.05
    env = _notifier_env(f"sqlite:///{db_file}", receiver.url)
    log_path = tmp_path / "notifier.log"
    procs = [
        _start_notifier(env, "--once", "--worker-id", f"p{i}", "--batch", "5", "--concurrency", "3",
                        log_path=log_path)
        for i in range(2)
    ]
    summaries = []
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, log_path.read_text()
        summaries.append(json.loads(out.decode().strip().splitlines()[-1]))
    assert sum(s["delivered"] for s in summaries) == 120
    assert all(s["delivered"] > 0 for s in summaries), summaries  # both took part
    assert all(s["lost"] == 0 for s in summaries)
    assert sorted(receiver.keys()) == sorted(keys)  # exactly once each, no crash, no duplicates
    assert _status_counts(db.session_factory) == {DELIVERED: 120}
    db.engine.dispose()


def test_entrypoint_logs_fallback_channels_redacted_and_exits_after_once(tmp_path):
    db_file = tmp_path / "outbox.db"
    db = _make_db("sqlite", f"sqlite:///{db_file}")
    with db.session_factory.begin() as session:
        session.add(OutboxMessage(
            created_at=T0, topic="order.assigned", recipient_kind="resident",
            recipient_ref="voice:13912345678", channel="voice", order_number="52718093",
            payload={"text": "您的工单 52718093 已派单，回电 13912345678"},
            dedupe_key="order.assigned:52718093:resident", next_attempt_at=T0,
        ))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKORDERS_")}
    env.update(PYTHONPATH=str(REPO_ROOT), WORKORDERS_DATABASE_URL=f"sqlite:///{db_file}")
    proc = subprocess.run(
        [PYTHON, "-m", "integrations.notifier", "--once", "--worker-id", "cli"],
        cwd=REPO_ROOT, env=env, capture_output=True, timeout=60,
    )
    stderr = proc.stderr.decode()
    assert proc.returncode == 0, stderr
    assert json.loads(proc.stdout.decode()) == dict(
        worker_id="cli", claimed=1, delivered=1, retried=0, dead=0, lost=0, released=0,
    )
    assert "13912345678" not in stderr
    assert "139****5678" in stderr and "52718093" in stderr
    assert "channel 'voice' has no sender configured" in stderr
    assert one_row(db.session_factory)["status"] == DELIVERED
    db.engine.dispose()


def test_entrypoint_refuses_an_unsigned_webhook(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKORDERS_")}
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        WORKORDERS_DATABASE_URL=f"sqlite:///{tmp_path / 'outbox.db'}",
        WORKORDERS_WEBHOOK_URL="http://127.0.0.1:9/hook",
    )
    proc = subprocess.run(
        [PYTHON, "-m", "integrations.notifier", "--once"],
        cwd=REPO_ROOT, env=env, capture_output=True, timeout=60,
    )
    assert proc.returncode != 0
    assert "WORKORDERS_WEBHOOK_SECRET" in proc.stderr.decode()


# ------------------------------------------------------- the phone line's gateway


VOICE_VAULT = Vault(EXAMPLE_KEY)
CALLER_REF = caller_ref(VOICE_VAULT, "13800138000")


def add_voice_message(session_factory, recipient_ref: str, number: str = "40000099",
                      phone: str | None = "13800138000") -> str:
    """A ``voice`` row as the service writes it: the contact encrypted in ``phone_enc``."""
    key = f"{number}:3:resident:{recipient_ref}"
    payload = {"text": f"您反映的工单 {number} 已签收，处理人员会尽快联系您。"}
    if phone is not None:
        payload["phone_enc"] = VOICE_VAULT.encrypt(phone, context=PHONE_CONTEXT)
    with session_factory.begin() as session:
        session.execute(insert(OUTBOX), [dict(
            created_at=T0, topic="order.status", recipient_kind="resident",
            recipient_ref=recipient_ref, channel="voice", order_number=number,
            payload=payload,
            dedupe_key=key, status=PENDING, attempts=0, next_attempt_at=T0,
        )])
    return key


async def _drain_voice(db, url: str, clock):
    from integrations.workorders.notifier.voice import VoiceSender

    async with httpx.AsyncClient() as client:
        registry = SenderRegistry({"voice": VoiceSender(url, SECRET, client, VOICE_VAULT,
                                                        timeout=5.0)},
                                  fallback=LogSender())
        return await drain(db.session_factory, registry, clock, "w-voice", rng=FixedRandom(0.0))


def test_a_callers_status_change_goes_to_the_sms_gateway_with_their_number(sqlite_db, receiver):
    key = add_voice_message(sqlite_db.session_factory, CALLER_REF)
    counts = asyncio.run(_drain_voice(sqlite_db, receiver.url, Clock(T0)))
    assert counts.delivered == 1
    (req,) = receiver.requests
    assert req.signature_ok and req.headers["idempotency-key"] == key
    body = req.json
    assert body["phone"] == "13800138000" and body["order_number"] == "40000099"
    assert body["text"] == "您反映的工单 40000099 已签收，处理人员会尽快联系您。"
    assert "四 零 零 零 零 零 九 九" in body["spoken"]  # read digit by digit on a call
    assert one_row(sqlite_db.session_factory)["status"] == DELIVERED


def test_a_caller_without_a_number_is_dead_at_once_and_5xx_is_retried(sqlite_db, receiver):
    add_voice_message(sqlite_db.session_factory, "voice:unknown-0b9d1c1e", phone=None)
    counts = asyncio.run(_drain_voice(sqlite_db, receiver.url, Clock(T0)))
    assert (counts.dead, receiver.count()) == (1, 0)
    row = one_row(sqlite_db.session_factory)
    assert row["status"] == DEAD and "no phone number" in row["last_error"]

    # the number is never read from the sender id, and a token of another key is no number
    for ref, phone_enc in (("voice:13800138000", None),
                           (CALLER_REF, Vault(generate_key()).encrypt("13800138000",
                                                                      context=PHONE_CONTEXT))):
        with sqlite_db.session_factory.begin() as session:
            session.execute(OUTBOX.delete())
        add_voice_message(sqlite_db.session_factory, ref, phone=None)
        if phone_enc is not None:
            with sqlite_db.session_factory.begin() as session:
                session.execute(OUTBOX.update().values(payload={"text": "x", "phone_enc": phone_enc}))
        counts = asyncio.run(_drain_voice(sqlite_db, receiver.url, Clock(T0)))
        assert (counts.dead, receiver.count()) == (1, 0)

    with sqlite_db.session_factory.begin() as session:
        session.execute(OUTBOX.delete())
    add_voice_message(sqlite_db.session_factory, CALLER_REF)
    receiver.respond((503, {}))
    counts = asyncio.run(_drain_voice(sqlite_db, receiver.url, Clock(T0)))
    assert counts.retried == 1 and one_row(sqlite_db.session_factory)["status"] == PENDING


def test_entrypoint_refuses_an_unsigned_voice_gateway(tmp_path):
    env = {**os.environ, "WORKORDERS_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
           "WORKORDERS_VOICE_WEBHOOK_URL": "http://127.0.0.1:9/sms"}
    env.pop("WORKORDERS_VOICE_WEBHOOK_SECRET", None)
    result = subprocess.run([sys.executable, "-m", "integrations.notifier", "--once"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "WORKORDERS_VOICE_WEBHOOK_SECRET" in result.stderr
