"""The browser tests' helpers: staff accounts with passwords on a real stack, signing in
through the real sign-in page, screenshots, canvas pixels and database reads.

Accounts are made the way an operator makes them: ``python -m integrations.workorders
set-password`` / ``create-staff --password-stdin`` against the stack's database.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session

from integrations.workorders.adapters.orm import (
    ConsoleSession,
    Handler,
    OutboxMessage,
    SignInFailure,
    WorkOrder,
)

ROOT = Path(__file__).resolve().parents[4]
APP_PYTHON = ROOT / ".venv" / "bin" / "python"
CHROMIUM = os.environ.get("CONSOLE_CHROMIUM", "/usr/bin/chromium")
OFFICE = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}

#: counts the pixels of each <canvas> on the page whose alpha is not 0
CANVAS_PIXELS_JS = """() => Array.from(document.querySelectorAll('canvas')).map(c => {
  const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let drawn = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) drawn++;
  return drawn;
})"""


def chromium_missing() -> str | None:
    """Why the system Chromium cannot be driven here (None: it can)."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        return f"Chromium is not installed ({CHROMIUM}): run `make browser-deps`"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "Playwright is not installed: run `make venvs` (requirements.txt)"
    return None


def password_of(username: str) -> str:
    return f"pw-{username}-browser-2026"


def _cli(database_url: str, args: Sequence[str], stdin: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WORKORDERS_DATABASE_URL": database_url}
    return subprocess.Popen([str(APP_PYTHON), "-m", "integrations.workorders", *args], cwd=ROOT,
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(processes: list[tuple[str, subprocess.Popen]], stdin: dict[str, str]) -> None:
    for name, process in processes:
        out, err = process.communicate(stdin[name] + "\n", timeout=120)
        if process.returncode != 0:
            raise AssertionError(f"the CLI failed for {name}: {out}\n{err}")


def set_passwords(database_url: str, usernames: Sequence[str]) -> None:
    """``set-password --password-stdin`` for each existing account (in parallel)."""
    running = [(u, _cli(database_url, ["set-password", "--username", u, "--password-stdin"], ""))
               for u in usernames]
    _finish(running, {u: password_of(u) for u in usernames})


def create_handler_accounts(database_url: str, accounts: dict[str, int]) -> None:
    """``create-staff --role handler --handler-id N --password-stdin`` for {username: handler id}."""
    running = [(u, _cli(database_url, ["create-staff", "--username", u, "--role", "handler",
                                       "--handler-id", str(h), "--password-stdin"], ""))
               for u, h in accounts.items()]
    _finish(running, {u: password_of(u) for u in accounts})


class Db:
    """Straight reads (and the few test-only writes) on the stack's database."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)

    def close(self) -> None:
        self.engine.dispose()

    def session(self) -> Session:
        return Session(self.engine)

    def handler_id(self, name: str) -> int:
        with self.session() as s:
            found = s.scalar(select(Handler.id).where(Handler.name == name))
        assert found is not None, f"no handler {name} in the demo data"
        return found

    def handler_name(self, handler_id: int | None) -> str | None:
        if handler_id is None:
            return None
        with self.session() as s:
            return s.scalar(select(Handler.name).where(Handler.id == handler_id))

    def orders_of(self, reporter_ref: str) -> list[WorkOrder]:
        with self.session() as s:
            rows = s.scalars(select(WorkOrder).where(WorkOrder.reporter_ref == reporter_ref)
                             .order_by(WorkOrder.id)).all()
            s.expunge_all()
            return list(rows)

    def order(self, number: str) -> WorkOrder:
        with self.session() as s:
            row = s.scalar(select(WorkOrder).where(WorkOrder.number == number))
            assert row is not None, number
            s.expunge(row)
            return row

    def outbox_to(self, recipient_ref: str, number: str) -> list[dict[str, Any]]:
        with self.session() as s:
            rows = s.scalars(select(OutboxMessage).where(
                OutboxMessage.recipient_ref == recipient_ref,
                OutboxMessage.order_number == number).order_by(OutboxMessage.id)).all()
            return [{"topic": r.topic, "channel": r.channel, "status": r.status,
                     "payload": r.payload} for r in rows]

    def age_session(self, cookie_token: str, by: timedelta) -> int:
        """Move a console session's last request back in time (as if idle for ``by``)."""
        token_hash = hashlib.sha256(cookie_token.encode("utf-8")).hexdigest()
        with self.session() as s:
            row = s.get(ConsoleSession, token_hash)
            assert row is not None, "no such console session"
            result = s.execute(update(ConsoleSession)
                               .where(ConsoleSession.token_hash == token_hash)
                               .values(last_seen_at=row.last_seen_at - by))
            s.commit()
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def has_session(self, cookie_token: str) -> bool:
        token_hash = hashlib.sha256(cookie_token.encode("utf-8")).hexdigest()
        with self.session() as s:
            return s.get(ConsoleSession, token_hash) is not None

    def forget_failed_sign_ins(self) -> None:
        """Clear the throttle's record (the test that fills it cleans up after itself)."""
        with self.session() as s:
            s.query(SignInFailure).delete()
            s.commit()


def sign_in(page: Any, base: str, username: str, password: str | None = None,
            next_path: str | None = None) -> Any:
    """Open the real sign-in page, type the name and password, press 登录."""
    url = f"{base}/console/login" + (f"?next={next_path}" if next_path else "")
    page.goto(url)
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password if password is not None else password_of(username))
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state("domcontentloaded")
    return page


class Screenshots:
    """PNGs of the main pages at each width, into ``CONSOLE_SCREENSHOTS`` (else a tmp dir)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.taken: list[Path] = []

    def shoot(self, page: Any, name: str) -> Path:
        width = page.viewport_size["width"] if page.viewport_size else 0
        kind = "phone" if width and width < 800 else "office"
        path = self.dir / f"{name}-{kind}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 1000, path
        self.taken.append(path)
        return path
