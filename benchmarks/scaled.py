"""`make bench-scaled`: the scaled system under load, through the balancer.

Two parts, each optional (``--part dialogue|api|both``):

dialogue
    The scripted conversations of `make bench-dialogue` (benchmarks/dialogue.py:
    its Replayer and run_phase, by import) through haproxy in front of Rasa,
    on the scaled stack (tools/scaled_stack.py: PostgreSQL, Redis, RabbitMQ,
    every process doubled). For 8, 16 and 32 concurrent residents, each with
    2 and 1 Rasa instance(s) one right after the other (order alternating, so
    both see the same load from elsewhere; `rasa-2` is killed until haproxy
    has it DOWN, and started again): conversations/s, turn p50/p95, and the
    CPU seconds per process kind (rasa, actions, api, balancer, ...) and of
    the stack's PostgreSQL backends in each phase.

api
    ``POST /api/v1/orders`` (create + dispatch + audit + outbox in one
    transaction, as benchmarks/api.py) at 32 connections through haproxy in
    front of 1 and 2 API processes (one uvicorn worker each; each count
    ``--rounds`` times, order 1,2,2,1) on a fresh PostgreSQL database
    (tools/pg.py, migrated and seeded by benchmarks/api.py).
    The load generator is `wrk` (a compiled tool, `make bench-deps`) driven by
    a generated Lua script that gives every request its own Idempotency-Key
    and body. The CPU of every party is measured (API processes, PostgreSQL
    backends of the database, haproxy, wrk, the rest of the machine), and with
    it the ratio 2 processes / 1 process the cores allow
    (``ratio_bound``): on 2 cores the generator and PostgreSQL share them.

Every run notes the cores it had (``os.sched_getaffinity``) and the load
average, since other work may share the machine.

    .venv/bin/python -m benchmarks.scaled [--part both] [--quick]
        [--residents 8,16,32] [--turns 300] [--seconds 20] [--clients 32]
    .venv/bin/python -m benchmarks.scaled --plan   # docs/scaling.md's capacity plan

QUICK=1 (``--quick``): a smoke run (4 residents, one replay each; 3 s of wrk).
Prints a table and writes benchmarks/results/scaled.json (one part run
again keeps the other part's figures).
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from benchmarks.machine import machine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_OUT = RESULTS / "scaled.json"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGETS = {"turn_p95_ms_16_residents_2_rasa": 1000.0, "orders_per_s_ratio_2_to_1_api": 1.6}
WRK_MARK = "WRK_JSON "  # the line the generated script's done() prints


# ------------------------------------------------------------------ machine


def cores_available() -> int:
    """CPUs this process may run on (affinity, cgroup-free count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def cpu_seconds_by_pid(pids: Sequence[int]) -> dict[int, float]:
    """User + system CPU seconds so far of each live pid (/proc/<pid>/stat)."""
    tick = clock_ticks()
    found: dict[int, float] = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / tick
    return found


def pids_matching(pattern: str) -> list[int]:
    """Processes whose command line contains `pattern` (e.g. a PostgreSQL database name)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if pattern in cmdline:
            found.append(int(entry.name))
    return found


def pids_named(name: str) -> list[int]:
    """Processes whose comm is `name` (every PostgreSQL process is called postgres)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() == name:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    tick = clock_ticks()
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / tick, sum(fields) / tick


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two snapshots; a pid born in between counts from zero."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


class CpuMeter:
    """CPU seconds of named groups of processes over a window, and the machine's.

    `groups` maps a name to a function giving the group's pids now (asked at
    the start and at the end; processes born in between count from zero,
    processes gone before the end are not counted).
    """

    def __init__(self, groups: dict[str, object]) -> None:
        self.groups = groups
        self.before: dict[str, dict[int, float]] = {}
        self.machine_before = (0.0, 0.0)
        self.wall_before = 0.0

    def start(self) -> None:
        self.before = {name: cpu_seconds_by_pid(pids()) for name, pids in self.groups.items()}  # type: ignore[operator]
        self.machine_before = machine_cpu_seconds()
        self.wall_before = time.monotonic()

    def stop(self) -> dict:
        wall = time.monotonic() - self.wall_before
        seconds = {name: round(cpu_delta(self.before[name], cpu_seconds_by_pid(pids())), 2)  # type: ignore[operator]
                   for name, pids in self.groups.items()}
        busy, total = machine_cpu_seconds()
        machine_busy_s = busy - self.machine_before[0]
        machine_total_s = total - self.machine_before[1]
        return {
            "wall_s": round(wall, 2),
            "cpu_seconds": seconds,
            "machine_busy_cpu_seconds": round(machine_busy_s, 2),
            "machine_busy_percent": round(100 * machine_busy_s / max(1e-9, machine_total_s), 1),
            "other_cpu_seconds": round(max(0.0, machine_busy_s - sum(seconds.values())), 2),
        }


# -------------------------------------------------------- capacity arithmetic


def cpu_ms_per_unit(cpu_seconds: dict[str, float], units: int) -> dict[str, float]:
    """CPU milliseconds each group spent per unit of work (an order, a conversation)."""
    if units <= 0:
        return {name: 0.0 for name in cpu_seconds}
    return {name: round(1000 * seconds / units, 2) for name, seconds in cpu_seconds.items()}


def ratio_bound(per_order_ms: dict[str, float], server: str, cores: float,
                processes: int = 2) -> float | None:
    """The highest orders/s ratio of `processes` server processes to one that `cores` allow.

    One process uses at most one core: at most 1000/per_order_ms[server]
    orders/s (the rest of an order's CPU, PostgreSQL's, the balancer's and the
    load generator's, fits on the other cores). N processes use at most N
    cores, and everything together at most `cores`: at most
    min(N*1000/server_ms, cores*1000/all_ms) orders/s, all parties' CPU per
    order added. The ratio is min(N, cores*server_ms/all_ms).
    """
    server_ms = per_order_ms.get(server, 0.0)
    all_ms = sum(per_order_ms.values())
    if server_ms <= 0 or all_ms <= 0:
        return None
    return round(min(float(processes), cores * server_ms / all_ms), 2)


def cores_for_ratio(per_order_ms: dict[str, float], server: str, ratio: float) -> float | None:
    """The cores (everything on one machine) at which `ratio_bound` reaches `ratio`."""
    server_ms = per_order_ms.get(server, 0.0)
    if server_ms <= 0:
        return None
    return round(ratio * sum(per_order_ms.values()) / server_ms, 2)


def capacity(rate_per_core: float, demand_per_s: float, headroom: float = 0.7) -> float:
    """Cores needed for `demand_per_s` at `rate_per_core`, each core loaded to `headroom`."""
    return demand_per_s / (rate_per_core * headroom)


# ------------------------------------------------------------ capacity plan

HOURS_PER_YEAR = 365 * 24


@dataclass(frozen=True)
class Rates:
    """What one core does, from the benchmarks (docs/scaling.md explains each)."""

    conversations_per_rasa_core_s: float
    orders_per_api_core_s: float
    postgres_ms_per_order: float
    calls_per_voice_core: float
    postgres_ms_per_conversation: float = 0.0  # Rasa's tracker store and the actions' reads


def capacity_plan(residents: int, requests_per_resident_year: float, rates: Rates, *,
                  peak_factor: float = 3.0, call_seconds: float = 288.0,
                  phone_share: float = 1.0, utilization: float = 0.7) -> dict:
    """Cores of each kind for `residents` at the peak hour (`peak_factor` x the mean hour).

    Every request is taken as one conversation that opens one order (an upper
    bound: consultations open none); a `phone_share` of them are calls of
    `call_seconds`, whose recognizers run at once (Little's law: calls at once
    = calls/s x seconds). Each core is loaded to `utilization` at the peak.
    """
    per_year = residents * requests_per_resident_year
    mean_per_hour = per_year / HOURS_PER_YEAR
    peak_per_s = mean_per_hour * peak_factor / 3600
    calls_at_once = peak_per_s * phone_share * call_seconds
    return {
        "residents": residents,
        "requests_per_year": round(per_year),
        "mean_per_hour": round(mean_per_hour, 1),
        "peak_per_hour": round(mean_per_hour * peak_factor, 1),
        "peak_per_s": round(peak_per_s, 3),
        "calls_at_once": round(calls_at_once, 1),
        "cores": {
            "rasa": round(capacity(rates.conversations_per_rasa_core_s, peak_per_s,
                                   utilization), 3),
            "api": round(capacity(rates.orders_per_api_core_s, peak_per_s, utilization), 3),
            "postgres": round(peak_per_s * (rates.postgres_ms_per_order
                                            + rates.postgres_ms_per_conversation)
                              / 1000 / utilization, 3),
            "voice": round(capacity(rates.calls_per_voice_core, calls_at_once, utilization), 2),
        },
    }


#: Published 12345 volumes (requests a year) and the residents they serve; sources in
#: docs/scaling.md. Beijing's hotline takes every channel of the city (接诉即办).
HOTLINES = {
    "beijing_2023": {"requests": 21_430_000, "residents": 21_858_000},
    "shanghai_2023": {"requests": 9_028_000, "residents": 24_758_900},
    "hengdong_2025q1": {"requests": 4 * 20_693, "residents": 565_400},  # calls, one quarter x 4
}


def requests_per_resident(name: str) -> float:
    hotline = HOTLINES[name]
    return hotline["requests"] / hotline["residents"]


def rates_from_results(scaled_result: dict, voice_result: dict) -> Rates:
    """The per-core rates of the capacity model from bench-scaled's and bench-voice's results."""
    api = scaled_result["api"]
    dialogue = scaled_result["dialogue"]
    per_rasa_core = (rasa_rate_per_core(dialogue["phases"]) if "phases" in dialogue
                     else dialogue["conversations_per_rasa_cpu_second"])
    return Rates(
        conversations_per_rasa_core_s=per_rasa_core or 0.0,
        orders_per_api_core_s=api["api_orders_per_core_s"],
        postgres_ms_per_order=api["cpu_ms_per_order"]["postgres_backends"],
        calls_per_voice_core=voice_result["calls_in_real_time"] / voice_result["machine"]["cores"],
        postgres_ms_per_conversation=postgres_ms_per_conversation(dialogue.get("phases", [])),
    )


def postgres_ms_per_conversation(phases: Sequence[dict]) -> float:
    """PostgreSQL CPU ms per conversation over the phases without HTTP errors (0.0: none)."""
    clean = [p for p in phases if not p["http_errors"]]
    conversations = sum(p["conversations"] for p in clean)
    seconds = sum(p["cpu"]["cpu_seconds"].get("postgres", 0.0) for p in clean)
    return round(1000 * seconds / conversations, 1) if conversations else 0.0


def print_plan(scaled_path: Path, voice_path: Path) -> None:
    rates = rates_from_results(json.loads(scaled_path.read_text()),
                               json.loads(voice_path.read_text()))
    print(rates)
    for hotline in ("beijing_2023", "shanghai_2023", "hengdong_2025q1"):
        rate = requests_per_resident(hotline)
        for residents in (500_000, 5_000_000):
            print(hotline, round(rate, 3), json.dumps(capacity_plan(residents, rate, rates)))


# ------------------------------------------------------------- wrk + its Lua


CATEGORIES = ["dispute.neighbor", "dispute.property", "dispute.family",
              "incident.facility", "incident.water", "incident.sanitation"]


def lua_string(value: str) -> str:
    """A Lua string literal (double quotes; backslash, quote and control bytes escaped)."""
    out = []
    for ch in value:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ord(ch) < 32:
            out.append(f"\\{ord(ch):03d}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def wrk_script(token: str, areas: Sequence[str], run_id: str,
               categories: Sequence[str] = CATEGORIES, path: str = "/api/v1/orders") -> str:
    """The wrk Lua script: POST an order per request, each with its own key and body.

    Every wrk thread gets a number in setup(); a request's Idempotency-Key is
    ``<run_id>-<thread>-<serial>``, unique in the run, and its body names the
    same serial (description, reporter). response() counts statuses per
    thread; done() prints one line ``WRK_JSON {...}`` (parse_wrk_output).
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]+", run_id):
        raise ValueError("run_id: letters, digits, - and _ only")
    lua_list = ", ".join(lua_string(a) for a in areas)
    lua_categories = ", ".join(lua_string(c) for c in categories)
    return f"""-- generated by benchmarks/scaled.py (wrk_script): one new order per request
local token = {lua_string(token)}
local run_id = {lua_string(run_id)}
local areas = {{{lua_list}}}
local categories = {{{lua_categories}}}
local threads = {{}}
local serial = 0
statuses = {{}}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_no", #threads)
end

function init(args)
  math.randomseed(thread_no * 7919)
end

function request()
  serial = serial + 1
  local ref = thread_no .. "-" .. serial
  local body = string.format(
    '{{"category":"%s","description":"基准测试%s号反映：楼道灯不亮，晚上出入很不方便。",'
    .. '"location_text":"幸福里小区%d号楼","area_code":"%s","reporter_ref":"tg:%d%07d"}}',
    categories[math.random(#categories)], ref, math.random(30), areas[math.random(#areas)],
    thread_no, serial)
  return wrk.format("POST", {lua_string(path)}, {{
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = run_id .. "-" .. ref,
  }}, body)
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {{}}
  for _, thread in ipairs(threads) do
    local mine = thread:get("statuses")
    for status, n in pairs(mine) do counts[status] = (counts[status] or 0) + n end
  end
  local parts = {{}}
  for status, n in pairs(counts) do
    table.insert(parts, string.format('"%s":%d', status, n))
  end
  local e = summary.errors
  io.write(string.format(
    '{WRK_MARK}{{"requests":%d,"duration_us":%d,"errors":{{"connect":%d,"read":%d,'
    .. '"write":%d,"status":%d,"timeout":%d}},"latency_us":{{"p50":%d,"p95":%d,"p99":%d,'
    .. '"max":%d,"mean":%.1f}},"statuses":{{%s}}}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    latency.mean, table.concat(parts, ",")))
end
"""


def parse_wrk_output(text: str) -> dict:
    """The figures the generated script printed (the line after WRK_MARK)."""
    for line in text.splitlines():
        if line.startswith(WRK_MARK):
            return json.loads(line[len(WRK_MARK):])
    raise ValueError("no WRK_JSON line in wrk's output:\n" + text[-2000:])


def haproxy_config(listen_port: int, servers: Sequence[int], name: str = "api",
                   health: str = "/health") -> str:
    """A minimal haproxy.cfg: one HTTP frontend, round robin over `servers` with health checks."""
    lines = [
        "global",
        "    maxconn 4096",
        "defaults",
        "    mode http",
        "    timeout connect 5s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    option redispatch",
        "    retries 2",
        f"frontend {name}",
        f"    bind 127.0.0.1:{listen_port}",
        f"    default_backend {name}_servers",
        f"backend {name}_servers",
        "    balance roundrobin",
        f"    option httpchk GET {health}",
        "    http-check expect status 200",
    ]
    lines += [f"    server {name}-{i} 127.0.0.1:{port} check inter 1s fall 2 rise 1"
              for i, port in enumerate(servers, 1)]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ api part


@dataclass
class ApiRun:
    processes: int
    clients: int
    threads: int
    seconds: float
    orders: int = 0
    orders_per_s: float = 0.0
    non_201: dict[str, int] = field(default_factory=dict)
    socket_errors: dict[str, int] = field(default_factory=dict)
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    cores: int = 0
    load_average_before: list[float] = field(default_factory=list)
    cpu: dict = field(default_factory=dict)
    cpu_ms_per_order: dict[str, float] = field(default_factory=dict)
    cpu_percent: dict[str, float] = field(default_factory=dict)  # 100 = one core


def wait_http(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer 200 in {timeout_s:.0f} s")
        time.sleep(0.2)


@contextmanager
def haproxy(cfg: str, var: Path) -> Iterator[int]:
    """haproxy -db with `cfg` (written to var/haproxy.cfg); yields its pid."""
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    path = var / "haproxy.cfg"
    path.write_text(cfg)
    with open(var / "haproxy.log", "ab") as log:
        process = subprocess.Popen([binary, "-db", "-f", str(path)], stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def run_wrk(url: str, script: Path, clients: int, threads: int, seconds: float
            ) -> tuple[dict, float]:
    """wrk's figures and the CPU seconds wrk itself used (its rusage)."""
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed: run `make bench-deps` (apt-get install wrk)")
    process = subprocess.Popen(
        [binary, f"-t{threads}", f"-c{clients}", f"-d{max(1, round(seconds))}s",
         "--timeout", "30s", "-s", str(script), url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    output = process.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"wrk exited with {process.returncode}:\n{output[-2000:]}")
    return parse_wrk_output(output), usage.ru_utime + usage.ru_stime


def api_part(args: argparse.Namespace, var: Path) -> dict:
    """Each process count in turn, `args.rounds` times (ABBA order against drifting load)."""
    runs: list[ApiRun] = []
    run_id = secrets.token_hex(4)
    order = list(args.api_processes)
    for round_no in range(args.rounds):
        for processes in (order if round_no % 2 == 0 else order[::-1]):
            run = api_run(args, var, processes, f"{run_id}r{round_no}p{processes}")
            runs.append(run)
            print(api_table([run]).splitlines()[-1], file=sys.stderr, flush=True)
    return summarize_api(runs, args)


def api_run(args: argparse.Namespace, var: Path, processes: int, run_id: str) -> ApiRun:
    """One wrk run against `processes` API processes behind haproxy on a fresh database."""
    from benchmarks.api import TOKEN, grids, seed, server
    from tools.pg import temporary_database
    from tools.stack import free_ports

    with temporary_database(args.pg_url, "bench_scaled") as url, ExitStack() as stack:
        db_name = url.rsplit("/", 1)[1]
        sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        seed(sa_url)
        servers = [stack.enter_context(server(sa_url, 1, var / "api-server.log", {}))
                   for _ in range(processes)]
        (listen,) = free_ports(1)
        ports = [int(base.rsplit(":", 1)[1]) for base, _ in servers]
        haproxy_pid = stack.enter_context(haproxy(haproxy_config(listen, ports), var))
        front = f"http://127.0.0.1:{listen}"
        wait_http(f"{front}/health")
        time.sleep(2.5)  # every server marked up (check inter 1s)
        script = var / f"orders-{run_id}.lua"
        # warm-up (every process' pool and caches), then the measured run
        script.write_text(wrk_script(TOKEN, grids(), f"{run_id}w"))
        run_wrk(front, script, args.clients, args.wrk_threads, args.warmup)
        script.write_text(wrk_script(TOKEN, grids(), f"{run_id}m"))
        backends = f" {db_name} "  # in each backend's process title

        meter = CpuMeter({
            "api": lambda: [p for _, pid in servers for p in _tree(pid)],
            "postgres_backends": lambda: pids_matching(backends),
            "postgres_other": lambda: sorted(set(pids_named("postgres"))
                                             - set(pids_matching(backends))),
            "haproxy": lambda: [haproxy_pid],
        })
        run = ApiRun(processes=processes, clients=args.clients, threads=args.wrk_threads,
                     seconds=args.seconds, cores=cores_available(),
                     load_average_before=load_average())
        meter.start()
        figures, wrk_cpu = run_wrk(front, script, args.clients, args.wrk_threads, args.seconds)
        cpu = meter.stop()
    cpu["cpu_seconds"]["wrk"] = round(wrk_cpu, 2)
    cpu["other_cpu_seconds"] = round(max(0.0, cpu["other_cpu_seconds"] - wrk_cpu), 2)
    run.cpu = cpu
    fill_api_run(run, figures)
    return run


def _tree(pid: int) -> list[int]:
    from tools.stack import _descendants
    return _descendants(pid)


def fill_api_run(run: ApiRun, figures: dict) -> None:
    """The order counts, latencies and CPU shares of one wrk run."""
    seconds = figures["duration_us"] / 1e6
    statuses = {str(k): int(v) for k, v in figures["statuses"].items()}
    run.seconds = round(seconds, 2)
    run.orders = statuses.get("201", 0)
    run.orders_per_s = round(run.orders / seconds, 1) if seconds else 0.0
    run.non_201 = {k: v for k, v in statuses.items() if k != "201"}
    run.socket_errors = {k: v for k, v in figures["errors"].items() if v}
    latency = figures["latency_us"]
    run.p50_ms, run.p95_ms, run.p99_ms, run.max_ms = (
        round(latency[k] / 1000, 1) for k in ("p50", "p95", "p99", "max"))
    shares = dict(run.cpu.get("cpu_seconds", {}))
    shares["other"] = run.cpu.get("other_cpu_seconds", 0.0)
    run.cpu_ms_per_order = cpu_ms_per_unit(
        {k: v for k, v in shares.items() if k != "other"}, run.orders)
    wall = run.cpu.get("wall_s") or seconds
    run.cpu_percent = {k: round(100 * v / wall, 1) for k, v in shares.items()}


def rates_by_processes(runs: Sequence[ApiRun]) -> dict[int, float]:
    """Orders/s of each process count over all its runs (orders added / seconds added)."""
    orders: dict[int, int] = {}
    seconds: dict[int, float] = {}
    for r in runs:
        orders[r.processes] = orders.get(r.processes, 0) + r.orders
        seconds[r.processes] = seconds.get(r.processes, 0.0) + r.seconds
    return {n: round(orders[n] / seconds[n], 1) for n in orders if seconds[n] > 0}


def summarize_api(runs: list[ApiRun], args: argparse.Namespace) -> dict:
    rate = rates_by_processes(runs)
    ratio = round(rate[2] / rate[1], 2) if rate.get(1) and 2 in rate else None
    # CPU per order of each party over all runs (the same work whatever the process count)
    orders = sum(r.orders for r in runs)
    totals: dict[str, float] = {}
    for r in runs:
        for name, seconds in r.cpu.get("cpu_seconds", {}).items():
            totals[name] = totals.get(name, 0.0) + seconds
    per_order = cpu_ms_per_unit(totals, orders)
    cores = cores_available()
    return {
        "what": "POST /api/v1/orders through haproxy to N API processes (1 uvicorn worker "
                "each) on PostgreSQL; load from wrk (Lua: a new Idempotency-Key and body per "
                "request) on the same machine",
        "clients": args.clients,
        "runs": [asdict(r) for r in runs],
        "orders_per_s_by_processes": rate,
        "ratio_2_to_1": ratio,
        "cpu_ms_per_order": per_order,
        "api_orders_per_core_s": round(1000 / per_order["api"], 1) if per_order.get("api") else None,
        "ratio_bound_on_these_cores": ratio_bound(per_order, "api", cores),
        "cores_for_ratio_1_6": cores_for_ratio(per_order, "api", 1.6),
        "ratio_bound_note": "one process uses at most one core; two, with PostgreSQL, haproxy "
                            "and wrk on the same cores, at most all cores at the CPU per order "
                            "of all parties: bound = min(2, cores * api_ms / all_ms); "
                            "other work on the machine (other_cpu_seconds) lowers it further",
    }


def api_table(runs: Sequence[ApiRun]) -> str:
    head = (f"{'API procs':>9}{'clients':>8}{'cores':>6}{'orders':>8}{'orders/s':>10}"
            f"{'p50 ms':>8}{'p95 ms':>8}{'non-201':>8}"
            f"  CPU % (100 = one core): api / postgres / haproxy / wrk / other")
    lines = [head, "-" * len(head)]
    for r in runs:
        c = r.cpu_percent
        cpu = " / ".join(f"{c.get(k, 0):.0f}" for k in ("api", "postgres_backends", "haproxy",
                                                         "wrk", "other"))
        lines.append(f"{r.processes:>9}{r.clients:>8}{r.cores:>6}{r.orders:>8}"
                     f"{r.orders_per_s:>10.1f}{r.p50_ms or 0:>8.1f}{r.p95_ms or 0:>8.1f}"
                     f"{sum(r.non_201.values()):>8}  {cpu}")
    return "\n".join(lines)


# ------------------------------------------------------------- dialogue part


def dialogue_part(args: argparse.Namespace, var: Path) -> dict:
    try:
        from tools.scaled_stack import ScaledStack, scaled_unavailable_reason
    except ImportError as exc:
        return {"skipped": f"the scaled harness (tools/scaled_stack.py) is missing: {exc}"}
    reason = scaled_unavailable_reason()
    if reason:
        return {"skipped": reason}
    from tests.app.e2e.e2e_support import CONVERSATIONS_FILE, load_conversations

    from .dialogue import run_phase

    conversations = load_conversations(CONVERSATIONS_FILE)
    run_id = secrets.token_hex(3)
    serial = itertools.count(1)
    phases: list[dict] = []
    started = time.monotonic()
    # proxies=False: the harness' TCP proxies run in this process and would add
    # their CPU to the load generator's; the benchmark cuts nothing
    stack = ScaledStack(var / "stack", rasa=max(args.rasa_counts), warm_up=True, proxies=False)
    with stack:
        start_s = round(time.monotonic() - started, 1)
        print(f"scaled stack ready in {start_s} s", file=sys.stderr, flush=True)
        kinds = sorted({service_kind(s.name) for s in stack.plan})
        for level, residents in enumerate(args.residents):
            # alternate the order (2,1 then 1,2 ...): the two counts of one level run
            # next to each other in time, under the same load from elsewhere
            for rasa in (args.rasa_counts if level % 2 == 0 else args.rasa_counts[::-1]):
                set_rasa_instances(stack, rasa)
                groups = {kind: (lambda k=kind: kind_pids(stack, k)) for kind in kinds}
                databases = (f" {stack.servers.workorders_db} ", f" {stack.servers.tracker_db} ")
                groups["postgres"] = lambda d=databases: [p for n in d for p in pids_matching(n)]
                meter = CpuMeter(groups)
                load_before = load_average()
                client_before = time.process_time()
                meter.start()
                phase, _ = asyncio.run(run_phase(
                    stack.rest_url, conversations, residents, 1 if args.quick else args.turns,
                    run_id, serial, warm_up=False, tokens=stack.settings.channel_tokens))
                cpu = meter.stop()
                client_s = round(time.process_time() - client_before, 2)
                cpu["load_generator_cpu_seconds"] = client_s
                cpu["other_cpu_seconds"] = round(max(0.0, cpu["other_cpu_seconds"] - client_s), 2)
                record = asdict(phase)
                for key in ("stack_cpu_percent", "cpu_percent_by_service",
                            "client_cpu_percent", "machine_busy_percent"):
                    record.pop(key, None)
                record.update(rasa_instances=rasa, cores=cores_available(),
                              load_average_before=load_before, cpu=cpu,
                              cpu_ms_per_conversation=cpu_ms_per_unit(cpu["cpu_seconds"],
                                                                      phase.conversations))
                phases.append(record)
                print(f"rasa x{rasa}, {residents} residents: {phase.conversations_per_s} conv/s, "
                      f"p50 {phase.turn_p50_ms} ms, p95 {phase.turn_p95_ms} ms, "
                      f"errors {phase.http_errors}", file=sys.stderr, flush=True)
        dead = stack.dead_services()
    return {
        "what": "scripted conversations (tests/app/e2e/conversations.yml, as bench-dialogue) "
                "through haproxy to N Rasa instances of the scaled stack (PostgreSQL tracker "
                "and work orders, Redis lock store, RabbitMQ broker, 2 action servers, 2 API "
                "processes, 2 notifiers, 2 sweepers); load generator in this process; the "
                "1-instance phases after rasa-2 was killed and haproxy marked it DOWN, the "
                "2-instance ones after it was started again; at each resident level the two "
                "run one after the other (order alternating) to share the load from elsewhere",
        "stack_start_s": start_s,
        "conversations": len(conversations),
        "turns_per_replay": sum(len(c.turns) for c in conversations),
        "dead_services": dead,
        "phases": phases,
        "conversations_per_rasa_cpu_second": rasa_rate_per_core(phases),
    }


def service_kind(name: str) -> str:
    """ "rasa-2" -> "rasa", "workorders-api-1" -> "workorders-api", "balancer" -> "balancer"."""
    base, _, n = name.rpartition("-")
    return base if base and n.isdigit() else name


def kind_pids(stack, kind: str) -> list[int]:
    found: list[int] = []
    for service in stack.plan:
        if service_kind(service.name) == kind:
            found += stack.pids(service.name)
    return found


def set_rasa_instances(stack, count: int) -> None:
    """Kill the Rasa instances beyond `count` (until haproxy has them DOWN), start the others."""
    for n, name in enumerate(stack.instances("rasa"), 1):
        if n > count and stack.running(name):
            stack.kill(name)
            wait_down(stack, name)
        elif n <= count and not stack.running(name):
            print(f"starting {name} again ...", file=sys.stderr, flush=True)
            stack.start_service(name)


def wait_down(stack, name: str, timeout_s: float = 30.0) -> None:
    """Until haproxy has marked a killed instance DOWN (no turn is sent to it any more)."""
    deadline = time.monotonic() + timeout_s
    while not stack.balancer_status(name).startswith("DOWN"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"haproxy still has {name} {stack.balancer_status(name)}")
        time.sleep(0.25)


def rasa_rate_per_core(phases: Sequence[dict]) -> float | None:
    """Conversations per CPU-second of the Rasa processes, over the phases without HTTP errors.

    (A turn the balancer refused costs Rasa nothing: a phase with errors would
    count conversations Rasa never served.)"""
    clean = [p for p in phases if not p["http_errors"]]
    conversations = sum(p["conversations"] for p in clean)
    seconds = sum(p["cpu"]["cpu_seconds"].get("rasa", 0.0) for p in clean)
    return round(conversations / seconds, 2) if seconds else None


def dialogue_table(phases: Sequence[dict]) -> str:
    head = (f"{'Rasa':>5}{'residents':>10}{'cores':>6}{'conv':>6}{'conv/s':>8}{'p50 ms':>9}"
            f"{'p95 ms':>9}{'errors':>7}{'load':>6}  CPU s by kind")
    lines = [head, "-" * len(head)]
    for p in phases:
        cpu = ", ".join(f"{k} {v:g}" for k, v in p["cpu"]["cpu_seconds"].items())
        errors = p["http_errors"] + p["no_reply_turns"]
        lines.append(f"{p['rasa_instances']:>5}{p['residents']:>10}{p['cores']:>6}"
                     f"{p['conversations']:>6}{p['conversations_per_s']:>8.2f}"
                     f"{p['turn_p50_ms'] or 0:>9.1f}{p['turn_p95_ms'] or 0:>9.1f}{errors:>7}"
                     f"{p['load_average_before'][0]:>6.1f}  {cpu}")
    return "\n".join(lines)


# -------------------------------------------------------------------- main


def targets_met(result: dict) -> dict:
    met: dict[str, object] = {}
    phases = result.get("dialogue", {}).get("phases", [])
    at = [p for p in phases if p["rasa_instances"] == 2 and p["residents"] == 16]
    met["turn_p95_ms_16_residents_2_rasa"] = (
        at[0]["turn_p95_ms"] <= TARGETS["turn_p95_ms_16_residents_2_rasa"] if at else None)
    api = result.get("api", {})
    ratio = api.get("ratio_2_to_1")
    met["orders_per_s_ratio_2_to_1_api"] = (
        ratio >= TARGETS["orders_per_s_ratio_2_to_1_api"] if ratio is not None else None)
    return met


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["dialogue", "api", "both"], default="both")
    parser.add_argument("--quick", action="store_true", default=bool(os.environ.get("QUICK")),
                        help="smoke run (also QUICK=1)")
    parser.add_argument("--residents", default="8,16,32")
    parser.add_argument("--rasa-counts", default="2,1",
                        help="Rasa instances to compare at each resident level (order alternates)")
    parser.add_argument("--turns", type=int, default=300, help="least measured turns a phase")
    parser.add_argument("--clients", type=int, default=32, help="wrk connections")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds of wrk")
    parser.add_argument("--warmup", type=float, default=3.0, help="wrk warm-up seconds")
    parser.add_argument("--api-processes", default="1,2")
    parser.add_argument("--rounds", type=int, default=2,
                        help="runs of each process count (alternating order)")
    parser.add_argument("--pg-url", default=os.environ.get("SCALED_POSTGRES_URL", DEFAULT_PG_URL))
    parser.add_argument("--keep-var", type=Path)
    parser.add_argument("--plan", action="store_true",
                        help="print the capacity plan of docs/scaling.md from --out and "
                        "voice.json, run nothing")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    args.residents = [int(x) for x in args.residents.split(",")]
    args.rasa_counts = [int(x) for x in args.rasa_counts.split(",")]
    args.api_processes = [int(x) for x in args.api_processes.split(",")]
    if args.quick:
        args.residents = [4]
        args.seconds, args.warmup, args.rounds = 3.0, 1.0, 1
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.plan:
        print_plan(args.out, RESULTS / "voice.json")
        return 0
    result: dict = {
        "benchmark": "scaled",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "cores_available": cores_available(),
        "load_average_at_start": load_average(),
        "quick": args.quick,
        "targets": TARGETS,
    }
    with tempfile.TemporaryDirectory(prefix="bench-scaled-") as tmp:
        var = args.keep_var or Path(tmp)
        var.mkdir(parents=True, exist_ok=True)
        for part, run in (("dialogue", dialogue_part), ("api", api_part)):
            if args.part in (part, "both"):
                began = datetime.now(UTC).isoformat(timespec="seconds")
                load = load_average()
                result[part] = {"when": began, "load_average_at_start": load, **run(args, var),
                                "load_average_at_end": load_average()}
    result["load_average_at_end"] = load_average()
    out = args.out
    if args.quick and out == DEFAULT_OUT:
        out = RESULTS / "scaled-quick.json.tmp"
    if args.part != "both" and out.exists():
        # one part run again: the other part's figures stay (each part says when it ran)
        previous = json.loads(out.read_text(encoding="utf-8"))
        for part in ("dialogue", "api"):
            if part not in result and part in previous:
                result[part] = previous[part]
    result["targets_met"] = targets_met(result)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(report(result))
    print(f"wrote {out}")
    return 0


def report(result: dict) -> str:
    m = result["machine"]
    lines = [f"Scaled benchmark, {result['when']}, {result['cores_available']} cores available "
             f"({m['cpu']}), load average {result['load_average_at_start']} at start, "
             f"{result['load_average_at_end']} at end"]
    dialogue = result.get("dialogue")
    if dialogue is not None:
        lines.append("\nConversations through the balancer")
        if "skipped" in dialogue:
            lines.append(f"  skipped: {dialogue['skipped']}")
        else:
            lines.append(dialogue_table(dialogue["phases"]))
    api = result.get("api")
    if api is not None:
        lines.append("\nOrders through the balancer (wrk)")
        lines.append(api_table([ApiRun(**r) for r in api["runs"]]))
        lines.append(f"  CPU ms per order: {api['cpu_ms_per_order']}")
        lines.append(f"  ratio 2/1 processes: {api['ratio_2_to_1']} (target >= "
                     f"{TARGETS['orders_per_s_ratio_2_to_1_api']}); bound on "
                     f"{result['cores_available']} idle cores from the CPU per order: "
                     f"{api['ratio_bound_on_these_cores']}; 1.6 needs "
                     f"{api['cores_for_ratio_1_6']} cores")
    lines.append(f"targets met: {result['targets_met']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
