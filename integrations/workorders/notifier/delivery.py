"""The delivery loop: lease due outbox rows, send them, record what happened.

Everything here is a function of what it needs (a session factory, a sender
registry, a clock, a worker id), so tests drive it with an injected clock and
random source, and the entrypoint wires the real ones.

Leasing (``claim``)
    A row is due when it is pending, ``next_attempt_at <= now`` and it has no
    live lease. ``claim`` sets ``leased_by``/``lease_until`` on up to ``batch``
    due rows in one transaction, so two processes never lease the same row:
    PostgreSQL locks the candidates with ``SELECT ... FOR UPDATE SKIP LOCKED``
    (concurrent workers skip each other's rows instead of waiting); SQLite
    takes the database write lock first (``BEGIN IMMEDIATE``) and leases with
    one ``UPDATE ... WHERE id IN (SELECT ... LIMIT n)``.

Order
    Messages for one order reach one recipient in the order they were
    written: a row is not due while an earlier row (lower id) for the same
    order, recipient and channel is still pending, so a retried "accepted"
    never arrives after "resolved". A dead row no longer holds the ones after it.

Fencing
    An outcome is written only if the row is still pending and still carries
    this worker's id *and* the exact ``lease_until`` it was claimed with. A
    worker whose lease expired (stalled, or presumed dead) and was re-leased by
    another cannot overwrite the other's result. A send is not started unless
    it can finish (``send_timeout_s``) before the lease ends, so a live worker
    never races its own expiring lease; such rows are released instead.

Outcomes
    delivered: ``status=delivered``, ``delivered_at``; transient failure:
    ``attempts+1`` and ``next_attempt_at = now + backoff`` (5 s doubling up to
    30 min, minus up to 25 % jitter; or the receiver's ``Retry-After``), dead
    after ``max_attempts`` attempts; permanent failure: dead at once.
    ``attempts`` counts every attempt, the successful one included, and
    ``last_error`` holds the error of the latest failed attempt (cleared on
    delivery).

Delivery is at least once: a crash between a send and its record means the row
is sent again after its lease expires, with the same dedupe key. A database
that fails between a send and its record (restarting, a dropped connection)
does not: the outcome is written again and again while the lease holds.

Database calls are synchronous SQLAlchemy run in worker threads
(``asyncio.to_thread``), so in-flight sends keep going while a batch is
claimed or an outcome is written.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import CursorResult, and_, or_, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from integrations.shared.delivery import Delivery, PermanentError, TransientError
from integrations.shared.privacy import redact

from ..adapters.outbox_table import DEAD, DELIVERED, PENDING, OutboxMessage
from .senders import SenderRegistry

__all__ = [
    "BACKOFF_BASE_S",
    "BACKOFF_CAP_S",
    "DEFAULT_BATCH",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_LEASE_S",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_SEND_TIMEOUT_S",
    "Counts",
    "backoff_delay",
    "claim",
    "deliver_batch",
    "drain",
    "release",
    "run_forever",
    "utc_now",
]

log = logging.getLogger("integrations.workorders.notifier")

DEFAULT_BATCH = 50
DEFAULT_LEASE_S = 60.0
DEFAULT_MAX_ATTEMPTS = 12
DEFAULT_CONCURRENCY = 8
# Longest a single send may take; must be shorter than the lease.
DEFAULT_SEND_TIMEOUT_S = 20.0
DEFAULT_POLL_INTERVAL_S = 1.0
BACKOFF_BASE_S = 5.0
BACKOFF_CAP_S = 30 * 60.0
# The share of the nominal delay that jitter may take off.
BACKOFF_JITTER = 0.25
# A receiver's Retry-After is honoured up to this (a typo must not park a message for days).
MAX_RETRY_AFTER_S = 6 * 3600.0
_ERROR_CHARS = 500
# SQLite "database is locked"/"busy", PostgreSQL serialization failure / deadlock.
_RETRY_DB_ATTEMPTS = 6
# An outcome the database would not take is tried again while the lease holds
# (less this margin), pausing 0.5 s doubling up to 5 s.
RECORD_MARGIN_S = 2.0
RECORD_RETRY_FIRST_S = 0.5
RECORD_RETRY_CAP_S = 5.0
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})

Clock = Callable[[], datetime]
SessionFactory = Callable[[], Session]
T = TypeVar("T")


class RandomSource(Protocol):
    def random(self) -> float: ...


def utc_now() -> datetime:
    """The real clock; the entrypoint passes it, tests pass their own."""
    return datetime.now(UTC)


@dataclass
class Counts:
    """What a batch, a drain or a run did."""

    claimed: int = 0
    delivered: int = 0
    retried: int = 0  # transient failure, another attempt scheduled
    dead: int = 0  # permanent failure or attempts exhausted
    lost: int = 0  # outcome not recorded: lease lost, or the database failed
    released: int = 0  # not attempted (stopping, or lease too short); due again at once

    def __iadd__(self, other: Counts) -> Counts:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)
        return self

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


# ----------------------------------------------------------------------- backoff


def backoff_delay(
    failures: int,
    rng: RandomSource,
    base_s: float = BACKOFF_BASE_S,
    cap_s: float = BACKOFF_CAP_S,
    jitter: float = BACKOFF_JITTER,
) -> float:
    """Seconds before the next attempt after ``failures`` failed attempts (1, 2, ...).

    Nominal ``base_s * 2**(failures-1)`` capped at ``cap_s`` (5, 10, 20 s ...
    30 min), minus a random share of up to ``jitter`` of it, so workers that
    failed together do not retry together, and the cap is never exceeded.
    """
    exponent = max(0, failures - 1)
    nominal = cap_s if exponent >= 64 else min(cap_s, base_s * 2.0**exponent)
    return nominal * (1.0 - jitter * rng.random())


# ----------------------------------------------------------------------- leasing

_t = OutboxMessage.__table__
_c = _t.c


def _check_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("naive datetime: the clock must return timezone-aware UTC datetimes")


def _is_retryable_db_error(exc: DBAPIError) -> bool:
    if isinstance(exc, OperationalError):
        text = str(exc.orig).lower()
        if "locked" in text or "busy" in text:
            return True
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return sqlstate in _RETRYABLE_SQLSTATES


def _retrying(fn: Callable[[], T]) -> T:
    """``fn()``, retried a few times on lock contention or serialization failures."""
    for attempt in range(_RETRY_DB_ATTEMPTS):
        try:
            return fn()
        except DBAPIError as exc:
            if attempt == _RETRY_DB_ATTEMPTS - 1 or not _is_retryable_db_error(exc):
                raise
            time.sleep(0.05 * 2**attempt * (0.5 + random.random()))
    raise AssertionError("unreachable")  # pragma: no cover


def _begin_write(session: Session) -> str:
    """Start the session's transaction as a writer; returns the dialect name.

    On SQLite this takes the database write lock up front (``BEGIN
    IMMEDIATE``), so the transaction's reads and writes are serialized with
    every other writer and it never fails half-way on a lock upgrade. If the
    engine has already begun the transaction itself (some set-ups emit their
    own ``BEGIN``), the single-statement updates below are still atomic, and
    lock errors are retried.
    """
    connection = session.connection()
    name = connection.dialect.name
    if name == "sqlite":
        driver = connection.connection.driver_connection
        if driver is not None and getattr(driver, "in_transaction", True) is False:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
    return name


_earlier = _t.alias("earlier")


def _due(now: datetime):
    # In order per order and recipient: a row waits while an earlier row
    # (lower id: written first) for the same order, recipient and channel is
    # still pending, whether it is being sent, leased or waiting for a retry.
    # Rows without an order number are not ordered against each other.
    e = _earlier.c
    waiting_behind = (
        select(e.id)
        .where(e.order_number == _c.order_number, e.recipient_kind == _c.recipient_kind,
               e.recipient_ref == _c.recipient_ref, e.channel == _c.channel,
               e.status == PENDING, e.id < _c.id)
        .correlate(_t)
        .exists()
    )
    return and_(
        _c.status == PENDING,
        _c.next_attempt_at <= now,
        or_(_c.lease_until.is_(None), _c.lease_until <= now),
        or_(_c.order_number.is_(None), ~waiting_behind),
    )


def _claim_once(
    session_factory: SessionFactory, worker_id: str, now: datetime, batch: int, lease_until: datetime
) -> list[Delivery]:
    with session_factory() as session, session.begin():
        dialect = _begin_write(session)
        candidates = select(_c.id).where(_due(now)).order_by(_c.next_attempt_at, _c.id).limit(batch)
        lease = update(_t).values(leased_by=worker_id, lease_until=lease_until).returning(*_c)
        if dialect == "sqlite":
            # Under the write lock: nobody can lease between the select and the update.
            rows = session.execute(lease.where(_c.id.in_(candidates), _due(now))).all()
        else:
            # Lock the candidates; rows another worker is leasing right now are skipped.
            ids = session.execute(candidates.with_for_update(skip_locked=True)).scalars().all()
            if not ids:
                return []
            rows = session.execute(lease.where(_c.id.in_(ids))).all()
        deliveries = [Delivery.from_row(row) for row in rows]
    deliveries.sort(key=lambda d: d.id)
    return deliveries


def claim(
    session_factory: SessionFactory,
    worker_id: str,
    now: datetime,
    batch: int = DEFAULT_BATCH,
    lease_s: float = DEFAULT_LEASE_S,
) -> list[Delivery]:
    """Lease up to ``batch`` due rows to ``worker_id`` until ``now + lease_s``.

    Oldest due first. Returns them as ``Delivery`` values whose ``lease_until``
    is the fencing token for recording their outcome. Synchronous: call it in
    a thread from async code.
    """
    _check_aware(now)
    if batch < 1:
        raise ValueError("batch must be at least 1")
    if not worker_id:
        raise ValueError("a worker id is required")
    lease_until = now + timedelta(seconds=lease_s)
    return _retrying(lambda: _claim_once(session_factory, worker_id, now, batch, lease_until))


def _fenced(message: Delivery, worker_id: str):
    return and_(
        _c.id == message.id,
        _c.status == PENDING,
        _c.leased_by == worker_id,
        _c.lease_until == message.lease_until,
    )


def _record(
    session_factory: SessionFactory, message: Delivery, worker_id: str, values: dict[str, Any]
) -> bool:
    """Apply ``values`` to the row if this worker still holds its lease; True if it did."""

    def once() -> bool:
        with session_factory() as session, session.begin():
            _begin_write(session)
            result = session.execute(update(_t).where(_fenced(message, worker_id)).values(**values))
            return cast("CursorResult[Any]", result).rowcount == 1

    return _retrying(once)


def release(session_factory: SessionFactory, messages: Sequence[Delivery], worker_id: str) -> int:
    """Give up this worker's leases on ``messages`` without an attempt; returns how many.

    The rows are due again at once for any worker (used when stopping).
    """
    if not messages:
        return 0

    def once() -> int:
        with session_factory() as session, session.begin():
            _begin_write(session)
            done = 0
            for message in messages:
                result = session.execute(
                    update(_t).where(_fenced(message, worker_id)).values(leased_by=None, lease_until=None)
                )
                done += cast("CursorResult[Any]", result).rowcount
            return done

    return _retrying(once)


# ---------------------------------------------------------------------- delivery


@dataclass(frozen=True)
class _Outcome:
    kind: str  # "delivered" | "transient" | "permanent"
    error: str | None = None
    retry_after: float | None = None


def _short(text: str) -> str:
    text = redact(text)
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 1] + "…"


async def _attempt(registry: SenderRegistry, message: Delivery, timeout_s: float) -> _Outcome:
    try:
        sender = registry.sender_for(message.channel)
        await asyncio.wait_for(sender.send(message), timeout_s)
    except TransientError as exc:
        return _Outcome("transient", str(exc) or type(exc).__name__, exc.retry_after)
    except PermanentError as exc:
        return _Outcome("permanent", str(exc) or type(exc).__name__)
    except TimeoutError:
        return _Outcome("transient", f"send timed out after {timeout_s:g} s")
    except Exception as exc:  # a sender bug: keep the message, an operator sees the log
        log.exception("sender for channel %s raised unexpectedly (outbox id %s)", message.channel, message.id)
        return _Outcome("transient", f"{type(exc).__name__}: {exc}")
    return _Outcome("delivered")


def _outcome_values(
    message: Delivery,
    outcome: _Outcome,
    now: datetime,
    rng: RandomSource,
    max_attempts: int,
) -> tuple[str, dict[str, Any]]:
    attempts = message.attempts + 1
    cleared = {"attempts": attempts, "leased_by": None, "lease_until": None}
    if outcome.kind == "delivered":
        return "delivered", {**cleared, "status": DELIVERED, "delivered_at": now, "last_error": None}
    error = _short(outcome.error or "")
    if outcome.kind == "permanent":
        return "dead", {**cleared, "status": DEAD, "last_error": error}
    if attempts >= max_attempts:
        error = _short(f"gave up after {attempts} attempts: {error}")
        return "dead", {**cleared, "status": DEAD, "last_error": error}
    if outcome.retry_after is not None:
        delay = min(max(0.0, outcome.retry_after), MAX_RETRY_AFTER_S)
    else:
        delay = backoff_delay(attempts, rng)
    return "retried", {**cleared, "next_attempt_at": now + timedelta(seconds=delay), "last_error": error}


async def _record_while_leased(
    session_factory: SessionFactory, message: Delivery, worker_id: str, values: dict[str, Any],
    clock: Clock,
) -> bool:
    """``_record``, tried again while the lease holds if the database fails (it is
    restarting, the network dropped): an outcome not recorded means the message is
    sent a second time once the lease expires."""
    assert message.lease_until is not None
    left_s = (message.lease_until - clock()).total_seconds() - RECORD_MARGIN_S
    deadline = time.monotonic() + left_s
    pause = RECORD_RETRY_FIRST_S
    while True:
        try:
            return await asyncio.to_thread(_record, session_factory, message, worker_id, values)
        except DBAPIError as exc:
            if time.monotonic() + pause > deadline:
                raise
            log.warning("outbox id %s: could not record its outcome (%s); trying again in %.1f s",
                        message.id, type(exc).__name__, pause)
        await asyncio.sleep(pause)
        pause = min(pause * 2, RECORD_RETRY_CAP_S)


async def deliver_batch(
    session_factory: SessionFactory,
    registry: SenderRegistry,
    messages: Sequence[Delivery],
    worker_id: str,
    clock: Clock = utc_now,
    *,
    rng: RandomSource | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    concurrency: int = DEFAULT_CONCURRENCY,
    send_timeout_s: float = DEFAULT_SEND_TIMEOUT_S,
    stop: asyncio.Event | None = None,
) -> Counts:
    """Send ``messages`` (leased by ``worker_id``), ``concurrency`` at a time, and record each outcome.

    Each outcome is written as soon as its send finishes, so a crash loses as
    few results as possible. Once ``stop`` is set, sends already started are
    finished and recorded; the rest are released for another worker.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    if any(m.lease_until is None for m in messages):
        raise ValueError("deliver_batch needs messages from claim() (they carry their lease)")
    rng = rng if rng is not None else random.Random()
    counts = Counts(claimed=len(messages))
    gate = asyncio.Semaphore(max(1, concurrency))
    not_sent: list[Delivery] = []
    margin = timedelta(seconds=send_timeout_s)

    async def one(message: Delivery) -> None:
        # The outcome is recorded before the slot is freed, so at most
        # ``concurrency`` messages are ever sent-but-unrecorded: a crash
        # duplicates no more than that many.
        assert message.lease_until is not None  # every message was checked on entry
        async with gate:
            if (stop is not None and stop.is_set()) or clock() + margin > message.lease_until:
                not_sent.append(message)
                return
            outcome = await _attempt(registry, message, send_timeout_s)
            result, values = _outcome_values(message, outcome, clock(), rng, max_attempts)
            try:
                recorded = await _record_while_leased(session_factory, message, worker_id, values, clock)
            except Exception:
                log.exception("could not record the outcome of outbox id %s; it will be retried", message.id)
                counts.lost += 1
                return
        if not recorded:
            log.warning(
                "outbox id %s: lease lost before its outcome (%s) was recorded; another worker owns it",
                message.id, result,
            )
            counts.lost += 1
            return
        setattr(counts, result, getattr(counts, result) + 1)
        if result == "delivered":
            log.debug("outbox id %s delivered (%s, %s)", message.id, message.topic, message.channel)
        elif result == "retried":
            log.warning(
                "outbox id %s (%s, %s): attempt %s failed, retrying at %s: %s",
                message.id, message.topic, message.channel, values["attempts"],
                values["next_attempt_at"].isoformat(), values["last_error"],
            )
        else:
            log.error(
                "outbox id %s (%s, %s) is dead after %s attempt(s): %s",
                message.id, message.topic, message.channel, values["attempts"], values["last_error"],
            )

    await asyncio.gather(*(one(m) for m in messages))
    if not_sent:
        try:
            counts.released += await asyncio.to_thread(release, session_factory, not_sent, worker_id)
        except Exception:
            log.exception("could not release %s leases; they expire on their own", len(not_sent))
    return counts


