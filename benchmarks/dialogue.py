"""`make bench-dialogue`: whole conversations through the real embedded stack.

Starts the five processes of `make run` (tools/stack.py: SQLite, demo data,
free ports, a temporary var dir) and replays the scripted conversations of
tests/app/e2e/conversations.yml (their turns only) through Rasa's REST
channel. Each resident replays the whole file in order, again and again; in
every replay each sender of the file becomes a fresh sender of the same
channel (a digits-only id stays digits, e.g. a caller's number), so a
conversation that continues an earlier one's resident still does:

- warm-up: the very first request of the run, timed but not counted;
- 1 resident: replays one after another until at least --turns turns are
  measured: turn latency p50/p95/p99, conversations per second;
- --residents (8) concurrent residents (asyncio + httpx, one connection
  each): the same, each resident replaying the file at least once and all
  together at least --turns turns (whole replays only, so both phases see
  the same mix of turns);
- the peak RSS (VmHWM, children added) of each process after both runs;
- CPU during each phase: the stack's processes, the load generator, and the
  whole machine (if the machine was much busier than the two, something else
  ran at the same time and the latencies are not this stack's alone);
- failures under load: HTTP errors and timeouts, turns without any reply,
  replies containing the bot's apology "抱歉" (its error texts say it), and
  turns whose replies miss what conversations.yml expects. Replays meet the
  orders of earlier replays (a second report of the same streetlight is a
  duplicate), so some turns differ even without load: compare the 8-resident
  figures with the 1-resident ones.

The load generator runs in this process, on the same machine.

    .venv/bin/python -m benchmarks.dialogue [--turns 300] [--residents 8]
        [--model models/zh-….tar.gz] [--keep-var DIR]

Prints a table and writes benchmarks/results/dialogue.json.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import secrets
import sys
import tempfile
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from benchmarks.machine import machine, percentile
from tests.app.e2e.e2e_support import (
    CONVERSATIONS_FILE,
    Conversation,
    check_replies,
    load_conversations,
)
from tools.stack import SERVICE_NAMES, Stack

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TARGETS = {"turn_p95_ms_1_resident": 250.0, "turn_p95_ms_8_residents": 1000.0}
APOLOGY = "抱歉"  # the bot's error texts say it
REQUEST_TIMEOUT_S = 30.0


@dataclass
class Phase:
    residents: int
    replays: int = 0
    turns: int = 0
    conversations: int = 0
    seconds: float = 0.0
    conversations_per_s: float = 0.0
    turn_p50_ms: float | None = None
    turn_p95_ms: float | None = None
    turn_p99_ms: float | None = None
    turn_max_ms: float | None = None
    http_errors: int = 0
    no_reply_turns: int = 0
    apology_replies: int = 0
    unexpected_turns: int = 0
    stack_cpu_percent: float | None = None    # 100 = one core
    cpu_percent_by_service: dict[str, float] = field(default_factory=dict)
    client_cpu_percent: float | None = None   # this process, the load generator
    machine_busy_percent: float | None = None  # all cores together: 100 = all busy
    error_examples: list[str] = field(default_factory=list)


def process_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far (/proc/<pid>/stat)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / tick, sum(fields) / tick


def measure_phase(stack: Stack, *args, **kwargs) -> tuple[Phase, float | None]:
    """run_phase, with the CPU used meanwhile by the stack, this process and the machine."""
    pids = {name: stack.pids(name) for name in SERVICE_NAMES}
    before = {name: process_cpu_seconds(p) for name, p in pids.items()}
    client_before = time.process_time()
    busy_before, total_before = machine_cpu_seconds()
    wall_before = time.monotonic()
    phase, first_ms = asyncio.run(run_phase(stack.rest_url, *args,
                                               tokens=stack.settings.channel_tokens, **kwargs))
    wall = time.monotonic() - wall_before
    busy_after, total_after = machine_cpu_seconds()
    phase.cpu_percent_by_service = {
        name: round(100 * (process_cpu_seconds(p) - before[name]) / wall, 1)
        for name, p in pids.items()}
    phase.stack_cpu_percent = round(sum(phase.cpu_percent_by_service.values()), 1)
    phase.client_cpu_percent = round(100 * (time.process_time() - client_before) / wall, 1)
    phase.machine_busy_percent = round(
        100 * (busy_after - busy_before) / max(1e-9, total_after - total_before), 1)
    return phase, first_ms


def fresh_sender(original: str, run_id: str, serial: int) -> str:
    """A new sender of `original`'s channel; digits-only ids stay digits of the same length."""
    channel, _, ident = original.partition(":")
    if ident.isdigit() and len(ident) >= 7:
        return f"{channel}:{ident[:-6]}{serial % 10**6:06d}"
    return f"{channel}:bench-{run_id}-{serial}"


