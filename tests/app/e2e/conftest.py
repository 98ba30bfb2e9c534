"""The end-to-end tests' stack: the real five processes, one stack per test module.

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


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"end-to-end tests need the whole stack: {reason}")
    model = os.environ.get("E2E_MODEL") or None
    running = Stack(tmp_path_factory.mktemp("e2e-stack"), model).start()
    try:
        yield running
    finally:
        running.stop()
