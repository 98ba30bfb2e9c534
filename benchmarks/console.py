"""Console benchmark: server time of the staff pages at 10,000 and 100,000 orders.

For each database (a temporary SQLite file; a temporary PostgreSQL database,
created and dropped here) and each size, the schema is migrated and a year of
realistic orders is seeded in bulk (SQLAlchemy Core inserts, not the use
cases): mixed kinds, categories, grids, tiers and statuses, with their
hash-chained audit events (valid: the audit check is timed too), some
co-reports (further reports by others), photos and 不满意 answers with reasons.
Then the pages below are requested in-process (``httpx.ASGITransport``
against ``create_app``: the server's time without a network), one at a time,
with varied filters, pages and numbers, and p50/p95 are reported.

The console (``/console/...``) is measured when it is installed in the app
(signed in through ``POST /console/login``); without it, its API equivalents
are measured with staff tokens. The output says which. The audit-chain state
is read from its cache (``service.dashboard``); the check itself is run once
before measuring and its duration reported.

    cd /work/main && .venv/bin/python -m benchmarks.console [--db sqlite|postgresql|both]
        [--sizes 10000,100000] [--requests 200]

PostgreSQL: ``TEST_POSTGRES_URL`` (its maintenance database; default
postgresql://postgres@127.0.0.1:5432/test) or ``--pg-url``; skipped with a
message when it does not answer. Writes ``benchmarks/results/console.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import Engine, insert, text

from integrations.workorders.adapters.db import migrate
from integrations.workorders.adapters.orm import (
    Area,
    Attachment,
    Handler,
    OrderEvent,
    StaffUser,
    WorkOrder,
)
from integrations.workorders.api import create_app
from integrations.workorders.bootstrap import App, bootstrap
from integrations.workorders.domain.audit import GENESIS, event_digest
from integrations.workorders.domain.numbers import new_number
from integrations.workorders.service import CHINA_TZ, ServiceConfig, set_password
from integrations.workorders.service.dashboard import check_audit_chains
from integrations.workorders.service.handlers import NAME_CONTEXT
from integrations.workorders.service.staff import token_hash
from integrations.workorders.settings import load_settings
from tools.pg import temporary_database

from .machine import machine, percentile

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "console.json"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"

# ---------------------------------------------------------------- what is measured
# Each page: (who requests it, URL templates; several templates = one "page view"
# made of several requests, timed together). Placeholders are filled per request
# by ``Params`` (status, area, page, offset, number, period_from, period_to).
CONSOLE_PAGES: dict[str, tuple[str, list[str]]] = {
    "order list": ("dispatcher", ["/console/orders?{status_q}{area_q}limit=50&offset={offset}"]),
    "order page": ("dispatcher", ["/console/orders/{number}"]),
    "dashboard, month": ("supervisor", ["/console/dashboard?from={month_from}&to={month_to}"]),
    "dashboard, year": ("supervisor", ["/console/dashboard?from={year_from}&to={year_to}"]),
    "todo (待办)": ("dispatcher", ["/console/todo"]),
}
API_PAGES: dict[str, tuple[str, list[str]]] = {
    "order list": ("dispatcher",
                   ["/api/v1/orders?{status_q}{area_q}limit=50&offset={offset}"]),
    "order page": ("dispatcher", ["/api/v1/orders/{number}", "/api/v1/orders/{number}/history"]),
    "dashboard, month": ("supervisor",
                         ["/api/v1/metrics/dashboard?from={month_from}&to={month_to}"]),
    "dashboard, year": ("supervisor",
                        ["/api/v1/metrics/dashboard?from={year_from}&to={year_to}"]),
    "todo (待办)": ("dispatcher", ["/api/v1/worklist"]),
}
#: p95 targets (ms) at the largest size on PostgreSQL.
TARGETS_MS = {"order list": 150, "order page": 150, "dashboard, month": 1000,
              "dashboard, year": 1000,
              # not the issue's: the project's own bound for the inbox's first load
              # (it then polls a version probe, answered 204 while nothing changed)
              "todo (待办)": 500}
TARGET_AT = {"db": "postgresql", "orders": 100_000}
#: Requests per page relative to ``--requests`` (the dashboards are heavier).
SHARE = {"order list": 1.0, "order page": 1.0, "dashboard, month": 0.5, "dashboard, year": 0.25,
         "todo (待办)": 0.5}

# ------------------------------------------------------------------------ the world
TOWNSHIPS = 3
GRIDS_PER_TOWNSHIP = 4
DAYS = 365
PASSWORD = "bench-password-0123"  # noqa: S105 (a throw-away database's accounts)
TOKENS = {"dispatcher": "bench-dispatcher-token-0123456789",
          "supervisor": "bench-supervisor-token-0123456789"}
REASONS = ["还是漏水，没有修好", "处理太慢了", "没有人联系我", "问题又出现了", "态度不好"]
PLACES = ["幸福里小区", "和平街", "建设路", "人民广场", "东风村", "向阳小区", "滨河路"]
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


@dataclass
class Result:
    db: str
    orders: int
    page: str
    measured: str  # "console" or "api"
    requests: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    errors: int
    target_p95_ms: int


@dataclass
class Seeded:
    db: str
    orders: int
    events: int
    generate_seconds: float
    seed_seconds: float
    audit_check_seconds: float
    audit_ok: bool


def fast_digest(prev: str, number: str, seq: int, action: str, actor: str, at: datetime,
                from_status: str | None, to_status: str, note: str | None) -> str:
    """``domain.audit.event_digest`` of these fields, without its generic checks (a test
    in the seeder compares the two on the first events)."""
    body = json.dumps(
        {"action": action, "actor": actor,
         "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
         "from_status": from_status, "note": note, "order_number": number, "seq": seq,
         "to_status": to_status},
        ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev + body).encode("utf-8")).hexdigest()


def grids() -> list[str]:
    return [f"grid:t{t}-g{g}" for t in range(TOWNSHIPS) for g in range(GRIDS_PER_TOWNSHIP)]


@contextmanager
def fresh_database(kind: str, pg_url: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-console-") as directory:
            yield f"sqlite:///{Path(directory) / 'workorders.db'}"
        return
    with temporary_database(pg_url, "bench_console") as url:
        yield url


def pg_available(url: str) -> str | None:
    """None if the server answers, else why not."""
    try:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1),
                             connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


# --------------------------------------------------------------------------- seeding


class Seeder:
    """Rows for ``n`` orders over the last ``DAYS`` days before ``now``, inserted in bulk."""

    def __init__(self, config: ServiceConfig, n: int, now: datetime,
                 rng: random.Random) -> None:
        self.config, self.n, self.now, self.rng = config, n, now, rng
        self.taxonomy = config.taxonomy
        self.event_id = 0
        self.events: list[dict[str, Any]] = []
        self.attachments: list[dict[str, Any]] = []
        self.numbers_by_area: dict[str, list[str]] = {}

    # ---- areas, handlers, staff

    def people(self) -> dict[tuple[str, str], list[int]]:
        """Areas, handlers (by (area, role)) and the bench's staff accounts, as rows."""
        vault = self.config.vault
        areas = [{"code": "county:bench", "name": "基准县", "tier": "county",
                  "parent_code": None, "fallback": False}]
        for t in range(TOWNSHIPS):
            areas.append({"code": f"township:t{t}", "name": f"第{t + 1}镇", "tier": "township",
                          "parent_code": "county:bench", "fallback": False})
            for g in range(GRIDS_PER_TOWNSHIP):
                areas.append({"code": f"grid:t{t}-g{g}", "name": f"第{t + 1}镇{g + 1}网格",
                              "tier": "grid", "parent_code": f"township:t{t}",
                              "fallback": False})
        handlers, by_area_role = [], {}
        roles = dict(self.taxonomy.kinds)  # kind -> role
        places = [(g, "grid") for g in grids()]
        places += [(f"township:t{t}", "township") for t in range(TOWNSHIPS)]
        places += [("county:bench", "county")]
        for area, tier in places:
            for kind, role in roles.items():
                skills = [c.code for c in self.taxonomy.categories.values() if c.kind == kind]
                for i in range(2 if tier == "grid" else 1):
                    hid = len(handlers) + 1
                    handlers.append({
                        "id": hid, "name_enc": vault.encrypt(f"{role}{hid}", NAME_CONTEXT),
                        "phone_enc": None, "phone_hash": None, "role": role, "skills": skills,
                        "areas": [area], "tier": tier, "capacity": 10_000, "on_duty": True,
                        "is_supervisor": i == 0 and tier != "grid", "telegram_chat_id": None,
                        "created_at": self.now - timedelta(days=DAYS + 1),
                        "last_assigned_at": None, "version": 1,
                    })
                    by_area_role.setdefault((area, role), []).append(hid)
        staff = [
            {"username": "bench-dispatcher", "role": "dispatcher", "areas": ["township:t0"],
             "token_hash": token_hash(TOKENS["dispatcher"])},
            {"username": "bench-supervisor", "role": "supervisor", "areas": [],
             "token_hash": token_hash(TOKENS["supervisor"])},
        ]
        self.people_rows = (areas, handlers, [
            {**s, "handler_id": None, "password_hash": None, "telegram_chat_id": None,
             "created_at": self.now - timedelta(days=DAYS + 1), "active": True}
            for s in staff])
        return by_area_role

    # ---- orders and their events

    def event(self, order: dict[str, Any], action: str, actor: str, at: datetime,
              to_status: str, note: str | None = None, handler_id: int | None = None) -> None:
        seq = order["event_seq"] + 1
        prev = order["head_hash"]
        from_status = order["status"] if seq > 1 else None
        digest = fast_digest(prev, order["number"], seq, action, actor, at, from_status,
                             to_status, note)
        if self.event_id < 50:  # the shortcut is the real digest
            assert digest == event_digest(prev, {
                "order_number": order["number"], "seq": seq, "action": action, "actor": actor,
                "at": at, "from_status": from_status, "to_status": to_status, "note": note})
        self.event_id += 1
        self.events.append({
            "id": self.event_id, "order_id": order["id"], "seq": seq, "action": action,
            "actor": actor, "at": at, "from_status": from_status,
            "to_status": to_status, "note": note, "handler_id": handler_id, "hash": digest,
            "prev_hash": prev,
        })
        order.update(event_seq=seq, head_hash=digest, status=to_status, updated_at=at)

    def orders(self, by_area_role: dict[tuple[str, str], list[int]]) -> Iterator[dict[str, Any]]:
        rng, tx, now = self.rng, self.taxonomy, self.now
        categories = list(tx.categories.values())
        weights = [5 if c.kind == "incident" else 3 if c.kind == "dispute" else 2
                   for c in categories]
        numbers: set[str] = set()
        created_times = sorted(now - timedelta(seconds=rng.uniform(60, DAYS * 86400))
                               for _ in range(self.n))
        for index, created in enumerate(created_times, start=1):
            category = rng.choices(categories, weights)[0]
            grid = rng.choice(grids())
            roll = rng.random()
            tier = "grid" if roll < 0.85 else "township" if roll < 0.97 else "county"
            area_for_tier = {"grid": grid, "township": "township:" + grid[5:].split("-")[0],
                             "county": "county:bench"}[tier]
            role = tx.kinds[category.kind]
            priority = "urgent" if rng.random() < 0.05 else "normal"
            limits = tx.deadlines(category.code, priority, created)
            number = new_number(rng)
            while number in numbers:
                number = new_number(rng)
            numbers.add(number)
            order: dict[str, Any] = {
                "id": index, "number": number, "kind": category.kind,
                "category": category.code, "priority": priority,
                "description": f"{category.name}：{rng.choice(PLACES)}附近需要处理，请尽快安排。",
                "location_text": f"{rng.choice(PLACES)}{rng.randint(1, 40)}号",
                "area_code": grid, "latitude": None, "longitude": None,
                "reporter_channel": "tg", "reporter_ref": f"tg:{rng.randint(1, 10**9)}",
                "reporter_contact_enc": None, "reporter_contact_hash": None,
                "anonymous": False, "client_ref": None, "assignee_id": None, "tier": tier,
                "status": "new", "accept_by": None, "resolve_by": limits.resolve_by,
                "breached": False, "overdue_notified_at": None, "accept_reminded_at": None,
                "resolve_reminded_at": None, "created_at": created, "updated_at": created,
                "first_assigned_at": None, "accepted_at": None, "resolved_at": None,
                "closed_at": None, "head_hash": GENESIS, "event_seq": 0, "satisfaction": None,
                "parent_id": None, "version": 1,
            }
            self.event(order, "create", "resident", created, "new")
            self.numbers_by_area.setdefault(grid, []).append(number)
            if rng.random() < 0.003:
                self.photo(order, created)
            self.lifecycle(order, by_area_role[(area_for_tier, role)], limits.accept_by)
            if order["status"] in ("new", "pending", "assigned", "accepted", "in_progress",
                                   "reopened") and now > order["resolve_by"]:
                order["breached"] = True
            yield order

    def photo(self, order: dict[str, Any], at: datetime) -> None:
        public_id = hashlib.sha256(order["number"].encode()).hexdigest()[:24]
        self.attachments.append({
            "public_id": public_id, "reporter_ref": order["reporter_ref"],
            "order_id": order["id"], "content_type": "image/png", "size": len(TINY_PNG),
            "sha256": hashlib.sha256(TINY_PNG + public_id.encode()).hexdigest(),
            "data": TINY_PNG, "created_at": at, "attached_at": at,
        })
        self.event(order, "attachment", "resident", at, order["status"], note=public_id)

    def lifecycle(self, order: dict[str, Any], handlers: list[int], accept_by: datetime) -> None:
        """Queue (1 %), dispatch, cancel (4 %), accept, co-report (2 %), stuck in progress
        (1.5 %), resolve, the answer;
        an unsatisfied order (8 %) is reopened, dispatched and handled once more. Steps
        that would fall after ``now`` are not taken: recent orders are still open."""
        rng, now = self.rng, self.now
        at = order["created_at"]
        accept_window = accept_by - order["created_at"]
        resolve_window = order["resolve_by"] - order["created_at"]

        def step(minutes: float) -> bool:
            nonlocal at
            nxt = at + timedelta(minutes=minutes)
            if nxt >= now:
                return False
            at = nxt
            return True

        if rng.random() < 0.01:
            self.event(order, "queue", "system", at, "pending")
            if not step(rng.uniform(10, 48 * 60)):
                return
        for round_ in range(2):
            if not step(rng.uniform(0, 3)):
                return
            handler = rng.choice(handlers)
            order.update(assignee_id=handler, accept_by=at + accept_window)
            order["first_assigned_at"] = order["first_assigned_at"] or at
            self.event(order, "dispatch", "system", at, "assigned",
                       note=f"派给处理人员{handler}", handler_id=handler)
            if round_ == 0 and rng.random() < 0.04:
                if step(rng.uniform(10, 600)):
                    self.event(order, "cancel", "resident", at, "cancelled")
                return
            if not step(rng.expovariate(1 / 40)):
                return
            order["accepted_at"] = at
            self.event(order, "accept", f"handler:{handler}", at, "accepted",
                       handler_id=handler)
            if rng.random() < 0.02 and step(rng.uniform(30, 600)):
                self.event(order, "report", "co-reporter", at, order["status"],
                           note="我也看到这个问题了，希望尽快处理。")
            if rng.random() < 0.015:  # stuck: in progress for good (the old backlog)
                if step(rng.uniform(60, 24 * 60)):
                    self.event(order, "progress", f"handler:{handler}", at, "in_progress",
                               note="已联系相关部门，等待处理。", handler_id=handler)
                return
            if not step(rng.expovariate(1 / (resolve_window.total_seconds() / 60 * 0.45))):
                return
            order["resolved_at"] = at
            if at > order["resolve_by"]:
                order["breached"] = True
            self.event(order, "resolve", f"handler:{handler}", at, "resolved",
                       note="已到现场处理完毕。", handler_id=handler)
            if not step(rng.uniform(60, 72 * 60)):
                return
            answer = rng.choices(["satisfied", "basically_satisfied", "unsatisfied", None],
                                 [60, 20, 8 if round_ == 0 else 0, 12])[0]
            order["satisfaction"] = answer
            if answer == "unsatisfied":
                reason = rng.choice(REASONS) if rng.random() < 0.7 else None
                order.update(accepted_at=None, resolved_at=None, assignee_id=None,
                             accept_by=None, resolve_by=at + resolve_window)
                self.event(order, "unsatisfied", "resident", at, "reopened",
                           note="不满意" + (f"：{reason}" if reason else ""))
                continue
            order["closed_at"] = at
            if answer is None:
                self.event(order, "no_answer", "system", at, "closed")
            else:
                self.event(order, "satisfied", "resident", at, "closed",
                           note={"satisfied": "满意", "basically_satisfied": "基本满意"}[answer])
            if step(30 * 24 * 60):
                self.event(order, "archive", "system", at, "archived")
            return


