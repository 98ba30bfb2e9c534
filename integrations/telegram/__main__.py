"""``python -m integrations.telegram``: the residents' bot and the handlers' bot.

Configuration from the environment (see ``settings.py``): ``TELEGRAM_BOT_TOKEN``,
``TELEGRAM_HANDLER_BOT_TOKEN``, ``TELEGRAM_API_BASE``, ``TELEGRAM_MODE``,
``RASA_URL``, ``CHANNEL_TOKEN_TELEGRAM``, ``WORKORDERS_API_URL``, ``WORKORDERS_TELEGRAM_TOKEN``,
``WORKORDERS_DATABASE_URL``. Stops on SIGTERM/SIGINT after the updates in hand.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from integrations.shared.privacy import install_log_redaction, redact
from integrations.shared.startup import StartupRefused, check_start

from .app import run
from .settings import load_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m integrations.telegram",
                                     description="Telegram channel: residents' and handlers' bots.")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    for noisy in ("httpx", "aiogram.event"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        settings = load_settings()
    except ValidationError as exc:
        print(f"invalid settings: {redact(str(exc))}", file=sys.stderr)
        return 2
    try:
        check_start("Telegram channel", development=settings.workorders_development,
                    secret_key=settings.workorders_secret_key,
                    bind_hosts=[settings.telegram_webhook_host]
                    if settings.telegram_mode == "webhook" else [],
                    log=logging.getLogger("integrations.telegram"))
    except StartupRefused as exc:
        print(f"refusing to start: {exc}", file=sys.stderr)
        return 2
    if not settings.enabled:
        print("TELEGRAM_BOT_TOKEN is not set: the Telegram channel is off.", file=sys.stderr)
        return 2
    if not settings.workorders_telegram_token:
        print("WORKORDERS_TELEGRAM_TOKEN is not set: the bots cannot reach the work-order service.",
              file=sys.stderr)
        return 2

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run(settings, stop)

    try:
        asyncio.run(serve())
    except Exception as exc:
        logging.getLogger("integrations.telegram").error("stopped: %s: %s", type(exc).__name__, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
