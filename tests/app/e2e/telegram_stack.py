"""The whole stack with its Telegram channel talking to the Bot API emulator
(tests/telegram_emulator.py) on 127.0.0.1: a residents' bot and a handlers' bot.

    with bot_emulator(RESIDENTS, HANDLERS, "warnings") as emu, \\
            stack_with_bots(emu, tmp_dir, RESIDENTS, HANDLERS) as stack:
        ...

Skips (with the reason) when the Rasa environment or a model is missing, as
the other end-to-end stacks do.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.telegram_emulator import BotApiEmulator
from tools.stack import Stack, unavailable_reason

WAIT_S = 60.0


@contextmanager
def bot_emulator(residents: str, handlers: str, name: str) -> Iterator[BotApiEmulator]:
    """The emulator with the two bots (``<name>``'s usernames), stopped on leaving."""
    emulator = BotApiEmulator().start_in_thread()
    emulator.add_bot(residents, f"community_{name}_bot")
    emulator.add_bot(handlers, f"community_handlers_{name}_bot")
    try:
        yield emulator
    finally:
        emulator.stop()


@contextmanager
def stack_with_bots(emu: BotApiEmulator, var_dir: Path, residents: str,
                    handlers: str) -> Iterator[Stack]:
    """The stack with the Telegram channel on ``emu``, once both bots are polling."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"end-to-end tests need the whole stack: {reason}")
    telegram = {"TELEGRAM_BOT_TOKEN": residents, "TELEGRAM_HANDLER_BOT_TOKEN": handlers,
                "TELEGRAM_API_BASE": emu.base_url}
    running = Stack(var_dir, telegram=telegram).start()
    try:
        for token in (residents, handlers):
            emu.wait_sent_sync(1, token=token, method="deleteWebhook", timeout=WAIT_S)
        yield running
    finally:
        running.stop()
