"""A real work-order service on 127.0.0.1 for Rasa-side tests: the
application environment's API process on a fresh SQLite file with the demo
data set (no mocks)."""
from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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
           "WORKORDERS_SERVICE_TOKEN": token, "WORKORDERS_DEVELOPMENT": "true"}
    for command in (["migrate"], ["load-demo", "--if-empty"]):
        subprocess.run([str(APP_PYTHON), "-m", "integrations.workorders", *command],
                       cwd=ROOT, env=env, check=True, capture_output=True)
    service = Service(url=f"http://127.0.0.1:{free_port()}", token=token, env=env)
    service.start()
    try:
        yield service
    finally:
        service.stop()
