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
import urllib.error
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
    # the phone line's gateway on free ports too (its defaults are 9092 and 9093)
    ports = {"VOICE_AUDIOSOCKET_PORT": free_port(), "VOICE_CONTROL_PORT": free_port(), **ports}
    env = {**os.environ, "VAR_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1",
           **{k: str(v) for k, v in ports.items()}}
    env.pop("TELEGRAM_BOT_TOKEN", None)  # the Telegram channel only runs with a token
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


SERVICES = 6  # work-order API, notifier, sweeper, action server, Rasa, the phone line's gateway


def post(url: str, body: dict, token: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def stop_launcher(process) -> None:
    """After a failure: Ctrl-C first, so the launcher stops its children (a plain kill
    would leave them running, holding their ports for the next test)."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        process.kill()


def test_starts_serves_and_stops_every_process_on_ctrl_c(tmp_path):
    rasa_port, actions_port, api_port, control_port = free_port(), free_port(), free_port(), free_port()
    # a random token may begin with "-" (one start in 64 failed so): Rasa must take it
    rasa_token = "-leading-dash-token"
    process = start(tmp_path, RASA_PORT=rasa_port, ACTIONS_PORT=actions_port, API_PORT=api_port,
                    VOICE_CONTROL_PORT=control_port, RASA_AUTH_TOKEN=rasa_token)
    try:
        lines = read_until(process, "all services ready", timeout=400)
        pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", "\n".join(lines))]
        assert len(pids) == SERVICES
        assert any(f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook" in line for line in lines)
        assert any(f"http://127.0.0.1:{api_port}/api/v1" in line for line in lines)
        assert any("Telegram channel off" in line for line in lines)
        # the phone line answers its dialplan API (no speech model here: it still takes calls)
        with urllib.request.urlopen(f"http://127.0.0.1:{control_port}/health", timeout=10) as r:
            assert json.loads(r.read())["status"] == "ok"
        # ... to the dialplan only: the secret this run generated, in a file only we can read
        secret_file = tmp_path / "run" / "voice-control-secret"
        assert secret_file.stat().st_mode & 0o777 == 0o600
        call = {"call_id": "0b9d1c1e-0000-4000-8000-000000000001", "caller": "13800000000"}
        with pytest.raises(urllib.error.HTTPError) as refused:
            post(f"http://127.0.0.1:{control_port}/calls", call)
        assert refused.value.code == 401
        assert post(f"http://127.0.0.1:{control_port}/calls", call,
                    secret_file.read_text())["caller_known"] is True

        # the demo data set was loaded into the new database: a report is dispatched at once
        token = (tmp_path / "run" / "actions-token").read_text()
        for name in ("actions-token", "telegram-token"):
            assert (tmp_path / "run" / name).stat().st_mode & 0o777 == 0o600
        order = post(f"http://127.0.0.1:{api_port}/api/v1/orders", {
            "category": "incident.facility", "description": "3号楼门口路灯不亮了",
            "location_text": "幸福里社区3号楼", "area_code": "grid:cg-xingfuli",
            "reporter_ref": "web:launcher-test"}, token)
        assert order["status"] == "assigned" and re.fullmatch(r"\d{8}", order["number"])
        # ... and each demo account's password and token were shown once, as load-demo printed
        # them: username, role, password, token
        accounts = {fields[0]: fields[1:] for fields in (line.split() for line in lines)
                    if len(fields) == 4 and fields[0] in ("demo-dispatcher", "lixiuying")}
        assert accounts["lixiuying"][0] == "handler"
        role, password, token = accounts["demo-dispatcher"]
        assert role == "dispatcher" and len(password) >= 12
        inbox = urllib.request.Request(f"http://127.0.0.1:{api_port}/api/v1/worklist",
                                       headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(inbox, timeout=60) as response:
            assert json.loads(response.read())["counts"]["urgent"] == 0

        # the REST channel: web senders with the token make run wrote for them (mode 0600)
        channel_token = tmp_path / "run" / "channel-token"
        assert channel_token.stat().st_mode & 0o777 == 0o600
        replies = post(f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook",
                       {"sender": "web:launcher-test", "message": "你好"},
                       channel_token.read_text())
        assert replies and "您好" in replies[0]["text"]
        parsed = post(f"http://127.0.0.1:{rasa_port}/model/parse?token={rasa_token}",
                      {"text": "楼道里着火了"})
        assert parsed["intent"]["name"] == "report_incident"

        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        assert "all processes stopped" in out
        for pid in pids:
            assert not group_alive(pid), f"process group {pid} still running"
    finally:
        stop_launcher(process)


def test_a_service_that_cannot_start_stops_the_others_and_fails(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        process = start(tmp_path, RASA_PORT=free_port(), API_PORT=free_port(),
                        ACTIONS_PORT=taken.getsockname()[1])
        out, err = process.communicate(timeout=400)
        assert process.returncode == 1
        assert "actions exited" in err
        pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", out)]
        assert len(pids) == SERVICES and not any(group_alive(p) for p in pids)
    finally:
        taken.close()
