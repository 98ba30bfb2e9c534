"""Privacy fails closed at start-up, in every process that handles personal data.

Outside development mode a process without a real key refuses to start (exit
code 2 and a message saying why); in development mode each process says so in
its first log line and refuses to bind anything but loopback. The processes
are started as ``make run`` starts them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from integrations.shared.privacy import EXAMPLE_KEY, generate_key
from integrations.shared.startup import StartupRefused, check_start, is_loopback

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("WORKORDERS_", "TELEGRAM_", "VOICE_"))}
    return {**base, "PYTHONPATH": str(ROOT),
            "WORKORDERS_DATABASE_URL": f"sqlite:///{tmp_path / 'workorders.db'}",
            "VOICE_AUDIOSOCKET_PORT": str(free_port()), "VOICE_CONTROL_PORT": str(free_port()),
            **extra}


def run(argv: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=120)


PROCESSES = {
    "api": [PY, "-m", "integrations.workorders.api", "--no-migrate", "--port", "0"],
    "notifier": [PY, "-m", "integrations.notifier", "--once"],
    "sweeper": [PY, "-m", "integrations.workorders", "sweep", "--once"],
    "telegram": [PY, "-m", "integrations.telegram"],
    "voice": [PY, "-m", "voice"],
    "launcher": [PY, str(ROOT / "tools" / "run.py")],
}
PRODUCTION_KEYS = {
    "unset": None,
    "example": EXAMPLE_KEY,
    "malformed": "not-a-key",
    "placeholder": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
}


# every process without a key; every kind of unreal key on two of them
REFUSALS = [(process, "unset") for process in PROCESSES] + [
    (process, key) for process in ("api", "launcher") for key in PRODUCTION_KEYS if key != "unset"]


@pytest.mark.parametrize("process,key", REFUSALS)
def test_outside_development_a_process_without_a_real_key_refuses_to_start(
        process, key, tmp_path):
    extra = {"WORKORDERS_DEVELOPMENT": "false", "VAR_DIR": str(tmp_path / "var")}
    if PRODUCTION_KEYS[key] is not None:
        extra["WORKORDERS_SECRET_KEY"] = PRODUCTION_KEYS[key]
    result = run(PROCESSES[process], env(tmp_path, **extra))
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "refusing to start" in result.stderr
    assert "WORKORDERS_SECRET_KEY" in result.stderr
    assert EXAMPLE_KEY not in result.stderr and "not-a-key" not in result.stderr
    if process == "launcher":
        assert not (tmp_path / "var").exists()  # nothing created, nothing started


BIND_SETTINGS = {
    "api": None,  # --host on the command line
    "voice": {"VOICE_BIND_HOST": "0.0.0.0"},
    "telegram": {"TELEGRAM_MODE": "webhook", "TELEGRAM_WEBHOOK_HOST": "0.0.0.0",
                 "TELEGRAM_WEBHOOK_URL": "https://bot.example.org"},
    "launcher": {"BIND_HOST": "0.0.0.0"},
}


@pytest.mark.parametrize("process", BIND_SETTINGS)
def test_in_development_a_public_bind_address_is_refused(process, tmp_path):
    argv = PROCESSES[process] + (["--host", "0.0.0.0"] if process == "api" else [])
    extra = {"VAR_DIR": str(tmp_path / "var"), **(BIND_SETTINGS[process] or {})}
    result = run(argv, env(tmp_path, **extra))
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert "WARNING" in lines[0] and "DEVELOPMENT MODE" in lines[0]
    assert "refusing to listen on '0.0.0.0' in development mode" in result.stderr
    if process == "launcher":
        assert not (tmp_path / "var").exists()


def test_production_with_a_real_key_binds_where_it_is_told(tmp_path):
    """Outside development mode a public bind is the operator's choice (behind a firewall)."""
    check_start("x", development=False, secret_key=generate_key(), bind_hosts=["0.0.0.0"])


@pytest.mark.parametrize("process", ["notifier", "sweeper"])
def test_in_development_the_first_log_line_says_so_and_names_the_example_key(process, tmp_path):
    environment = env(tmp_path)
    assert run([PY, "-m", "integrations.workorders", "migrate"], environment).returncode == 0
    result = run(PROCESSES[process], environment)
    assert result.returncode == 0, result.stderr[-2000:]
    first = result.stderr.strip().splitlines()[0]
    assert "WARNING" in first and "DEVELOPMENT MODE" in first and "example key" in first


def test_the_api_in_development_warns_first_and_serves_on_loopback(tmp_path):
    environment = env(tmp_path)
    port = free_port()
    process = subprocess.Popen(
        [PY, "-m", "integrations.workorders.api", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        first = process.stderr.readline()
        assert "WARNING" in first and "DEVELOPMENT MODE" in first and "example key" in first
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.3)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_random_key_in_development_is_not_called_the_example_key(caplog):
    with caplog.at_level("WARNING"):
        check_start("x", development=True, secret_key=generate_key(), bind_hosts=["::1"])
    (record,) = caplog.records
    assert "DEVELOPMENT MODE" in record.getMessage()
    assert "example key" not in record.getMessage()


@pytest.mark.parametrize("host,loopback", [
    ("127.0.0.1", True), ("127.0.0.53", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("::", False), ("", False),
    ("192.168.1.10", False), ("example.org", False), ("localhost.example.org", False),
])
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_a_garbled_development_flag_refuses_rather_than_guessing(tmp_path):
    result = run(PROCESSES["launcher"],
                 env(tmp_path, WORKORDERS_DEVELOPMENT="ture", VAR_DIR=str(tmp_path / "var")))
    assert result.returncode == 2
    assert "WORKORDERS_DEVELOPMENT='ture' is neither true nor false" in result.stderr
    with pytest.raises(StartupRefused):
        check_start("x", development=True, secret_key=None, bind_hosts=["10.0.0.1"])
