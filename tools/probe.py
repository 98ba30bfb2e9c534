"""``make probe``: play the attacker of issue 12 against a running ``make run``.

Each attempt is printed with the answer it got and whether the system held.
The probe reads what an operator on this machine has (``var/run/*``, the
database through the CLI) only to set up insider roles the review assumed: a
dispatcher of one area, an admin with a linked Telegram chat. Everything else
is what an attacker on the office network could send.

The API's role rules (findings 3, 4, 7, 11: area scoping, the split
credentials, Open311, probing order numbers) are played by
``tools/probe_api.py``; ``make probe`` runs both. This one creates a supervisor
account named ``probe-sup-…``; remove it if the probe ran against a real system.

Exit status: 0 when every attempt was refused as it should be, 1 otherwise.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import stat
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
VAR = Path(os.environ.get("VAR_DIR") or ROOT / "var")
RUN = VAR / "run"
APP_PYTHON = ROOT / ".venv" / "bin" / "python"

RASA = f"http://127.0.0.1:{os.environ.get('RASA_PORT', '5005')}"
ACTIONS_PORT = int(os.environ.get("ACTIONS_PORT", "5055"))
ACTIONS = f"http://127.0.0.1:{ACTIONS_PORT}"
API = f"http://127.0.0.1:{os.environ.get('API_PORT', '8000')}"
CONTROL = f"http://127.0.0.1:{os.environ.get('VOICE_CONTROL_PORT', '9093')}"

SOMEONES_PHONE = "13800000000"


@dataclass
class Probe:
    results: list[tuple[str, str, str, bool]] = field(default_factory=list)
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=15.0))

    def check(self, finding: str, attempt: str, answer: str, held: bool) -> None:
        self.results.append((finding, attempt, answer, held))
        print(f"[{finding:>3}] {'held ' if held else 'BROKE'}  {attempt}\n"
              f"        -> {answer}", flush=True)

    def skip(self, finding: str, attempt: str, why: str) -> None:
        print(f"[{finding:>3}] skip   {attempt}\n        -> {why}", flush=True)

    def request(self, method: str, url: str, **kwargs) -> httpx.Response | _Refused:
        try:
            return self.http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            return _Refused(f"{type(exc).__name__}: {exc}")


class _Refused:
    """A connection that could not be made (stands in for a response)."""

    status_code = 0

    def __init__(self, why: str) -> None:
        self.text = why


def _answer(response) -> str:
    body = response.text.replace("\n", " ")
    return f"HTTP {response.status_code} {body[:160]}" if response.status_code else body[:160]


def _secret(name: str) -> str | None:
    path = RUN / name
    return path.read_text().strip() if path.exists() else None


def _cli(*args: str) -> str:
    result = subprocess.run([str(APP_PYTHON), "-m", "integrations.workorders", *args],
                            cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    if result.returncode != 0:
        raise RuntimeError(f"workorders {' '.join(args)}: {result.stderr.strip()[-400:]}")
    return result.stdout


def _token_from(output: str) -> str:
    """The token ``create-staff`` printed (its first line: urlsafe characters only)."""
    for line in output.splitlines():
        word = line.strip()
        if len(word) >= 20 and all(c.isascii() and (c.isalnum() or c in "-_") for c in word):
            return word
    raise RuntimeError(f"create-staff printed no token: {output[:200]!r}")


def _bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


# ----------------------------------------------------------------- findings


def action_server(p: Probe) -> None:
    body = {"next_action": "action_status", "sender_id": f"voice:{SOMEONES_PHONE}",
            "tracker": {"sender_id": f"voice:{SOMEONES_PHONE}", "slots": {}, "events": [],
                        "latest_message": {}}, "domain": {}, "version": "3.6.21"}
    r = p.request("POST", f"{ACTIONS}/webhook", json=body)
    p.check("1", "action server: action_status for someone's phone, no secret",
            _answer(r), r.status_code == 401)
    bomb = zlib.compress(b" " * (64 * 1024 * 1024), 9)
    r = p.request("POST", f"{ACTIONS}/webhook", content=bomb,
                  headers={"Content-Encoding": "deflate", "Content-Type": "application/json"})
    p.check("1", f"action server: {len(bomb) // 1024} KiB deflate bomb (64 MiB inflated), no secret",
            _answer(r), r.status_code in (401, 413))
    secret = _secret("actions-secret")
    if secret:
        r = p.request("POST", f"{ACTIONS}/webhook", content=bomb,
                      headers={"Content-Encoding": "deflate", "Content-Type": "application/json",
                               **_bearer(secret)})
        p.check("1", "action server: the same bomb with the right secret (an insider)",
                _answer(r), r.status_code == 413)
    outside = _outside_address()
    if outside is None:
        p.skip("1", "action server from another address", "this machine has no non-loopback address")
        return
    with socket.socket() as s:
        s.settimeout(2)
        reachable = s.connect_ex((outside, ACTIONS_PORT)) == 0
    p.check("1", f"action server reachable on {outside}:{ACTIONS_PORT}",
            "connected" if reachable else "connection refused", not reachable)


def _outside_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def rest_channel(p: Probe) -> None:
    url = f"{RASA}/webhooks/rest/webhook"
    r = p.request("POST", url, json={"sender": "tg:100200300", "message": "我的工单怎么样了"})
    p.check("2", "REST channel: speak as Telegram chat 100200300, no token", _answer(r),
            r.status_code == 401)
    web = _secret("channel-token")
    if web is None:
        p.skip("2", "REST channel with the web token", "var/run/channel-token is missing")
        return
    for sender in ("tg:100200300", f"voice:{SOMEONES_PHONE}", "voice:h:0123456789abcdef"):
        r = p.request("POST", url, json={"sender": sender, "message": "我的工单怎么样了"},
                      headers=_bearer(web))
        p.check("2", f"REST channel: web token speaks as {sender}", _answer(r), r.status_code == 403)
    r = p.request("POST", url, json={"sender": f"web:{secrets.token_hex(8)}", "message": "你好"},
                  headers=_bearer(web))
    p.check("2", "REST channel: web token, its own web: sender (must work)", _answer(r),
            r.status_code == 200)


STAFF: dict[str, str] = {}




def credentials_of_workers(p: Probe) -> None:
    for name in ("integrations.notifier", "sweep"):
        env = _process_env(name)
        if env is None:
            p.skip("4", f"{name}'s environment", "process not found")
            continue
        leaked = sorted(k for k in env if k.startswith("WORKORDERS_") and k.endswith("TOKEN"))
        p.check("4", f"{name} holds an API credential", ", ".join(leaked) or "none", not leaked)


def _process_env(needle: str) -> dict[str, str] | None:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            if str(ROOT).encode() not in (proc / "cwd").resolve().as_posix().encode():
                continue
            if not any(needle.encode() in part for part in cmdline):
                continue
            raw = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        return dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)
    return None


def dialplan(p: Probe) -> None:
    r = p.request("POST", f"{CONTROL}/calls",
                  json={"call_id": "9b2f4c1e-0000-4000-8000-000000000001", "caller": SOMEONES_PHONE})
    if r.status_code == 0:
        p.skip("5", "dialplan API without its secret", f"phone line not running ({r.text[:60]})")
        return
    p.check("5", f"dialplan API: announce a call from {SOMEONES_PHONE}, no secret", _answer(r),
            r.status_code == 401)


def identities(p: Probe) -> None:
    r = p.request("GET", f"{API}/api/v1/orders", params={"limit": 200},
                  headers=_bearer(STAFF["supervisor"]))
    items = r.json().get("items", []) if isinstance(r, httpx.Response) and r.status_code == 200 else []
    refs = [str(o.get("reporter_ref") or "") for o in items]
    callers = [ref for ref in refs if ref.startswith("voice:")]
    plain = [ref for ref in callers if not ref.startswith(("voice:h:", "voice:unknown-"))]
    p.check("6", "supervisor lists orders: a phone caller's number in reporter_ref?",
            f"HTTP {r.status_code}, {len(items)} orders, {len(callers)} phone callers, "
            f"{len(plain)} with a plain number", r.status_code == 200 and not plain)
    db = os.environ.get("WORKORDERS_DATABASE_URL") or f"sqlite:///{VAR / 'workorders.db'}"
    if db.startswith("sqlite:///"):
        import sqlite3

        with sqlite3.connect(f"file:{db[len('sqlite:///'):]}?mode=ro", uri=True) as conn:
            rows = [row[0] for table, column in (("work_orders", "reporter_ref"),
                                                 ("outbox", "recipient_ref"),
                                                 ("callback_requests", "reporter_ref"))
                    for row in conn.execute(
                        f"SELECT {column} FROM {table} WHERE {column} LIKE 'voice:%' "
                        f"AND {column} NOT LIKE 'voice:h:%' AND {column} NOT LIKE 'voice:unknown-%'")]
        p.check("6", "database: voice:<number> in orders, outbox or callbacks",
                f"{len(rows)} rows", not rows)


def dev_mode_and_files(p: Probe) -> None:
    logs = sorted((VAR / "log").glob("*.log"))
    for log in logs:
        with open(log, encoding="utf-8", errors="replace") as f:
            first = f.readline().strip()
        said = "development" in first.lower() or "开发模式" in first
        p.check("8", f"{log.name}: first line says development mode", first[:140] or "(empty)", said)
    loose = []
    for path in [VAR, *VAR.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            loose.append(f"{path.relative_to(VAR.parent)} {oct(mode)}")
    p.check("9", "var/ and its files readable by others", "; ".join(loose[:6]) or "none", not loose)




def setup_staff() -> None:
    STAFF["supervisor"] = _token_from(_cli("create-staff", "--username",
                                           f"probe-sup-{secrets.token_hex(3)}", "--role", "supervisor"))


def main() -> int:
    p = Probe()
    try:
        httpx.get(f"{API}/health", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        print(f"error: the work-order API does not answer at {API} ({exc}); start `make run` first",
              file=sys.stderr)
        return 2
    setup_staff()
    steps: list[Callable[[Probe], None]] = [
        action_server, rest_channel, credentials_of_workers, dialplan, identities,
        dev_mode_and_files]
    for step in steps:
        try:
            step(p)
        except Exception as exc:  # a probe step that cannot run is a finding too
            p.check("?", f"{step.__name__} could not run", f"{type(exc).__name__}: {exc}", False)
    broke = [r for r in p.results if not r[3]]
    print(json.dumps({"attempts": len(p.results), "held": len(p.results) - len(broke),
                      "broke": len(broke)}, ensure_ascii=False))
    return 1 if broke else 0


if __name__ == "__main__":
    sys.exit(main())