class Replayer:
    """Replays the conversations with fresh senders and keeps the figures of one phase."""

    def __init__(self, client: httpx.AsyncClient, url: str, run_id: str,
                 serial: itertools.count[int], tokens: dict | None = None) -> None:
        self.client = client
        self.url = url
        # the REST channel's token of each sender prefix (web, tg, voice)
        self.headers = {prefix: {"Authorization": f"Bearer {token}"}
                        for prefix, token in (tokens or {}).items()}
        self.run_id = run_id
        self.serial = serial  # shared by the phases: no sender is used twice in a run
        self.latencies_ms: list[float] = []

    async def turn(self, sender: str, text: str, phase: Phase | None) -> tuple[float, list[str]]:
        started = time.perf_counter()
        replies: list[str] = []
        error = None
        try:
            response = await self.client.post(
                self.url, json={"sender": sender, "message": text},
                headers=self.headers.get(sender.partition(":")[0]))
            if response.status_code == 200:
                replies = [m["text"] for m in response.json() if m.get("text")]
            else:
                error = f"HTTP {response.status_code}: {response.text[:120]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        elapsed_ms = (time.perf_counter() - started) * 1000
        if phase is not None:
            if error:
                phase.http_errors += 1
                if len(phase.error_examples) < 5:
                    phase.error_examples.append(f"{sender} {text!r}: {error}")
            elif not replies:
                phase.no_reply_turns += 1
            phase.apology_replies += sum(APOLOGY in r for r in replies)
        return elapsed_ms, replies

    async def replay(self, conversations: list[Conversation], phase: Phase) -> None:
        """The file once, in order."""
        senders: dict[str, str] = {}
        for conversation in conversations:
            if conversation.sender not in senders:
                senders[conversation.sender] = fresh_sender(conversation.sender, self.run_id,
                                                            next(self.serial))
            await self.conversation(conversation, senders[conversation.sender], phase)
        phase.replays += 1

    async def conversation(self, conversation: Conversation, sender: str, phase: Phase) -> None:
        for turn in conversation.turns:
            elapsed_ms, replies = await self.turn(sender, turn.say, phase)
            self.latencies_ms.append(elapsed_ms)
            phase.turns += 1
            if check_replies(turn, replies):
                phase.unexpected_turns += 1
        phase.conversations += 1


async def run_phase(url: str, conversations: list[Conversation], residents: int,
                    min_turns: int, run_id: str, serial: itertools.count[int],
                    warm_up: bool, tokens: dict | None = None) -> tuple[Phase, float | None]:
    """One phase; with `warm_up`, first one untimed request (its latency returned)."""
    phase = Phase(residents=residents)
    limits = httpx.Limits(max_connections=residents, max_keepalive_connections=residents)
    async with httpx.AsyncClient(limits=limits, timeout=REQUEST_TIMEOUT_S) as client:
        replayer = Replayer(client, url, run_id, serial, tokens)
        first_ms = None
        if warm_up:
            first = conversations[0]
            first_ms, _ = await replayer.turn(
                fresh_sender(first.sender, run_id, next(serial)), first.turns[0].say, None)

        async def resident() -> None:
            # whole replays only, so both phases see the same mix of turns
            while phase.turns < min_turns:
                await replayer.replay(conversations, phase)

        started = time.perf_counter()
        await asyncio.gather(*(resident() for _ in range(residents)))
        phase.seconds = round(time.perf_counter() - started, 2)
    latencies = replayer.latencies_ms
    phase.conversations_per_s = round(phase.conversations / phase.seconds, 2)
    phase.turn_p50_ms = round(percentile(latencies, 50), 1)
    phase.turn_p95_ms = round(percentile(latencies, 95), 1)
    phase.turn_p99_ms = round(percentile(latencies, 99), 1)
    phase.turn_max_ms = round(max(latencies), 1)
    return phase, first_ms


def pad(text: str, width: int) -> str:
    """`text` padded to `width` terminal columns (CJK characters take two)."""
    columns = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - columns)


