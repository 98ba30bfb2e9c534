"""The commands the Makefile runs with the Rasa side's Python (3.10) start on it.

A module shared with the application side (3.11) once took ``datetime.UTC``
(3.11 only) from a lint fix, and ``make bench-nlu`` stopped at its first line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    assert sys.version_info[:2] == (3, 10), "tests/rasa run on the Rasa side's Python"
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_bench_nlu_starts_on_the_rasa_sides_python() -> None:
    done = run("-m", "benchmarks.nlu", "--help")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage" in done.stdout.lower(), done.stdout[-500:]


@pytest.mark.parametrize("module", ["bot.classify", "bot.model_store", "benchmarks.machine"])
def test_the_module_imports_on_the_rasa_sides_python(module: str) -> None:
    done = run("-c", f"import {module}")
    assert done.returncode == 0, done.stderr[-2000:]
