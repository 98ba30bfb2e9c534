"""The analytics consumer: Rasa's broker events from RabbitMQ into the work-order database.

Rasa's Pika event broker (bot/endpoints.scaled.yml) publishes every tracker
event to a fanout exchange bound to a durable queue (SCALED_EVENTS_QUEUE). This
process reads that queue in batches and hands each batch to
``service.conversations.record_events`` in one transaction; it acknowledges
the batch (``basic_ack(multiple=True)``) only after the commit. A crash
between the two redelivers the batch, and a redelivered event is a no-op
(``event_key`` is unique), so nothing is lost and nothing counted twice.

The queue is declared exactly as Rasa declares it (``durable=True``, no
arguments; rasa/core/brokers/pika.py ``_bind_queue``), so whichever starts
first creates it and the other's declaration agrees. The exchange and the
binding are Rasa's: events published before the first Rasa instance started
have nowhere to go anyway.

RabbitMQ or the database going away is logged (one line per failure, with the
next attempt's delay) and retried with exponential backoff; unacknowledged
messages go back to the queue. Every ``dropout_check_s`` the consumer also marks
silent, unfinished reports as dropped (``mark_dropouts``), which no event does,
and deletes stored events older than ``events_retention_days`` (the facts stay).
Given Rasa's SQL tracker store (``tracker_url``), it also stores the tracker
store's events of the last hour every ten minutes (``backfill``): whatever the
broker lost (a Rasa instance killed while RabbitMQ was away) is caught up.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pika
import pika.exceptions
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from integrations.shared.sql import make_engine, make_session_factory
from integrations.shared.tracker_retention import make_tracker_engine
from integrations.workorders.service.conversations import (
    mark_dropouts,
    prune_events,
    record_events,
)

from .backfill import backfill

log = logging.getLogger("integrations.conversations")

DEFAULT_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
DEFAULT_QUEUE = "rasa_events"

#: what a broken connection to RabbitMQ raises in pika's blocking adapter
RABBIT_ERRORS: tuple[type[BaseException], ...] = (
    pika.exceptions.AMQPError, ConnectionError, OSError,
)


@dataclass(frozen=True)
class ConsumerSettings:
    database_url: str
    rabbitmq_url: str = DEFAULT_RABBITMQ_URL
    queue: str = DEFAULT_QUEUE
    #: events per transaction (and the prefetch window)
    batch_size: int = 200
    #: a partial batch is written after this long
    batch_wait_s: float = 0.5
    dropout_check_s: float = 60.0
    #: stored events older than this are deleted (the facts stay); None: kept
    events_retention_days: float | None = 30.0
    #: Rasa's SQL tracker store: when set, its recent events are stored too every
    #: ``backfill_every_s`` (the last ``backfill_window_s``), for what the broker lost
    tracker_url: str | None = None
    backfill_every_s: float = 600.0
    backfill_window_s: float = 3600.0
    backoff_min_s: float = 0.5
    backoff_max_s: float = 30.0
    heartbeat_s: int = 30


def where(url: str) -> str:
    """host:port of an AMQP URL, without the credentials (for log lines)."""
    parts = urlsplit(url)
    return f"{parts.hostname or '?'}:{parts.port or 5672}"


def declare_queue(channel: Any, queue: str) -> None:
    """The queue as Rasa's PikaEventBroker declares it (durable, no arguments)."""
    channel.queue_declare(queue=queue, durable=True)


