"""The action server process (bot/action_server.py): loopback by default, the
shared secret on every call, and a body cap that holds for compressed bodies."""
from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import time
import zlib
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
SECRET = "s3cret-for-the-test_-x"
MAX_BODY = 64 * 1024
pytestmark = pytest.mark.slow

GREET_CALL = {
    "next_action": "action_greet", "sender_id": "web:action-server-test", "version": "3.6.2",
    "tracker": {"sender_id": "web:action-server-test", "slots": {}, "latest_message": {},
                "events": [], "paused": False, "followup_action": None,
                "active_loop": {}, "latest_action_name": None},
    "domain": {},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTIONS_")}
    return {**env, "PYTHONPATH": str(ROOT), "RASA_TELEMETRY_ENABLED": "false", **extra}


@pytest.fixture(scope="module")
def server():
    if not RASA_PYTHON.exists():
        pytest.fail("the Rasa environment is missing: run `make venvs`")
    port = free_port()
    # no ACTIONS_HOST and no --host: the default address
    process = subprocess.Popen(
        [str(RASA_PYTHON), "-m", "bot.action_server", "--port", str(port)], cwd=ROOT,
        env=server_env(ACTIONS_SECRET=SECRET, ACTIONS_MAX_BODY_BYTES=str(MAX_BODY)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail("the action server exited: " + process.stdout.read().decode()[-2000:])
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the action server did not start in 120 s")
            time.sleep(0.3)
        yield port, url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def authorized(secret: str = SECRET, **headers: str) -> dict:
    return {"Authorization": f"Bearer {secret}", **headers}


def test_refuses_to_start_without_a_secret():
    result = subprocess.run([str(RASA_PYTHON), "-m", "bot.action_server", "--port",
                             str(free_port())], cwd=ROOT, env=server_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "ACTIONS_SECRET is not set" in result.stderr


def test_listens_on_loopback_only_by_default(server):
    port, _ = server
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                listening.append(address)
    assert listening == ["0100007F"]  # 127.0.0.1, and nothing on any other address


def test_health_is_open(server):
    _, url = server
    assert httpx.get(url + "/health").json() == {"status": "ok"}


@pytest.mark.parametrize("headers", [{}, authorized("wrong-secret"), {"Authorization": SECRET},
                                     authorized(SECRET + "x"), {"Authorization": "Basic " + SECRET}])
def test_a_call_without_the_secret_gets_401_and_runs_nothing(server, headers):
    _, url = server
    response = httpx.post(url + "/webhook", json=GREET_CALL, headers=headers)
    assert response.status_code == 401
    assert "responses" not in response.text
    assert httpx.get(url + "/actions", headers=headers).status_code == 401


def test_a_call_with_the_secret_runs_the_action(server):
    _, url = server
    response = httpx.post(url + "/webhook", json=GREET_CALL, headers=authorized())
    assert response.status_code == 200
    assert "您好" in response.json()["responses"][0]["text"]
    names = {a["name"] for a in httpx.get(url + "/actions", headers=authorized()).json()}
    assert "action_greet" in names


def test_a_compressed_call_within_the_limit_runs(server):
    _, url = server
    body = json.dumps(GREET_CALL).encode()
    for encoding, packed in (("deflate", zlib.compress(body)), ("gzip", gzip.compress(body))):
        response = httpx.post(url + "/webhook", content=packed,
                              headers=authorized(**{"Content-Encoding": encoding,
                                                    "Content-Type": "application/json"}))
        assert response.status_code == 200, (encoding, response.text)
        assert "您好" in response.json()["responses"][0]["text"]


def test_a_body_over_the_limit_gets_413(server):
    _, url = server
    call = {**GREET_CALL, "padding": "x" * (MAX_BODY + 1)}
    response = httpx.post(url + "/webhook", json=call, headers=authorized())
    assert response.status_code == 413


@pytest.mark.parametrize("encoding", ["deflate", "gzip"])
def test_a_compression_bomb_gets_413(server, encoding):
    _, url = server
    # 50 MB of padding in under 64 KiB: within the limit on the wire, far over it inflated
    inflated = b'{"padding": "' + b" " * 50_000_000 + b'"}'
    packed = zlib.compress(inflated, 9) if encoding == "deflate" else gzip.compress(inflated, 9)
    assert len(packed) < MAX_BODY
    response = httpx.post(url + "/webhook", content=packed,
                          headers=authorized(**{"Content-Encoding": encoding}))
    assert response.status_code == 413
    # and the server is still there
    assert httpx.get(url + "/health").status_code == 200


def test_an_unknown_encoding_gets_415(server):
    _, url = server
    response = httpx.post(url + "/webhook", content=b"xx",
                          headers=authorized(**{"Content-Encoding": "br"}))
    assert response.status_code == 415
