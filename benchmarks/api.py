"""HTTP API benchmark: orders created per second through a real server process.

For each database (a fresh SQLite file; a fresh PostgreSQL database, created
and dropped here) and each worker count, the API is started as a real server
(``python -m integrations.workorders.api``), the database is seeded with
areas and handlers of large capacity (so every order is dispatched, not
queued), and for each concurrency level N async clients post orders
(``POST /api/v1/orders`` with the actions token: validation, a real insert,
dispatch by workload, audit events, an outbox row, one transaction) for a
fixed time. The load generator runs in this process, on the same machine.

    cd /work/main && .venv/bin/python -m benchmarks.api [--db sqlite|postgresql|both]
        [--clients 1,8,32] [--seconds 10] [--workers 1,2]

The PostgreSQL server is the tests' one: ``TEST_POSTGRES_URL`` (its maintenance
database; default postgresql://postgres@127.0.0.1:5432/test) or ``--pg-url``.

Prints a table and writes ``benchmarks/results/api.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from integrations.workorders.adapters.db import migrate
from integrations.workorders.bootstrap import bootstrap
from integrations.workorders.service import HandlerCreate, add_area, create_handler
from integrations.workorders.settings import load_settings
from tools.pg import temporary_database

from .machine import machine, percentile

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "api.json"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
TOKEN = "bench-" + secrets.token_urlsafe(24)

TOWNSHIPS = 2
GRIDS_PER_TOWNSHIP = 4
HANDLERS_PER_GRID_AND_ROLE = 2
CAPACITY = 1000  # the most a handler may carry; far above what a run assigns
TARGET = {"db": "postgresql", "clients": 32, "orders_per_s": 150, "p95_ms": 100}


@dataclass
class Result:
    db: str
    workers: int
    clients: int
    offered_per_s: float | None  # None: closed loop
    seconds: float
    orders: int
    errors: int
    orders_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    dispatched: float
    server_cpu_percent: float | None
    client_cpu_percent: float
    db_cpu_percent: float | None
    machine_busy_percent: float
    statuses: dict[str, int]
    unsent: int


# ---------------------------------------------------------------- databases


@contextmanager
def fresh_database(kind: str, pg_url: str) -> Iterator[str]:
    """The URL of an empty database that is gone afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-api-") as directory:
            yield f"sqlite:///{Path(directory) / 'workorders.db'}"
        return
    with temporary_database(pg_url, "bench_api") as url:
        yield url


def grids() -> list[str]:
    return [f"grid:t{t}-g{g}" for t in range(TOWNSHIPS) for g in range(GRIDS_PER_TOWNSHIP)]


def seed(url: str) -> None:
    """Migrate, then areas (county > townships > grids) and grid-tier handlers of every skill."""
    migrate(url)
    app = bootstrap(load_settings(database_url=url))
    try:
        taxonomy = app.config.taxonomy
        now = datetime.now(UTC)
        add_area(app.uow(), "county:bench", "基准县", "county")
        for t in range(TOWNSHIPS):
            add_area(app.uow(), f"township:t{t}", f"第{t + 1}镇", "township", "county:bench")
            for g in range(GRIDS_PER_TOWNSHIP):
                add_area(app.uow(), f"grid:t{t}-g{g}", f"第{t + 1}镇{g + 1}网格", "grid",
                         f"township:t{t}")
        for grid in grids():
            for kind, role in taxonomy.kinds.items():
                skills = [c.code for c in taxonomy.categories.values() if c.kind == kind]
                for i in range(HANDLERS_PER_GRID_AND_ROLE):
                    create_handler(app.uow(), HandlerCreate(
                        name=f"{role}{i}", role=role, tier=taxonomy.tiers[0], skills=skills,
                        areas=[grid], capacity=CAPACITY,
                    ), now)
    finally:
        app.dispose()