def _check_timing(lease_s: float, send_timeout_s: float) -> None:
    if send_timeout_s >= lease_s:
        raise ValueError(
            f"send_timeout_s ({send_timeout_s:g}) must be shorter than lease_s ({lease_s:g}): "
            "a send must be able to finish while its lease holds"
        )


async def drain(
    session_factory: SessionFactory,
    registry: SenderRegistry,
    clock: Clock = utc_now,
    worker_id: str = "drain",
    *,
    batch: int = DEFAULT_BATCH,
    lease_s: float = DEFAULT_LEASE_S,
    rng: RandomSource | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    concurrency: int = DEFAULT_CONCURRENCY,
    send_timeout_s: float = DEFAULT_SEND_TIMEOUT_S,
    stop: asyncio.Event | None = None,
) -> Counts:
    """Deliver everything due now (by ``clock``) and return the counts.

    Retries scheduled for later are not waited for; rows leased by another
    live worker are left to it. For tests and ``--once``.
    """
    _check_timing(lease_s, send_timeout_s)
    total = Counts()
    while stop is None or not stop.is_set():
        messages = await asyncio.to_thread(claim, session_factory, worker_id, clock(), batch, lease_s)
        if not messages:
            break
        total += await deliver_batch(
            session_factory, registry, messages, worker_id, clock,
            rng=rng, max_attempts=max_attempts, concurrency=concurrency,
            send_timeout_s=send_timeout_s, stop=stop,
        )
    return total


