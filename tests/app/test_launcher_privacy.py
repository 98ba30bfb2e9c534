"""`make run`'s files are private: var/ and its directories 0700, every file 0600.

A real launch (tools/run.py, every process) into a var directory that an
earlier run left world-readable: afterwards the directories are 0700 and
every file in them, the databases (the work-order one and Rasa's tracker
store) and the logs included, is 0600. The processes run with umask 077.
"""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.app.test_launcher import free_port, read_until, stop_launcher

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_var_is_owner_only_after_a_real_launch(tmp_path):
    if not (ROOT / ".venv-rasa" / "bin" / "rasa").exists():
        pytest.fail("the Rasa environment is missing: run `make venvs`")
    var = tmp_path / "var"
    (var / "log").mkdir(parents=True)
    var.chmod(0o755)
    (var / "log").chmod(0o755)
    stale = var / "log" / "old.log"
    stale.write_text("a log line of an earlier run\n")
    stale.chmod(0o644)

    ports = {name: free_port() for name in ("RASA_PORT", "ACTIONS_PORT", "API_PORT",
                                            "VOICE_AUDIOSOCKET_PORT", "VOICE_CONTROL_PORT")}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WORKORDERS_", "TELEGRAM_"))}
    env.update({"VAR_DIR": str(var), "PYTHONUNBUFFERED": "1",
                **{k: str(v) for k, v in ports.items()}})
    process = subprocess.Popen([sys.executable, str(ROOT / "tools" / "run.py")], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        read_until(process, "all services ready", timeout=400)
        # Rasa writes a conversation into its tracker store
        request = urllib.request.Request(
            f"http://127.0.0.1:{ports['RASA_PORT']}/webhooks/rest/webhook",
            data=json.dumps({"sender": "web:modes-test", "message": "你好"}).encode(),
            headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=60).read()
        except OSError:
            pass  # the channel may demand a token: the tracker file exists either way

        expected = {var / "workorders.db", var / "rasa-tracker.db", var / "run" / "actions-token",
                    var / "run" / "channel-token",
                    var / "run" / "rasa-token", var / "run" / "endpoints.yml",
                    var / "log" / "workorders-api.log", var / "log" / "rasa.log",
                    var / "log" / "sweeper.log", stale}
        found = {p for p in var.rglob("*") if p.is_file()}
        assert expected <= found, expected - found
        assert {str(p.relative_to(var)): oct(mode(p)) for p in found if mode(p) != 0o600} == {}
        dirs = [var] + [p for p in var.rglob("*") if p.is_dir()]
        assert {str(p): oct(mode(p)) for p in dirs if mode(p) != 0o700} == {}

        # processes that are not ours (Rasa, the action server) get the warning from the launcher
        for name in ("rasa", "actions", "workorders-api", "notifier", "sweeper"):
            first = (var / "log" / f"{name}.log").read_text().splitlines()[0]
            assert "WARNING" in first and "DEVELOPMENT MODE" in first, (name, first)
        # the action server listens on loopback only
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{ports['ACTIONS_PORT']}"],
                                   capture_output=True, text=True).stdout
        assert f"127.0.0.1:{ports['ACTIONS_PORT']}" in listening, listening
        assert f"0.0.0.0:{ports['ACTIONS_PORT']}" not in listening

        process.send_signal(signal.SIGINT)
        process.communicate(timeout=90)
        assert process.returncode == 0
        sweeper_log = (var / "log" / "sweeper.log").read_text()
        assert "DEVELOPMENT MODE" in sweeper_log.splitlines()[0]
        assert "sweep failed" not in sweeper_log
        # what the processes wrote while stopping is private too
        assert {str(p): oct(mode(p)) for p in var.rglob("*")
                if p.is_file() and mode(p) != 0o600} == {}
    finally:
        stop_launcher(process)


def test_the_service_creates_its_sqlite_database_owner_only_even_with_umask_022(tmp_path):
    """Outside `make run` too: `migrate` (and every engine) creates the file 0600."""
    database = tmp_path / "new" / "workorders.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKORDERS_")}
    env.update({"PYTHONPATH": str(ROOT), "WORKORDERS_DATABASE_URL": f"sqlite:///{database}"})
    result = subprocess.run([sys.executable, "-m", "integrations.workorders", "migrate"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                            umask=0o022)
    assert result.returncode == 0, result.stderr
    assert mode(database) == 0o600
    assert mode(database.parent) == 0o700
    assert all(mode(p) == 0o600 for p in database.parent.iterdir())  # -wal, -shm too
