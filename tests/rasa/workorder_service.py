"""A real work-order service on 127.0.0.1 for Rasa-side tests: the
application environment's API process on a fresh SQLite file with the demo
data set (no mocks)."""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.staff_accounts import create_staff

ROOT = Path(__file__).resolve().parents[2]
APP_PYTHON = ROOT / ".venv" / "bin" / "python"


@dataclass
class Service:
    url: str
    token: str
    env: dict
    process: subprocess.Popen | None = None

    def start(self) -> None:
        port = int(self.url.rsplit(":", 1)[1])
        self.process = subprocess.Popen(
            [str(APP_PYTHON), "-m", "integrations.workorders.api", "--no-migrate",
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the work-order API did not start")

    def staff_token(self, username: str, role: str, handler_id: int | None = None,
                    areas: str | None = None) -> str:
        """A staff account on this service's database."""
        return create_staff(self.env["WORKORDERS_DATABASE_URL"], username, role, handler_id,
                            areas, env=self.env)

    def call(self, method: str, path: str, token: str, body: dict | None = None):
        """One JSON call to the API; returns (status, parsed body)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                return response.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, (json.loads(raw) if raw else None)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_service(tmp: Path):
    if not APP_PYTHON.exists():
        raise RuntimeError("the application environment is missing: run `make venvs`")
    token = secrets.token_urlsafe(24)
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "WORKORDERS_DATABASE_URL": f"sqlite:///{tmp / 'workorders.db'}",
           "WORKORDERS_ACTIONS_TOKEN": token, "WORKORDERS_DEVELOPMENT": "true"}
    for command in (["migrate"], ["load-demo", "--if-empty"]):
        subprocess.run([str(APP_PYTHON), "-m", "integrations.workorders", *command],
                       cwd=ROOT, env=env, check=True, capture_output=True)
    service = Service(url=f"http://127.0.0.1:{free_port()}", token=token, env=env)
    service.start()
    try:
        yield service
    finally:
        service.stop()
