"""``python -m integrations.workorders.api`` as a real process: migrates, serves, stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, inspect

from integrations.shared.privacy import EXAMPLE_KEY

REPO_ROOT = Path(__file__).resolve().parents[3]
TOKEN = "server-test-token-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKORDERS_")}
    return {**env, "PYTHONPATH": str(REPO_ROOT), "WORKORDERS_ACTIONS_TOKEN": TOKEN, **extra}


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}")
        try:
            return httpx.get(url, timeout=1)
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("server did not answer in time")


@pytest.mark.parametrize("workers", [1, 2])
def test_the_server_migrates_serves_and_stops(tmp_path, workers):
    database = tmp_path / "wo.db"
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "integrations.workorders.api", "--port", str(port),
         "--workers", str(workers), "--log-level", "warning"],
        cwd=REPO_ROOT, env=_env(WORKORDERS_DATABASE_URL=f"sqlite:///{database}"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        health = _wait_healthy(f"http://127.0.0.1:{port}/health", process)
        assert health.json() == {"status": "ok", "database": "ok"}
        tables = set(inspect(create_engine(f"sqlite:///{database}")).get_table_names())
        assert {"work_orders", "order_events", "outbox", "staff_users"} <= tables
        response = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/orders", headers={"Authorization": f"Bearer {TOKEN}"},
            json={"category": "incident.water", "description": "x", "location_text": "y",
                  "area_code": "grid:none", "reporter_ref": "tg:1"},
        )
        assert response.status_code == 422  # the schema is there; the area is not
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/orders").status_code == 401
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            timings = []
            for _ in range(21):
                started = time.perf_counter()
                client.get("/health")
                timings.append(time.perf_counter() - started)
        # no ~40 ms stall per response (TCP_NODELAY on every worker's connections): a
        # stall delays every response, so even the fastest of 21 would take 40 ms; the
        # fastest is robust to a busy machine, where the median was not
        assert min(timings) < 0.03, timings
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    # uvicorn shuts down cleanly, then re-raises the signal (exit by SIGTERM, as systemd expects)
    assert process.returncode in (0, -signal.SIGTERM), output.decode()
    assert b"Traceback" not in output, output.decode()


def test_worker_sockets_share_the_port_and_say_tcp():
    from integrations.workorders.api.workers import reuseport_socket

    first = reuseport_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    second = reuseport_socket("127.0.0.1", port)  # a second worker on the same port
    try:
        for sock in (first, second):
            assert sock.proto == socket.IPPROTO_TCP  # so asyncio sets TCP_NODELAY
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
    finally:
        first.close()
        second.close()


def test_the_server_refuses_the_example_key_in_production(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "integrations.workorders.api", "--port", str(_free_port()),
         "--no-migrate"],
        cwd=REPO_ROOT, capture_output=True, timeout=60,
        env=_env(WORKORDERS_DATABASE_URL=f"sqlite:///{tmp_path / 'wo.db'}",
                 WORKORDERS_DEVELOPMENT="false", WORKORDERS_SECRET_KEY=EXAMPLE_KEY),
    )
    assert result.returncode == 2
    assert b"example key" in result.stderr
    assert not (tmp_path / "wo.db").exists()  # refused before touching the database
