"""The notifier process, less its channels: arguments, logging, the senders the
service owns, and the run loop. ``python -m integrations.notifier`` (the
composition root, ``integrations/notifier.py``) adds the channels' senders
(Telegram) through ``main(load_channels=...)``; this package imports no channel.

It delivers the outbox until SIGTERM or SIGINT (or, with ``--once``, until
nothing is due) and prints a JSON summary line on stdout when it ends.
Configuration comes from ``WORKORDERS_*`` (see ``settings.py``):
``WORKORDERS_DATABASE_URL``, and ``WORKORDERS_WEBHOOK_URL`` with
``WORKORDERS_WEBHOOK_SECRET`` for the webhook channel. Run as many processes
as you like against one database; give each a distinct ``--worker-id`` (the
default, host:pid:random, is).

On the first SIGTERM/SIGINT it stops claiming, finishes the sends in flight,
records them, releases the leases it has not used and exits 0; a second
signal abandons the sends in flight (their leases expire and another process
sends them again).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack

import httpx
from sqlalchemy.orm import Session

from integrations.shared.delivery import CHANNELS, Sender
from integrations.shared.privacy import Vault, install_log_redaction, redact
from integrations.shared.startup import StartupRefused, check_start

from ..adapters.db import make_engine, make_session_factory
from ..settings import Settings, load_settings
from .delivery import (
    DEFAULT_BATCH,
    DEFAULT_CONCURRENCY,
    DEFAULT_LEASE_S,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_POLL_INTERVAL_S,
    DEFAULT_SEND_TIMEOUT_S,
    Counts,
    drain,
    run_forever,
    utc_now,
)
from .senders import LogSender, SenderRegistry, WebhookSender
from .voice import VoiceSender

log = logging.getLogger("integrations.workorders.notifier")

#: A channel's senders for one run: called with the session factory and the
#: per-send time limit, it opens ``{channel: sender}`` and closes them on exit.
ChannelSenders = Callable[
    [Callable[..., Session], float], AbstractAsyncContextManager[Mapping[str, Sender]]
]


class InvalidSettings(Exception):
    """A channel's settings are invalid; the message (never a secret value) is printed."""


def default_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


def parse_args(argv: Sequence[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Deliver the work-order outbox (retries, backoff, several processes safely).",
    )
    parser.add_argument("--once", action="store_true", help="deliver what is due now, then exit")
    parser.add_argument("--worker-id", default=None,
                        help="unique name of this process (default host:pid:random)")
    parser.add_argument("--database-url", default=None, help="overrides WORKORDERS_DATABASE_URL")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH, help="rows leased per claim")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="sends in flight")
    parser.add_argument("--lease-seconds", type=float, default=DEFAULT_LEASE_S,
                        help="how long a claim holds its rows; a crashed process's rows wait this long")
    parser.add_argument("--send-timeout", type=float, default=DEFAULT_SEND_TIMEOUT_S,
                        help="longest one send may take (shorter than the lease)")
    parser.add_argument("--poll-interval", type=float, default=DEFAULT_POLL_INTERVAL_S,
                        help="seconds between polls when nothing is due")
    parser.add_argument("--max-attempts", type=int, default=DEFAULT_MAX_ATTEMPTS,
                        help="attempts before a message is dead")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    if args.send_timeout >= args.lease_seconds:
        parser.error("--send-timeout must be shorter than --lease-seconds")
    if args.batch < 1 or args.concurrency < 1 or args.max_attempts < 1:
        parser.error("--batch, --concurrency and --max-attempts must be at least 1")
    return args


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    install_log_redaction()
    # httpx logs every request at INFO; the notifier logs outcomes itself.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def build_registry(
    settings: Settings, client: httpx.AsyncClient, send_timeout_s: float,
    channels: Mapping[str, Sender] | None = None,
) -> SenderRegistry:
    """The log sender always (also the fallback); the webhook sender when configured;
    the channels' senders given (``{"telegram": ...}``, opened by ``ChannelSenders``).

    The voice sender (``VoiceSender``: an SMS/callback gateway) when
    ``WORKORDERS_VOICE_WEBHOOK_URL`` is set; otherwise the voice channel is
    served by the log fallback.
    """
    log_sender = LogSender()
    registry = SenderRegistry({"log": log_sender}, fallback=log_sender)
    if settings.webhook_url:
        # The HTTP timeout sits inside the notifier's own per-send limit.
        webhook = WebhookSender(
            settings.webhook_url, settings.webhook_secret or "", client, timeout=0.8 * send_timeout_s
        )
        registry.register("webhook", webhook)
    for channel, sender in (channels or {}).items():
        registry.register(channel, sender)
    if settings.voice_webhook_url:
        registry.register("voice", VoiceSender(
            settings.voice_webhook_url, settings.voice_webhook_secret or "", client,
            Vault(settings.secret_key, old_keys=settings.old_keys), timeout=0.8 * send_timeout_s,
        ))
    if settings.reports_webhook_url:
        # the weekly 研判 reports (the ``reports`` channel), signed like the residents' webhook
        registry.register("reports", WebhookSender(
            settings.reports_webhook_url, settings.reports_webhook_secret or "", client,
            timeout=0.8 * send_timeout_s,
        ))
    for channel in registry.unserved(CHANNELS):
        log.warning(
            "channel %r has no sender configured: its messages are written to the log "
            "(redacted) and marked delivered", channel,
        )
    return registry