@dataclass
class World:
    """The generated rows of one size, inserted into each database in turn."""

    seeder: Seeder
    orders: list[dict[str, Any]]
    events: list[dict[str, Any]]
    generate_seconds: float


def generate(config: ServiceConfig, n: int, now: datetime) -> World:
    started = time.perf_counter()
    seeder = Seeder(config, n, now, random.Random(n))
    by_area_role = seeder.people()
    orders = list(seeder.orders(by_area_role))
    return World(seeder, orders, seeder.events, time.perf_counter() - started)


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):  # as SQLAlchemy stores UTCDateTime on SQLite
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    if isinstance(value, bool):
        return int(value)
    return value


def bulk_insert(engine: Engine, table: Any, rows: list[dict[str, Any]]) -> None:
    """Rows into ``table`` fast: COPY on PostgreSQL, one executemany on SQLite (the
    column types' conversions done here, as ``UTCDateTime`` does them)."""
    if not rows:
        return
    columns = list(rows[0])
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "postgresql":
            names = ", ".join(columns)
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row([row[c] for c in columns])
        else:
            cursor.execute("PRAGMA cache_size=-262144")  # 256 MiB: indexes updated in memory
            cursor.execute("BEGIN")
            marks = ", ".join("?" for _ in columns)
            cursor.executemany(
                f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})",
                ([_sqlite_value(row[c]) for c in columns] for row in rows))
            cursor.execute("COMMIT")
            cursor.execute("PRAGMA cache_size=-2000")  # back to SQLite's default
        raw.commit()
    finally:
        raw.close()