async def _sleep_until(events: Sequence[asyncio.Event], timeout: float) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


async def run_forever(
    session_factory: SessionFactory,
    registry: SenderRegistry,
    clock: Clock = utc_now,
    worker_id: str = "notifier",
    *,
    stop: asyncio.Event,
    wake: asyncio.Event | None = None,
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
    batch: int = DEFAULT_BATCH,
    lease_s: float = DEFAULT_LEASE_S,
    rng: RandomSource | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    concurrency: int = DEFAULT_CONCURRENCY,
    send_timeout_s: float = DEFAULT_SEND_TIMEOUT_S,
) -> Counts:
    """Deliver until ``stop`` is set; returns the counts.

    After a batch it claims again at once (a backlog drains at full speed);
    when nothing is due it sleeps ``poll_interval_s``, or until ``wake`` is set
    (a producer in the same process may set it after writing outbox rows).
    Database errors are logged and retried with a growing pause (up to 30 s).
    On ``stop`` it finishes the sends in flight, releases the rest, and returns.
    """
    _check_timing(lease_s, send_timeout_s)
    total = Counts()
    failures = 0
    log.info("notifier %s started", worker_id)
    while not stop.is_set():
        if wake is not None:
            wake.clear()  # before claiming: a wake-up during the claim is not lost
        try:
            messages = await asyncio.to_thread(claim, session_factory, worker_id, clock(), batch, lease_s)
        except Exception:
            failures += 1
            log.exception("claiming outbox rows failed (%s in a row)", failures)
            await _sleep_until([stop], min(30.0, poll_interval_s * 2**failures))
            continue
        failures = 0
        if messages:
            total += await deliver_batch(
                session_factory, registry, messages, worker_id, clock,
                rng=rng, max_attempts=max_attempts, concurrency=concurrency,
                send_timeout_s=send_timeout_s, stop=stop,
            )
            continue
        await _sleep_until([stop] if wake is None else [stop, wake], poll_interval_s)
    log.info("notifier %s stopped: %s", worker_id, total.as_dict())
    return total
