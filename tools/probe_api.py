"""Play the attacker of issue 12's work-order API findings (3, 4, 7, 11) against a running API.

    python tools/probe_api.py [VAR_DIR]        # after `make run` (default VAR_DIR: var/)

Reads the channel tokens ``make run`` wrote (``VAR_DIR/run/actions-token``,
``telegram-token``), creates its own staff accounts with the CLI on the same
database (``WORKORDERS_DATABASE_URL``, default ``VAR_DIR/workorders.db``; the
demo data set must be loaded), then prints each attempt, its answer and
whether that answer is the refusal expected. Exit status 1 if any attempt got
through. ``API_URL`` overrides ``http://127.0.0.1:$API_PORT`` (8000).
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parents[1]
APP_PYTHON = ROOT / ".venv" / "bin" / "python"


class Probe:
    def __init__(self, var: Path) -> None:
        self.var = var
        port = os.environ.get("API_PORT", "8000")
        self.url = os.environ.get("API_URL") or f"http://127.0.0.1:{port}"
        self.db = (os.environ.get("WORKORDERS_DATABASE_URL")
                   or f"sqlite:///{var / 'workorders.db'}")
        run = var / "run"
        self.actions = (run / "actions-token").read_text().strip()
        self.telegram = (run / "telegram-token").read_text().strip()
        self.failures = 0
        self.tag = secrets.token_hex(3)

    # -- plumbing ----------------------------------------------------------------
    def call(self, method: str, path: str, token: str | None = None, body=None,
             headers: dict | None = None, form: dict | None = None) -> tuple[int, bytes]:
        data, all_headers = None, dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def attempt(self, finding: str, what: str, expected: set[int], method: str, path: str,
                token: str | None = None, **kw) -> tuple[int, bytes]:
        status, raw = self.call(method, path, token, **kw)
        ok = status in expected
        self.failures += not ok
        answer = raw.decode("utf-8", "replace").replace("\n", " ")[:110]
        print(f"[{finding}] {what}\n      {method} {path.split('?')[0]} -> {status} {answer}\n"
              f"      expected {sorted(expected)}: {'as expected' if ok else 'NOT AS EXPECTED'}")
        return status, raw

    def staff(self, username: str, role: str, *extra: str) -> str:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "WORKORDERS_DATABASE_URL": self.db}
        done = subprocess.run(
            [str(APP_PYTHON), "-m", "integrations.workorders", "create-staff",
             "--username", f"{username}-{self.tag}", "--role", role, *extra],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        return done.stdout.splitlines()[0].strip()

    # -- the attacks -------------------------------------------------------------
    def run(self) -> int:
        admin = self.staff("probe-admin", "admin")
        status, raw = self.call("GET", "/api/v1/handlers", admin)
        handlers = json.loads(raw)
        grids = sorted({a for h in handlers for a in h["areas"] if a.startswith("grid:")})
        home, other = grids[0], grids[1]
        victim = next(h for h in handlers if h["areas"] == [other])
        dispatcher = self.staff("probe-dispatcher", "dispatcher", "--areas", home)
        print(f"world: dispatcher of {home}; victim handler {victim['id']} works in {other}\n")

        # 3: a dispatcher repoints another area's handler to their own chat
        self.attempt("3", "dispatcher sets another area's handler's telegram_chat_id", {403, 422},
                     "PATCH", f"/api/v1/handlers/{victim['id']}", dispatcher,
                     body={"telegram_chat_id": "31337"})
        self.attempt("3", "dispatcher changes another area's handler", {403, 404},
                     "PATCH", f"/api/v1/handlers/{victim['id']}", dispatcher,
                     body={"capacity": 0})
        self.attempt("3", "admin sets telegram_chat_id by PATCH (only link codes may)", {422},
                     "PATCH", f"/api/v1/handlers/{victim['id']}", admin,
                     body={"telegram_chat_id": "31337"})

        # 4: the bot's token with an admin's chat; the channels beyond their residents
        code = json.loads(self.call("POST", "/api/v1/telegram/link-codes", admin, body={})[1])
        chat = str(900_000_000 + secrets.randbelow(10_000_000))
        self.call("POST", "/api/v1/telegram/links", self.telegram,
                  body={"code": code["code"], "chat_id": chat})
        new = {"name": "冒名者", "role": "mediator", "tier": "grid",
               "skills": ["dispute.neighbor"], "areas": [home], "capacity": 1}
        self.attempt("4", "Telegram token + X-Telegram-Chat of an admin creates a handler", {403},
                     "POST", "/api/v1/handlers", self.telegram, body=new,
                     headers={"X-Telegram-Chat": chat})
        self.attempt("4", "Telegram token reads a web: resident's latest order", {403},
                     "GET", "/api/v1/orders/latest?reporter_ref=web:someone", self.telegram)
        self.attempt("4", "Telegram token files an order for a voice: caller", {403},
                     "POST", "/api/v1/orders", self.telegram,
                     body={"category": "incident.facility", "description": "x",
                           "location_text": "x", "area_code": home,
                           "reporter_ref": "voice:13800000000"})
        self.attempt("4", "actions token + X-Telegram-Chat of an admin", {403},
                     "GET", "/api/v1/orders", self.actions, headers={"X-Telegram-Chat": chat})
        self.attempt("4", "actions token lists handlers (a staff endpoint)", {403},
                     "GET", "/api/v1/handlers", self.actions)

        made = json.loads(self.call("POST", "/api/v1/orders", self.actions, body={
            "category": "incident.water", "description": "井盖\x00\x01\x1b\ufffe丢失",
            "location_text": "幸福里东门", "area_code": home,
            "reporter_ref": f"web:probe-{self.tag}"})[1])
        self.call("POST", "/api/v1/orders", self.actions, body={
            "category": "incident.safety", "description": "楼道里有人给电动车充电",
            "location_text": "幸福里3号楼", "area_code": home,
            "reporter_ref": f"web:probe2-{self.tag}"})

        # 7: Open311 reads are public and show only public categories; filing needs a key
        status, raw = self.attempt("7", "GET requests without a token (public by design)", {200},
                                   "GET", "/open311/v2/requests.json")
        codes = {r["service_code"] for r in json.loads(raw)} if status == 200 else set()
        private = {c for c in codes if not c.startswith(("incident.facility", "incident.water",
                                                          "incident.sanitation"))}
        print(f"      categories listed: {sorted(codes) or 'none'}; non-public: "
              f"{sorted(private) or 'none'}")
        self.failures += bool(private)
        self.attempt("7", "POST requests without an api_key", {401},
                     "POST", "/open311/v2/requests.json",
                     form={"service_code": "incident.water", "description": "x",
                           "address_string": "x", "attribute[area_code]": home})
        self.attempt("7", "POST requests with a staff token as api_key", {403},
                     "POST", f"/open311/v2/requests.json?api_key={dispatcher}",
                     form={"service_code": "incident.water", "description": "x",
                           "address_string": "x", "attribute[area_code]": home})

        # 11: XML and control characters; probing order numbers; retried POSTs
        status, raw = self.call("GET", f"/open311/v2/requests/{made['number']}.xml")
        try:
            ElementTree.fromstring(raw)
            print(f"[11] XML of a description with control characters -> {status}, parses")
        except ElementTree.ParseError as error:
            self.failures += 1
            print(f"[11] XML of a description with control characters -> BROKEN: {error}")
        assignee = made.get("assignee_id")
        others = [h for h in handlers if h["id"] != assignee]
        handler = self.staff("probe-handler", "handler", "--handler-id", str(others[0]["id"]))
        real = self.attempt("11", "handler accepts someone else's order", {404},
                            "POST", f"/api/v1/orders/{made['number']}/accept", handler)
        missing = self.call("POST", "/api/v1/orders/10000000/accept", handler)
        same = real[0] == missing[0]
        self.failures += not same
        print(f"      a missing number answers {missing[0]}: "
              f"{'indistinguishable' if same else 'DIFFERENT (numbers can be probed)'}")
        ref = {"reporter_ref": f"web:probe-{self.tag}"}
        key = {"Idempotency-Key": f"probe-{self.tag}"}
        first = self.call("POST", f"/api/v1/orders/{made['number']}/cancel", self.actions,
                          body=ref, headers=key)
        self.attempt("11", "a retried cancel (same Idempotency-Key) after the first applied",
                     {first[0]}, "POST", f"/api/v1/orders/{made['number']}/cancel",
                     self.actions, body=ref, headers=key)
        verdict = f"{self.failures} got through" if self.failures else "all attempts refused"
        print(f"\n{verdict}")
        return 1 if self.failures else 0


def main() -> int:
    var = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "var").resolve()
    return Probe(var).run()


if __name__ == "__main__":
    sys.exit(main())