def seed(app: App, world: World) -> float:
    """The world's rows into ``app``'s database; the seconds it took."""
    started = time.perf_counter()
    engine = app.engine
    areas, handlers, staff = world.seeder.people_rows
    with engine.begin() as conn:
        for area in areas:  # parents first
            conn.execute(insert(Area), [area])
        conn.execute(insert(Handler), handlers)
        conn.execute(insert(StaffUser), staff)
    for user in staff:
        set_password(app.uow(), user["username"], PASSWORD)
    bulk_insert(engine, WorkOrder.__table__, world.orders)
    bulk_insert(engine, OrderEvent.__table__, world.events)
    with engine.begin() as conn:
        conn.execute(insert(Attachment), world.seeder.attachments)
        if engine.dialect.name == "postgresql":
            for table in ("work_orders", "order_events"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))
        conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


# ------------------------------------------------------------------------ measuring


class Params:
    """Varied placeholders of the URL templates."""

    STATUSES = ["", "assigned", "accepted", "pending", "closed", "reopened"]

    def __init__(self, seeder: Seeder, rng: random.Random) -> None:
        self.rng = rng
        self.now = seeder.now
        mine = [g for g in grids() if g.startswith("grid:t0-")]
        self.areas = mine
        self.numbers = [n for g in mine for n in seeder.numbers_by_area.get(g, [])]

    def __call__(self) -> dict[str, str]:
        rng = self.rng
        today = self.now.astimezone(CHINA_TZ).date()
        status = rng.choice(self.STATUSES)
        area = rng.choice(self.areas) if rng.random() < 0.3 else ""
        page = rng.choice([1, 1, 1, 2, 3, 5, 10])
        month = rng.randrange(12)
        first = (today.replace(day=1) - timedelta(days=31 * month)).replace(day=1)
        nxt = (first + timedelta(days=32)).replace(day=1)
        year_end = today - timedelta(days=rng.randrange(30))
        return {
            "status_q": f"status={status}&" if status else "",
            "area_q": f"area={area}&" if area else "",
            "page": str(page), "offset": str((page - 1) * 50),
            "number": rng.choice(self.numbers),
            "month_from": first.isoformat(), "month_to": nxt.isoformat(),
            "year_from": (year_end - timedelta(days=365)).isoformat(),
            "year_to": (year_end + timedelta(days=1)).isoformat(),
        }


