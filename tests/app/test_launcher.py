"""`make run`'s launcher: starts every process, serves, and stops them all."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tmp_path, **ports):
    if not (ROOT / ".venv-rasa" / "bin" / "rasa").exists():
        pytest.fail("the Rasa environment is missing: run `make venvs`")
    env = {**os.environ, "VAR_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1",
           **{k: str(v) for k, v in ports.items()}}
    return subprocess.Popen([sys.executable, str(ROOT / "tools" / "run.py")], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_until(process, marker: str, timeout: float) -> list[str]:
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    raise AssertionError(f"no {marker!r} in time; got {lines}; stderr: {process.stderr.read()[-2000:]}")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def test_starts_serves_and_stops_every_process_on_ctrl_c(tmp_path):
    rasa_port, actions_port = free_port(), free_port()
    process = start(tmp_path, RASA_PORT=rasa_port, ACTIONS_PORT=actions_port)
    try:
        lines = read_until(process, "all services ready", timeout=400)
        pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", "\n".join(lines))]
        assert len(pids) == 2
        assert any(f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook" in l for l in lines)

        request = urllib.request.Request(
            f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook",
            data=json.dumps({"sender": "web:launcher-test", "message": "你好"}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            replies = json.loads(response.read())
        assert replies and "您好" in replies[0]["text"]

        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        assert "all processes stopped" in out
        for pid in pids:
            assert not group_alive(pid), f"process group {pid} still running"
    finally:
        if process.poll() is None:
            process.kill()


def test_a_service_that_cannot_start_stops_the_others_and_fails(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    rasa_port = free_port()
    try:
        process = start(tmp_path, RASA_PORT=rasa_port, ACTIONS_PORT=taken.getsockname()[1])
        out, err = process.communicate(timeout=400)
        assert process.returncode == 1
        assert "actions exited" in err
        pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", out)]
        assert len(pids) == 2 and not any(group_alive(p) for p in pids)
    finally:
        taken.close()