def report(result: dict) -> str:
    def row(name, value, target=None):
        if target is None:
            return f"  {pad(name, 34)} {value}"
        ok = value is not None and value <= target
        return f"  {pad(name, 34)} {value!s:<10} target <= {target:g}  {'ok' if ok else 'MISSED'}"

    m = result["machine"]
    lines = [
        f"Dialogue benchmark, {result['when']}, {m['cores']} cores, {m['cpu']}, {m['memory_gb']} GB",
        f"model {result['model']}, {result['conversations']} scripted conversations "
        f"({result['turns_per_replay']} turns in all), REST channel, SQLite; "
        f"load average at start {result['load_average_at_start']}",
        row("stack start (s)", result["stack_start_s"]),
        row("first request, warm-up (ms)", result["first_request_ms"]),
    ]
    for phase in result["phases"]:
        n = phase["residents"]
        target = TARGETS["turn_p95_ms_1_resident" if n == 1 else "turn_p95_ms_8_residents"] \
            if n in (1, 8) else None
        lines += [
            f" {n} resident{'s' if n > 1 else ''}, {phase['replays']} replays of the file, "
            f"{phase['conversations']} conversations, {phase['seconds']} s",
            row(f"turn p50 (ms, n={phase['turns']})", phase["turn_p50_ms"]),
            row("turn p95 (ms)", phase["turn_p95_ms"], target),
            row("turn p99 (ms)", phase["turn_p99_ms"]),
            row("turn max (ms)", phase["turn_max_ms"]),
            row("conversations/s", phase["conversations_per_s"]),
            row("HTTP errors and timeouts", phase["http_errors"]),
            row("turns without a reply", phase["no_reply_turns"]),
            row(f"replies with {APOLOGY}", phase["apology_replies"]),
            row("turns not as expected", phase["unexpected_turns"]),
            row("CPU % stack / load generator", f"{phase['stack_cpu_percent']} / "
                f"{phase['client_cpu_percent']} (100 = one core)"),
            row("CPU % by service", ", ".join(f"{k} {v}" for k, v
                                              in phase["cpu_percent_by_service"].items())),
            row("machine busy % (all cores)", phase["machine_busy_percent"]),
        ]
    lines.append(" peak RSS (MiB, VmHWM, children added)")
    for name, mib in result["peak_rss_mib"].items():
        lines.append(row(name, mib))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=300, help="measured turns per phase (300)")
    parser.add_argument("--residents", type=int, default=8, help="concurrent residents (8)")
    parser.add_argument("--model", type=Path, help="model to serve (default: the current one, "
                        "else the newest models/zh-*.tar.gz)")
    parser.add_argument("--conversations", type=Path, default=CONVERSATIONS_FILE)
    parser.add_argument("--keep-var", type=Path, help="run in this var dir and keep it (logs)")
    parser.add_argument("--out", type=Path, default=RESULTS / "dialogue.json")
    args = parser.parse_args(argv)

    conversations = load_conversations(args.conversations)
    run_id = secrets.token_hex(3)
    load_average = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="bench-dialogue-") as tmp:
        var = args.keep_var or Path(tmp)
        print(f"starting the stack in {var} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        with Stack(var, args.model, warm_up=False) as stack:
            start_s = round(time.monotonic() - started, 1)
            print(f"stack ready in {start_s} s; replaying", file=sys.stderr, flush=True)
            serial = itertools.count(1)
            single, first_ms = measure_phase(stack, conversations, 1, args.turns, run_id, serial,
                                             warm_up=True)
            print(f"1 resident: p95 {single.turn_p95_ms} ms", file=sys.stderr, flush=True)
            crowd, _ = measure_phase(stack, conversations, args.residents, args.turns, run_id,
                                     serial, warm_up=False)
            print(f"{args.residents} residents: p95 {crowd.turn_p95_ms} ms",
                  file=sys.stderr, flush=True)
            rss = {name: stack.peak_rss_mib(name) for name in SERVICE_NAMES}
            dead = stack.dead_services()
            model = stack.model.name
        if dead:
            print(f"error: service(s) died during the run: {', '.join(dead)}; "
                  f"logs in {var / 'log'} (use --keep-var)", file=sys.stderr)

    result = {
        "benchmark": "dialogue",
        "what": "scripted conversations through Rasa's REST channel with the whole embedded "
                "stack (actions, work-order API, notifier, sweeper; SQLite); load generator "
                "on the same machine",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "model": model,
        "conversations": len(conversations),
        "turns_per_replay": sum(len(c.turns) for c in conversations),
        "stack_start_s": start_s,
        "load_average_at_start": load_average,
        "first_request_ms": round(first_ms, 1) if first_ms is not None else None,
        "phases": [asdict(single), asdict(crowd)],
        "peak_rss_mib": rss,
        "dead_services": dead,
        "targets": TARGETS,
        "targets_met": {
            "turn_p95_ms_1_resident": single.turn_p95_ms <= TARGETS["turn_p95_ms_1_resident"],
            "turn_p95_ms_8_residents": (crowd.turn_p95_ms <= TARGETS["turn_p95_ms_8_residents"]
                                        if args.residents == 8 else None),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(report(result))
    print(f"wrote {args.out}")
    return 1 if dead else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
