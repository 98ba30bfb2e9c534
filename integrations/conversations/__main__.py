"""``python -m integrations.conversations consume``: the analytics consumer.

Environment: ``WORKORDERS_DATABASE_URL`` (required), ``SCALED_RABBITMQ_URL``
(default amqp://guest:guest@127.0.0.1:5672/%2F), ``SCALED_EVENTS_QUEUE``
(default rasa_events); ``WORKORDERS_TRACKER_DATABASE_URL`` (optional: Rasa's
SQL tracker store, read every ten minutes for events the broker lost).
Options: ``--help``.

``python -m integrations.conversations backfill --hours 24``: store the events
of the last 24 hours from Rasa's SQL tracker store (``WORKORDERS_TRACKER_DATABASE_URL``),
for what the broker lost; events already stored are skipped.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from integrations.shared.sql import make_engine, make_session_factory
from integrations.shared.tracker_retention import make_tracker_engine

from .backfill import backfill
from .consumer import DEFAULT_QUEUE, DEFAULT_RABBITMQ_URL, Consumer, ConsumerSettings

PROG = "python -m integrations.conversations"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    consume = commands.add_parser("consume", help="read Rasa's events into the database")
    consume.add_argument("--batch-size", type=int, default=200)
    consume.add_argument("--batch-wait", type=float, default=0.5, help="seconds")
    consume.add_argument("--dropout-check", type=float, default=60.0, help="seconds")
    consume.add_argument("--backfill-every", type=float, default=600.0,
                         help="seconds between reads of the tracker store (if configured)")
    consume.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    fill = commands.add_parser("backfill", help="store events from Rasa's tracker store")
    fill.add_argument("--hours", type=float, default=24.0, help="how far back (default 24)")
    fill.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)

    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pika").setLevel(logging.CRITICAL)  # its own lines repeat ours
    database_url = os.environ.get("WORKORDERS_DATABASE_URL", "").strip()
    if not database_url:
        print(f"{PROG}: WORKORDERS_DATABASE_URL is not set", file=sys.stderr)
        return 2
    if args.command == "backfill":
        return _backfill(database_url, args.hours)
    settings = ConsumerSettings(
        database_url=database_url,
        rabbitmq_url=os.environ.get("SCALED_RABBITMQ_URL", "").strip() or DEFAULT_RABBITMQ_URL,
        queue=os.environ.get("SCALED_EVENTS_QUEUE", "").strip() or DEFAULT_QUEUE,
        batch_size=args.batch_size, batch_wait_s=args.batch_wait,
        dropout_check_s=args.dropout_check,
        tracker_url=os.environ.get("WORKORDERS_TRACKER_DATABASE_URL", "").strip() or None,
        backfill_every_s=args.backfill_every,
    )
    consumer = Consumer(settings)
    consumer.install_signal_handlers()
    consumer.run()
    return 0


def _backfill(database_url: str, hours: float) -> int:
    tracker_url = os.environ.get("WORKORDERS_TRACKER_DATABASE_URL", "").strip()
    if not tracker_url:
        print(f"{PROG}: WORKORDERS_TRACKER_DATABASE_URL is not set", file=sys.stderr)
        return 2
    tracker = make_tracker_engine(tracker_url)
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        result = backfill(tracker, make_session_factory(engine),
                          since=datetime.now(UTC) - timedelta(hours=hours))
    finally:
        tracker.dispose()
        engine.dispose()
    print(f"{result.read} events read, {result.stored} new")
    return 0


if __name__ == "__main__":
    sys.exit(main())