def parse(body: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return event if isinstance(event, dict) else None


@dataclass
class Totals:
    batches: int = 0
    received: int = 0
    stored: int = 0
    malformed: int = 0
    dropouts_checked: int = 0
    backfilled: int = 0
    reconnects: int = 0


class Consumer:
    """See the module docstring. ``run()`` until ``stop()`` (or SIGTERM/SIGINT)."""

    def __init__(self, settings: ConsumerSettings,
                 session_factory: sessionmaker[Session] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.settings = settings
        self._sessions = session_factory or make_session_factory(
            make_engine(settings.database_url, pool_size=2, max_overflow=2))
        self._clock = clock
        self._stopping = threading.Event()
        self._next_dropout_check = 0.0
        self._next_backfill = 0.0
        self._tracker: Engine | None = None
        self.totals = Totals()

    def stop(self) -> None:
        self._stopping.set()

    # ------------------------------------------------------------------ the loop
    def run(self) -> Totals:
        backoff = self.settings.backoff_min_s
        target = where(self.settings.rabbitmq_url)
        while not self._stopping.is_set():
            try:
                self._consume(target)
                break  # stopped
            except RABBIT_ERRORS as error:
                log.warning("RabbitMQ unavailable at %s (%s: %s); retrying in %.1f s",
                            target, type(error).__name__, error or "connection lost", backoff)
            except SQLAlchemyError as error:
                log.warning("work-order database unavailable (%s: %s); unacknowledged events "
                            "return to the queue; retrying in %.1f s",
                            type(error).__name__, str(error).splitlines()[0][:200], backoff)
            self.totals.reconnects += 1
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, self.settings.backoff_max_s)
        log.info("analytics consumer stopped: %s", vars(self.totals))
        return self.totals

    def _consume(self, target: str) -> None:
        settings = self.settings
        params = pika.URLParameters(settings.rabbitmq_url)
        params.heartbeat = settings.heartbeat_s
        params.blocked_connection_timeout = 60
        params.connection_attempts = 1
        params.socket_timeout = 5
        connection = pika.BlockingConnection(params)
        try:
            channel = connection.channel()
            declare_queue(channel, settings.queue)
            channel.basic_qos(prefetch_count=settings.batch_size)
            log.info("consuming Rasa events from queue %r at %s", settings.queue, target)
            self._loop(channel)
            channel.cancel()  # unacknowledged prefetched messages go back to the queue
        finally:
            if connection.is_open:
                try:
                    connection.close()
                except RABBIT_ERRORS:
                    pass

    def _loop(self, channel: Any) -> None:
        settings = self.settings
        batch: list[tuple[int, bytes]] = []
        first_at = 0.0
        messages = channel.consume(settings.queue, inactivity_timeout=settings.batch_wait_s / 2)
        for method, _properties, body in messages:
            if method is not None:
                if not batch:
                    first_at = time.monotonic()
                batch.append((method.delivery_tag, body))
            full = len(batch) >= settings.batch_size
            if batch and (full or method is None
                          or time.monotonic() - first_at >= settings.batch_wait_s):
                self._write(channel, batch)
                batch = []
            if method is None or not batch:
                self._maybe_check_dropouts()
                self._maybe_backfill(channel)
            if self._stopping.is_set() and not batch:
                return

    def _write(self, channel: Any, batch: list[tuple[int, bytes]]) -> None:
        events = []
        for _tag, body in batch:
            event = parse(body)
            if event is None:
                self.totals.malformed += 1
                log.warning("dropping a message that is not a JSON object (%d bytes)", len(body))
            else:
                events.append(event)
        with self._sessions() as session:
            stored = record_events(session, events, now=self._clock())
            session.commit()
        # only now: a crash before this line redelivers the batch, which then stores nothing
        channel.basic_ack(delivery_tag=batch[-1][0], multiple=True)
        self.totals.batches += 1
        self.totals.received += len(batch)
        self.totals.stored += stored
        log.debug("batch of %d events, %d new", len(batch), stored)

    def _maybe_check_dropouts(self) -> None:
        if time.monotonic() < self._next_dropout_check:
            return
        self._next_dropout_check = time.monotonic() + self.settings.dropout_check_s
        with self._sessions() as session:
            marked = mark_dropouts(session, now=self._clock())
            session.commit()
        self.totals.dropouts_checked += marked
        if marked:
            log.info("%d silent report conversations marked as dropped", marked)
        if self.settings.events_retention_days is not None:
            before = self._clock() - timedelta(days=self.settings.events_retention_days)
            with self._sessions() as session:
                pruned = prune_events(session, before=before)
                session.commit()
            if pruned:
                log.info("%d stored events older than %g days deleted", pruned,
                         self.settings.events_retention_days)

    def _maybe_backfill(self, channel: Any) -> None:
        settings = self.settings
        if settings.tracker_url is None or time.monotonic() < self._next_backfill:
            return
        self._next_backfill = time.monotonic() + settings.backfill_every_s
        if self._tracker is None:
            self._tracker = make_tracker_engine(settings.tracker_url)
        since = self._clock() - timedelta(seconds=settings.backfill_window_s)
        try:
            result = backfill(self._tracker, self._sessions, since=since, now=self._clock(),
                              between_pages=lambda: channel.connection.process_data_events(0))
        except SQLAlchemyError as error:  # the tracker store away: next time
            log.warning("backfill from the tracker store failed (%s); next in %.0f s",
                        type(error).__name__, settings.backfill_every_s)
            return
        self.totals.backfilled += result.stored
        if result.stored:
            log.warning("%d events the broker did not deliver were found in the tracker store",
                        result.stored)

    def install_signal_handlers(self) -> None:
        def handle(signum: int, _frame: Any) -> None:
            log.info("%s: finishing the current batch, then stopping",
                     signal.Signals(signum).name)
            self.stop()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
