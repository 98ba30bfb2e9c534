"""The browser tests' helpers: signing in through the real sign-in page, screenshots,
canvas pixels, and reads (and the few test-only writes) on the stack's database."""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session

from integrations.shared.privacy import EXAMPLE_KEY, Vault
from integrations.workorders.adapters.orm import (
    ConsoleSession,
    Handler,
    OutboxMessage,
    SignInFailure,
    StaffUser,
    WorkOrder,
)
from integrations.workorders.service.handlers import NAME_CONTEXT

CHROMIUM = os.environ.get("CONSOLE_CHROMIUM", "/usr/bin/chromium")
OFFICE = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}

#: for each chart of the page (an element with ``data-chart``, or a bare <canvas>): how
#: many pixels of its canvases are not transparent
CANVAS_PIXELS_JS = """() => {
  const drawn = c => {
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) n++;
    return n;
  };
  const charts = Array.from(document.querySelectorAll('[data-chart]'));
  const loose = Array.from(document.querySelectorAll('canvas'))
    .filter(c => !c.closest('[data-chart]')).map(drawn);
  return charts.map(el => Array.from(el.querySelectorAll('canvas'))
    .reduce((sum, c) => sum + drawn(c), 0)).concat(loose);
}"""


def chromium_missing() -> str | None:
    """Why the system Chromium cannot be driven here (None: it can)."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        return f"Chromium is not installed ({CHROMIUM}): run `make browser-deps`"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "Playwright is not installed: run `make venvs` (requirements.txt)"
    return None


class Db:
    """Straight reads (and the few test-only writes) on the stack's database."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)

    def close(self) -> None:
        self.engine.dispose()

    def session(self) -> Session:
        return Session(self.engine)

    def handler_accounts(self) -> dict[str, int]:
        """{username: handler id} of the handlers' staff accounts."""
        with self.session() as s:
            return {u: h for u, h in s.execute(
                select(StaffUser.username, StaffUser.handler_id)
                .where(StaffUser.role == "handler", StaffUser.handler_id.is_not(None)))}

    def handler_names(self) -> dict[int, str]:
        """{handler id: name} (names are stored encrypted, with the stack's key)."""
        vault = Vault(os.environ.get("WORKORDERS_SECRET_KEY") or EXAMPLE_KEY)
        with self.session() as s:
            return {h.id: vault.decrypt(h.name_enc, context=NAME_CONTEXT) or ""
                    for h in s.scalars(select(Handler))}

    def handler_id(self, name: str) -> int:
        found = [i for i, n in self.handler_names().items() if n == name]
        assert found, f"no handler {name} in the demo data"
        return found[0]

    def handler_name(self, handler_id: int | None) -> str | None:
        return self.handler_names().get(handler_id) if handler_id is not None else None

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


def sign_in(page: Any, base: str, username: str, password: str,
            next_path: str | None = None) -> Any:
    """Open the real sign-in page, type the name and password, press 登录."""
    url = f"{base}/console/login" + (f"?next={next_path}" if next_path else "")
    page.goto(url)
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
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
