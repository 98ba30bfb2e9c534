"""The end-to-end tests' stack: the real five processes, one stack shared by the modules.

Rasa takes about a minute to load, so the modules share one stack: under xdist
they all run on one worker (tests/app/xdist_schedule.py), which starts it once.
Each module still starts on a new work-order database, as on a stack of its own
(``Stack.fresh_database``: the database's processes restarted in a few seconds,
Rasa kept): one module's orders would otherwise meet another's ("同一件事吗？").
Modules talk with senders of their own (Rasa's trackers are kept) and put back
what they stop. test_telegram.py and test_warnings_e2e.py start their own stacks
(with the Telegram channel on the Bot API emulator).

Skipped (with the reason) only when the Rasa environment or a trained model
is missing; in CI (`make test`) both exist, so these tests run there.
The model is the one of the current inputs, else the newest in models/;
E2E_MODEL=models/zh-….tar.gz picks another.
"""
from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tools.stack import Stack, unavailable_reason


@pytest.fixture(scope="package")
def shared_stack(tmp_path_factory) -> Iterator[Stack]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"end-to-end tests need the whole stack: {reason}")
    model = os.environ.get("E2E_MODEL") or None
    running = Stack(tmp_path_factory.mktemp("e2e-stack"), model).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="package")
def served_modules() -> list[str]:
    """The modules the shared stack has served so far."""
    return []


@pytest.fixture(scope="module")
def stack(shared_stack: Stack, served_modules: list[str], request) -> Stack:
    """The shared stack, on a work-order database of this module's own."""
    if served_modules:  # the first module has the one the stack started with
        shared_stack.fresh_database()
    served_modules.append(request.module.__name__)
    assert shared_stack.dead_services() == [], shared_stack.dead_services()
    return shared_stack
