"""The PostgreSQL fixture (tests/app/conftest.py): no server skips, but fails under CI=true."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# a PostgreSQL-only test; port 9 (discard) has no server
TARGET = "tests/app/workorders/test_store_engine.py::test_postgres_claim_skips_a_locked_order"
NOWHERE = "postgresql://postgres@127.0.0.1:9/test"


def run_target(**env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("CI", "TEST_POSTGRES_URL")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", TARGET],
        cwd=ROOT, env={**base, "TEST_POSTGRES_URL": NOWHERE, **env},
        capture_output=True, text=True, timeout=300,
    )


def test_without_ci_a_missing_server_skips_and_says_why():
    result = run_target()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    assert f"PostgreSQL not reachable at {NOWHERE}" in result.stdout
    assert "TEST_POSTGRES_URL" in result.stdout


def test_under_ci_a_missing_server_fails_the_run():
    result = run_target(CI="true")
    assert result.returncode != 0, result.stdout
    assert "1 error" in result.stdout
    assert "CI=true" in result.stdout and "skipped" not in result.stdout