async def console_client(app: Any, username: str) -> httpx.AsyncClient | None:
    """A client signed in to the console, None if signing in failed."""
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench",
                               follow_redirects=False, timeout=60)
    form = await client.get("/console/login")
    found = re.search(r'name="csrf_token"\s+value="([^"]+)"', form.text) or re.search(
        r'value="([^"]+)"\s+name="csrf_token"', form.text)
    response = await client.post("/console/login", data={
        "username": username, "password": PASSWORD,
        "csrf_token": found.group(1) if found else ""})
    if response.status_code not in (302, 303) or "wb_session" not in client.cookies:
        print(f"  console sign-in as {username} failed ({response.status_code}); "
              "measuring the API instead", flush=True)
        await client.aclose()
        return None
    return client


def api_client(app: Any, who: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench",
                             headers={"Authorization": f"Bearer {TOKENS[who]}"}, timeout=60)


async def measure_all(app: Any, db: str, n: int, seeder: Seeder, requests: int,
                      warmup: int) -> list[Result]:
    # each page: the console's when it is served and signing in works, else the API's
    pages: dict[str, tuple[str, str, list[str]]] = {}
    consoles: dict[str, httpx.AsyncClient | None] = {}
    apis = {who: api_client(app, who) for who in TOKENS}
    clients: dict[str, httpx.AsyncClient] = {}
    # the console is measured when the app serves it (asked over ASGI: FastAPI keeps
    # included routers nested, so ``app.routes`` does not list its pages)
    probe = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
    console_served = (await probe.get("/console/login")).status_code == 200
    await probe.aclose()
    for name, (who, templates) in CONSOLE_PAGES.items():
        if console_served:
            if who not in consoles:
                consoles[who] = await console_client(app, f"bench-{who}")
            signed = consoles[who]
            if signed is not None:
                clients[f"console:{who}"] = signed
                pages[name] = ("console", f"console:{who}", templates)
                continue
        api_who, api_templates = API_PAGES[name]
        clients[f"api:{api_who}"] = apis[api_who]
        pages[name] = ("api", f"api:{api_who}", api_templates)
    print("  measuring: " + ", ".join(f"{name} ({where})" for name, (where, _, _)
                                      in pages.items()), flush=True)
    params = Params(seeder, random.Random(7))
    results = []
    try:
        for name, (measured, key, templates) in pages.items():
            client = clients[key]
            count = max(10, int(requests * SHARE[name]))
            times: list[float] = []
            errors = 0
            for i in range(warmup + count):
                values = params()
                started = time.perf_counter()
                for template in templates:
                    response = await client.get(template.format(**values))
                    if response.status_code != 200:
                        errors += 1
                        if errors <= 3:
                            print(f"  {name}: {response.status_code} for "
                                  f"{template.format(**values)}: {response.text[:200]}")
                if i >= warmup:
                    times.append(time.perf_counter() - started)
            result = Result(
                db=db, orders=n, page=name, measured=measured, requests=count,
                p50_ms=round(percentile(times, 50) * 1000, 1),
                p95_ms=round(percentile(times, 95) * 1000, 1),
                max_ms=round(max(times) * 1000, 1), errors=errors,
                target_p95_ms=TARGETS_MS[name])
            print(row(result), flush=True)
            results.append(result)
    finally:
        for client in {*apis.values(), *(c for c in consoles.values() if c is not None)}:
            await client.aclose()
    return results


