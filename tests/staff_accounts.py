"""Staff accounts for tests that talk to a real work-order API: the CLI
creates the account on that API's database and prints its token once.
Standard library only, so both test environments use it."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_PYTHON = ROOT / ".venv" / "bin" / "python"


def create_staff(database_url: str, username: str, role: str, handler_id: int | None = None,
                 areas: str | None = None, env: dict | None = None) -> str:
    argv = [str(APP_PYTHON), "-m", "integrations.workorders", "create-staff",
            "--username", username, "--role", role]
    if handler_id is not None:
        argv += ["--handler-id", str(handler_id)]
    if areas:
        argv += ["--areas", areas]
    env = {**(env or os.environ), "PYTHONPATH": str(ROOT), "WORKORDERS_DATABASE_URL": database_url}
    result = subprocess.run(argv, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return result.stdout.splitlines()[0].strip()
