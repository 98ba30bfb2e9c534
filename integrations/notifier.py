"""``python -m integrations.notifier [--once] [--worker-id ID]``: the notifier process.

The composition root of outbox delivery: the work-order service's notifier
(``integrations.workorders.notifier``: leases, retries, backoff; the log,
webhook and SMS/callback-gateway senders) with the channels' senders
(``integrations.telegram.sender``). This module is the one place that imports
both; the service's package imports no channel and the channel imports nothing
of the service (they meet in ``integrations.shared.delivery``).

Settings: ``WORKORDERS_*`` (see ``integrations/workorders/settings.py``) and,
for the Telegram channel, ``TELEGRAM_BOT_TOKEN`` (and
``TELEGRAM_HANDLER_BOT_TOKEN``, ``TELEGRAM_API_BASE``: see
``integrations/telegram/settings.py``); without a bot token the Telegram
channel has no sender. Options: ``--help``.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from .shared.delivery import Sender
from .telegram.sender import build_telegram_sender
from .telegram.settings import TelegramSettings
from .telegram.settings import load_settings as load_telegram_settings
from .workorders.notifier.process import ChannelSenders, InvalidSettings
from .workorders.notifier.process import main as run_notifier

PROG = "python -m integrations.notifier"


def telegram_channel(settings: TelegramSettings) -> ChannelSenders | None:
    """The Telegram channel's senders (its bots closed when the run ends) when a bot
    token is set, else None."""
    if not settings.enabled:
        return None

    @asynccontextmanager
    async def open_senders(session_factory: Callable[..., Any], send_timeout_s: float
                           ) -> AsyncIterator[Mapping[str, Sender]]:
        # The Bot API timeout sits inside the notifier's own per-send limit.
        async with build_telegram_sender(
            settings, session_factory, timeout_s=0.8 * send_timeout_s
        ) as sender:
            yield {"telegram": sender}

    return open_senders


def load_channels() -> Sequence[ChannelSenders]:
    """The channels' senders configured in the environment; ``InvalidSettings`` if wrong."""
    try:
        telegram = load_telegram_settings()
    except Exception as exc:  # name the fields only: the values may be bot tokens
        errors = exc.errors() if hasattr(exc, "errors") else []
        fields = sorted({str(e["loc"][0]).upper() for e in errors if e["loc"]})
        raise InvalidSettings(
            f"invalid Telegram settings: {', '.join(fields) or type(exc).__name__}"
        ) from None
    return [channel for channel in (telegram_channel(telegram),) if channel is not None]


def main(argv: Sequence[str] | None = None) -> int:
    return run_notifier(argv, prog=PROG, load_channels=load_channels)


if __name__ == "__main__":
    sys.exit(main())