def _install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()

    def on_signal(signum: int) -> None:
        if not stop.is_set():
            log.info("%s: finishing the sends in flight, then stopping", signal.Signals(signum).name)
            stop.set()
        elif main_task is not None:
            log.warning("second %s: abandoning the sends in flight", signal.Signals(signum).name)
            main_task.cancel()

    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, on_signal, signum)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - not on POSIX
            pass


async def run(
    args: argparse.Namespace, settings: Settings, channels: Sequence[ChannelSenders] = ()
) -> Counts:
    engine = make_engine(args.database_url or settings.database_url)
    session_factory = make_session_factory(engine)
    stop = asyncio.Event()
    _install_signal_handlers(stop)
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    try:
        async with AsyncExitStack() as stack:
            client = await stack.enter_async_context(httpx.AsyncClient(
                limits=limits,
                follow_redirects=False,
                headers={"User-Agent": "workorders-notifier/1"},
            ))
            opened: dict[str, Sender] = {}
            for open_senders in channels:  # closed (their bots too) when the run ends
                opened.update(await stack.enter_async_context(
                    open_senders(session_factory, args.send_timeout)))
            registry = build_registry(settings, client, args.send_timeout, opened)
            options = dict(
                batch=args.batch,
                lease_s=args.lease_seconds,
                max_attempts=args.max_attempts,
                concurrency=args.concurrency,
                send_timeout_s=args.send_timeout,
            )
            if args.once:
                return await drain(session_factory, registry, utc_now, args.worker_id, stop=stop, **options)
            return await run_forever(
                session_factory, registry, utc_now, args.worker_id,
                stop=stop, poll_interval_s=args.poll_interval, **options,
            )
    finally:
        engine.dispose()


def main(
    argv: Sequence[str] | None = None,
    *,
    prog: str | None = None,
    load_channels: Callable[[], Sequence[ChannelSenders]] = tuple,
) -> int:
    """Run the notifier; ``load_channels`` reads the channels' settings (raising
    ``InvalidSettings``) and returns their ``ChannelSenders``."""
    args = parse_args(argv, prog)
    configure_logging(args.log_level)
    args.worker_id = args.worker_id or default_worker_id()
    try:
        settings = load_settings()
    except Exception as exc:  # pydantic's ValidationError: say what is wrong and stop
        print(f"invalid settings: {redact(str(exc))}", file=sys.stderr)
        return 2
    try:
        check_start("notifier", development=settings.development,
                    secret_key=settings.secret_key, log=log)
    except StartupRefused as exc:
        print(f"refusing to start: {exc}", file=sys.stderr)
        return 2
    try:
        channels = load_channels()
    except InvalidSettings as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if settings.webhook_url and not settings.webhook_secret:
        print(
            "invalid settings: WORKORDERS_WEBHOOK_URL is set but WORKORDERS_WEBHOOK_SECRET is not "
            "(webhooks are always signed)",
            file=sys.stderr,
        )
        return 2
    if settings.voice_webhook_url and not settings.voice_webhook_secret:
        print(
            "invalid settings: WORKORDERS_VOICE_WEBHOOK_URL is set but "
            "WORKORDERS_VOICE_WEBHOOK_SECRET is not (the SMS/callback gateway's posts are signed)",
            file=sys.stderr,
        )
        return 2
    if settings.reports_webhook_url and not settings.reports_webhook_secret:
        print(
            "invalid settings: WORKORDERS_REPORTS_WEBHOOK_URL is set but "
            "WORKORDERS_REPORTS_WEBHOOK_SECRET is not (the weekly reports' posts are signed)",
            file=sys.stderr,
        )
        return 2
    try:
        counts = asyncio.run(run(args, settings, channels))
    except asyncio.CancelledError:
        log.warning("notifier %s abandoned its sends in flight", args.worker_id)
        return 1
    print(json.dumps({"worker_id": args.worker_id, **counts.as_dict()}), flush=True)
    return 0