# --------------------------------------------------------------------------- report

HEAD = (f"{'db':<11}{'orders':>8}  {'page':<18}{'measured':<9}{'n':>5}{'p50 ms':>9}"
        f"{'p95 ms':>9}{'max ms':>9}{'errors':>7}{'target p95':>12}")


def row(r: Result) -> str:
    met = "" if not (r.db == TARGET_AT["db"] and r.orders == TARGET_AT["orders"]) else (
        " ok" if r.p95_ms <= r.target_p95_ms and not r.errors else " MISSED")
    return (f"{r.db:<11}{r.orders:>8}  {r.page:<18}{r.measured:<9}{r.requests:>5}"
            f"{r.p50_ms:>9.1f}{r.p95_ms:>9.1f}{r.max_ms:>9.1f}{r.errors:>7}"
            f"{'≤ ' + str(r.target_p95_ms):>12}{met}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--sizes", default="10000,100000", help="orders, comma-separated")
    parser.add_argument("--requests", type=int, default=200,
                        help="requests per list/order page (dashboards: a half, a quarter)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--pg-url", default=os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG_URL))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",")]
    return args


def run_one(kind: str, url: str, world: World, args: argparse.Namespace
            ) -> tuple[Seeded, list[Result]]:
    migrate(url)
    settings = load_settings(database_url=url)
    wiring = bootstrap(settings)
    n = len(world.orders)
    try:
        seed_seconds = seed(wiring, world)
        state = check_audit_chains(wiring.uow(), datetime.now(UTC))
        seeded = Seeded(db=kind, orders=n, events=len(world.events),
                        generate_seconds=round(world.generate_seconds, 1),
                        seed_seconds=round(seed_seconds, 1),
                        audit_check_seconds=state.seconds, audit_ok=state.ok)
        print(f"{kind}: {n} orders, {len(world.events)} events inserted in "
              f"{seed_seconds:.1f} s (generated in {world.generate_seconds:.1f} s); "
              f"audit-chain check {state.seconds:.1f} s ({'intact' if state.ok else 'BROKEN'})",
              flush=True)
        app = create_app(settings, app_state=wiring)
        results = asyncio.run(measure_all(app, kind, n, world.seeder, args.requests,
                                          args.warmup))
    finally:
        wiring.dispose()
    return seeded, results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    if "postgresql" in kinds:
        why = pg_available(args.pg_url)
        if why is not None:
            print(f"PostgreSQL not reachable at {args.pg_url} ({why}): skipping it "
                  "(start it, or set TEST_POSTGRES_URL)")
            kinds.remove("postgresql")
    info = machine()
    load_before = os.getloadavg()
    print(f"machine: {info['cores']} cores, {info['cpu']}, {info['memory_gb']} GB; "
          f"load average {load_before[0]:.1f} (other work on the machine slows every number)")
    started = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    seeded: list[Seeded] = []
    results: list[Result] = []
    print(HEAD)
    config = ServiceConfig.from_settings(load_settings())
    for n in args.sizes:
        world = generate(config, n, now)
        for kind in kinds:
            with fresh_database(kind, args.pg_url) as url:
                one, measured = run_one(kind, url, world, args)
                seeded.append(one)
                results.extend(measured)
    print()
    print(HEAD)
    print("-" * len(HEAD))
    for r in results:
        print(row(r))
    for s in seeded:
        print(f"{s.db} {s.orders}: generated in {s.generate_seconds} s, inserted in "
              f"{s.seed_seconds} s ({s.events} events), "
              f"audit-chain check {s.audit_check_seconds} s (cached for the dashboard)")
    at = [r for r in results if r.db == TARGET_AT["db"] and r.orders == TARGET_AT["orders"]]
    verdict = {"measured": bool(at),
               "met": bool(at) and all(r.p95_ms <= r.target_p95_ms and not r.errors for r in at)}
    print(f"targets (p95 at {TARGET_AT['orders']} orders on {TARGET_AT['db']}): "
          f"{TARGETS_MS} -> {verdict}")
    document = {
        "benchmark": "console",
        "what": "server time of the staff pages, in-process (httpx.ASGITransport against "
                "create_app), one request at a time; console pages when installed, else their "
                "API equivalents",
        "machine": info,
        "load_average": {"before": [round(x, 1) for x in load_before],
                         "after": [round(x, 1) for x in os.getloadavg()]},
        "config": {"sizes": args.sizes, "requests": args.requests, "warmup": args.warmup,
                   "days": DAYS, "grids": len(grids()),
                   "pages": {"console": CONSOLE_PAGES, "api": API_PAGES}},
        "targets_p95_ms": TARGETS_MS, "target_at": TARGET_AT, "target_result": verdict,
        "seeded": [asdict(s) for s in seeded],
        "results": [asdict(r) for r in results],
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n",
                        encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