# ------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(url: str, workers: int, log_path: Path, extra_env: dict[str, str]
           ) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKORDERS_")}
    env.update(PYTHONPATH=str(ROOT), WORKORDERS_DATABASE_URL=url, WORKORDERS_ACTIONS_TOKEN=TOKEN,
               **extra_env)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "integrations.workorders.api", "--port", str(port),
             "--workers", str(workers)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited ({process.returncode}); see {log_path}")
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start; see {log_path}")
            time.sleep(0.2)
        time.sleep(0.5 if workers == 1 else 2.0)  # let every worker finish starting
        yield base, process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def machine_cpu() -> tuple[float, float]:
    """``(busy, total)`` CPU seconds of the whole machine so far (``/proc/stat``)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / tick, sum(fields[:8]) / tick


def named_cpu_seconds(name: str) -> float:
    """CPU seconds of every process called ``name`` (e.g. the PostgreSQL backends)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != name:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def process_tree_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` and its children (Linux ``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, found = 0.0, False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ppid, utime, stime = int(fields[1]), int(fields[11]), int(fields[12])
        if int(entry.name) == pid or ppid == pid:
            total += (utime + stime) / tick
            found = True
    return total if found else None


# --------------------------------------------------------------------- load


def order_body(rng: random.Random, seq: int) -> dict[str, object]:
    kind = rng.choice(["dispute", "incident"])
    category = rng.choice({
        "dispute": ["dispute.neighbor", "dispute.property", "dispute.family"],
        "incident": ["incident.facility", "incident.water", "incident.sanitation"],
    }[kind])
    return {
        "category": category,
        "description": f"基准测试第{seq}条反映：楼道灯不亮，晚上出入很不方便。",
        "location_text": f"幸福里小区{rng.randint(1, 30)}号楼",
        "area_code": rng.choice(grids()),
        "reporter_ref": f"tg:{rng.randint(1, 10**9)}",
    }


async def run_level(base: str, clients: int, seconds: float, warmup: float, seed_: int,
                    rate: float | None = None) -> tuple[list[float], Counter[str], int, int]:
    """``(latencies of successes in s, status counts, dispatched, unsent)`` of one level.

    Closed loop (``rate`` None): each of ``clients`` sends its next order as
    soon as the last one is answered. Open loop: orders are due at ``rate``
    per second, sent over at most ``clients`` connections; latency counts
    from when an order was due, so waiting for a free connection counts too,
    and orders still waiting at the end are reported as ``unsent``.
    """
    rng = random.Random(seed_)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    dispatched = 0
    counter = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=base, limits=limits, headers=headers,
                                 timeout=60) as client:
        loop = asyncio.get_running_loop()
        start = loop.time()
        measure_from, stop_at = start + warmup, start + warmup + seconds
        due: asyncio.Queue[float] = asyncio.Queue()
        if rate:
            for i in range(int((warmup + seconds) * rate)):
                due.put_nowait(start + i / rate)

        async def worker() -> None:
            nonlocal counter, dispatched
            while True:
                now = loop.time()
                if now >= stop_at:
                    return
                if rate:
                    if due.empty():
                        return
                    scheduled = due.get_nowait()
                    if scheduled > now:
                        await asyncio.sleep(scheduled - now)
                else:
                    scheduled = now
                counter += 1
                body = order_body(rng, counter)
                try:
                    response = await client.post("/api/v1/orders", json=body,
                                                 headers={"Idempotency-Key": uuid.uuid4().hex})
                    status = str(response.status_code)
                except httpx.HTTPError as exc:
                    response, status = None, type(exc).__name__
                done = loop.time()
                if scheduled < measure_from or (not rate and done > stop_at):
                    continue  # warm-up, or (closed loop) finished after the window
                statuses[status] += 1
                if response is not None and response.status_code == 201:
                    latencies.append(done - scheduled)
                    dispatched += response.json().get("status") == "assigned"

        await asyncio.gather(*(worker() for _ in range(clients)))
        unsent = sum(1 for t in _drain(due) if measure_from <= t < stop_at)
    return latencies, statuses, dispatched, unsent


def _drain(queue: asyncio.Queue[float]) -> Iterator[float]:
    while not queue.empty():
        yield queue.get_nowait()


def measure(db: str, workers: int, clients: int, base: str, pid: int, seconds: float,
            warmup: float, rate: float | None = None) -> Result:
    cpu_before, wall_before = process_tree_cpu_seconds(pid), time.monotonic()
    client_before = time.process_time()
    db_before, (busy_before, total_before) = named_cpu_seconds("postgres"), machine_cpu()
    latencies, statuses, dispatched, unsent = asyncio.run(
        run_level(base, clients, seconds, warmup, seed_=clients * 7 + workers, rate=rate)
    )
    window = seconds
    cpu_after, wall_after = process_tree_cpu_seconds(pid), time.monotonic()
    wall = wall_after - wall_before
    client_cpu = round(100 * (time.process_time() - client_before) / wall, 1)
    db_cpu = round(100 * (named_cpu_seconds("postgres") - db_before) / wall, 1)
    busy_after, total_after = machine_cpu()
    busy = round(100 * (busy_after - busy_before) / (total_after - total_before), 1)
    cpu = None
    if cpu_before is not None and cpu_after is not None:
        cpu = round(100 * (cpu_after - cpu_before) / (wall_after - wall_before), 1)
    ok = len(latencies)

    def ms(q: float) -> float | None:
        return round(percentile(latencies, q) * 1000, 1) if latencies else None

    return Result(
        db=db, workers=workers, clients=clients, offered_per_s=rate, seconds=window, orders=ok,
        errors=sum(statuses.values()) - ok, orders_per_s=round(ok / window, 1),
        p50_ms=ms(50), p95_ms=ms(95), p99_ms=ms(99),
        max_ms=round(max(latencies) * 1000, 1) if latencies else None,
        dispatched=round(dispatched / ok, 3) if ok else 0.0, server_cpu_percent=cpu,
        client_cpu_percent=client_cpu, db_cpu_percent=db_cpu if db == "postgresql" else None,
        machine_busy_percent=busy,
        statuses=dict(statuses), unsent=unsent,
    )


# ------------------------------------------------------------------- report


def table(results: Sequence[Result]) -> str:
    head = (f"{'db':<11}{'workers':>8}{'clients':>8}{'load':>8}{'orders':>8}{'orders/s':>10}"
            f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
            f"{'srv CPU%':>10}{'cli CPU%':>10}{'db CPU%':>9}{'machine%':>10}")
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.db:<11}{r.workers:>8}{r.clients:>8}"
            f"{'closed' if r.offered_per_s is None else f'{r.offered_per_s:g}/s':>8}"
            f"{r.orders:>8}{r.orders_per_s:>10.1f}"
            f"{r.p50_ms or 0:>9.1f}{r.p95_ms or 0:>9.1f}{r.p99_ms or 0:>9.1f}{r.errors:>8}"
            f"{(r.server_cpu_percent or 0):>10.1f}{r.client_cpu_percent:>10.1f}"
            f"{(r.db_cpu_percent or 0):>9.1f}{r.machine_busy_percent:>10.1f}"
        )
    return "\n".join(lines)


def target_met(results: Sequence[Result]) -> dict[str, object]:
    """Whether any run at the target's database and concurrency met the target.

    With 32 closed-loop clients the mean latency is 32 / throughput (Little's
    law): p95 under 100 ms there needs more than 320 orders/s. The open-loop
    levels show the latency at a given arrival rate instead.
    """
    at = [r for r in results if r.db == TARGET["db"] and r.clients == TARGET["clients"]]
    if not at:
        return {"measured": False}

    def brief(r: Result) -> dict[str, object]:
        return {"workers": r.workers, "offered_per_s": r.offered_per_s,
                "orders_per_s": r.orders_per_s, "p95_ms": r.p95_ms}

    closed = [r for r in at if r.offered_per_s is None]
    passing = [r for r in at if r.orders_per_s >= TARGET["orders_per_s"]
               and r.p95_ms is not None and r.p95_ms < TARGET["p95_ms"]]
    return {
        "measured": True,
        "met": bool(passing),
        "best_closed_loop": brief(max(closed, key=lambda r: r.orders_per_s)) if closed else None,
        "open_loop": [brief(r) for r in at if r.offered_per_s is not None],
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--clients", default="1,8,32", help="concurrency levels, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per level")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds per level")
    parser.add_argument("--workers", default="1,2", help="server worker counts, comma-separated")
    parser.add_argument("--rates", default="50,150",
                        help="open-loop levels: orders/s offered over max(--clients) connections "
                        "(comma-separated; empty for none)")
    parser.add_argument("--pg-url", default=os.environ.get("TEST_POSTGRES_URL",
                                                           DEFAULT_PG_URL),
                        help="PostgreSQL maintenance database (bench databases are made there)")
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra setting for the server, e.g. WORKORDERS_DB_THREADS=4")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    args.server_env = dict(item.split("=", 1) for item in args.server_env)
    args.clients = [int(c) for c in args.clients.split(",")]
    args.workers = [int(w) for w in args.workers.split(",")]
    args.rates = [float(r) for r in args.rates.split(",") if r.strip()]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    log_path = Path(tempfile.gettempdir()) / "bench-api-server.log"
    log_path.unlink(missing_ok=True)
    started = time.perf_counter()
    results: list[Result] = []
    for kind in kinds:
        for workers in args.workers:
            with fresh_database(kind, args.pg_url) as url:
                seed(url)
                with server(url, workers, log_path, args.server_env) as (base, pid):
                    levels = [(c, None) for c in args.clients]
                    levels += [(max(args.clients), rate) for rate in args.rates]
                    for clients, rate in levels:
                        result = measure(kind, workers, clients, base, pid, args.seconds,
                                         args.warmup, rate)
                        results.append(result)
                        print(table([result]).splitlines()[-1], flush=True)
    print()
    print(table(results))
    verdict = target_met(results)
    print(f"\ntarget {TARGET}: {verdict}")
    document = {
        "benchmark": "api",
        "what": "POST /api/v1/orders (create + dispatch + audit + outbox) through a real "
                "uvicorn process; load generator on the same machine",
        "machine": machine(),
        "config": {
            "seconds": args.seconds, "warmup": args.warmup, "clients": args.clients,
            "workers": args.workers, "rates": args.rates, "server_env": args.server_env,
            "grids": len(grids()),
            "handlers": len(grids()) * 2 * HANDLERS_PER_GRID_AND_ROLE, "capacity": CAPACITY,
        },
        "target": TARGET,
        "target_result": verdict,
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
