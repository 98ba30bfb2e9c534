"""`make bench-telegram`: the Telegram channel end to end, through a Bot API emulator.

Starts the embedded stack (tools/stack.py: work-order API, notifier, sweeper,
action server, Rasa) plus the Telegram channel process, whose aiogram bots
talk over HTTP to the Bot API emulator of tests/telegram_emulator.py running
in this process. Residents are simulated chats in the emulator; a message's
latency is from the moment the bot fetched it (getUpdates handed it out) to
the moment the bot's first reply reached the emulator (sendMessage).

Phases:
- handler notifications: every demo handler links a chat with a one-time
  code; --orders orders are filed at once through the API; the tickets the
  handlers' bot delivers (with their 接单/拒单 buttons) are counted and timed
  from the order's creation: tickets per second and creation→ticket p95
  (the notifier polls the outbox once a second when idle);
- 1 chat: one resident after another, each a four-turn report
  (report, 不用了, 对, status), sending the next message --settle seconds
  after the first reply (a closed loop: messages per second relayed);
- --chats concurrent chats, each waiting --think seconds on average (0.5 to
  1.5 times, seeded) after a reply, as a resident reading and typing does,
  and starting at a random moment (target: p95 ≤ 400 ms);
- the same chats with only --settle seconds between turns (stress; no target).

    .venv/bin/python -m benchmarks.telegram [--turns 120] [--chats 20] [--think 3]
        [--orders 40] [--model models/zh-….tar.gz] [--keep-var DIR]

Prints a table and writes benchmarks/results/telegram.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from benchmarks.dialogue import machine_cpu_seconds, process_cpu_seconds
from benchmarks.machine import machine, percentile
from tests.staff_accounts import create_staff
from tests.telegram_emulator import BotApiEmulator, SentCall
from tools.stack import SERVICE_NAMES, Stack

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
RESIDENT_TOKEN = "7100000001:bench-resident-bot-secret"
HANDLER_TOKEN = "7100000002:bench-handler-bot-secret"
TARGET_P95_MS = 400.0
REPLY_TIMEOUT_S = 60.0
HANDLER_CHAT_BASE = 910_000_000
RESIDENT_CHAT_BASE = 920_000_000


def script(building: int) -> list[tuple[str, str | None]]:
    """One resident's report: (message, a word its first reply should hold)."""
    return [
        (f"幸福里小区{building}号楼门口的路灯坏了，晚上黑乎乎的", None),
        ("不用了", "对吗"),
        ("对", "工单号"),
        ("查一下我的工单", "工单"),
    ]


@dataclass
class ChatPhase:
    name: str
    chats: int
    think_s: float
    turns: int = 0
    seconds: float = 0.0
    messages_per_s: float = 0.0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    no_reply: int = 0
    unexpected: int = 0
    cpu_percent_by_service: dict[str, float] = field(default_factory=dict)
    machine_busy_percent: float | None = None
    examples: list[str] = field(default_factory=list)


@dataclass
class NotifyPhase:
    orders: int = 0
    assigned: int = 0
    tickets: int = 0
    seconds: float = 0.0
    tickets_per_s: float = 0.0
    p50_ms: float | None = None
    p95_ms: float | None = None
    max_ms: float | None = None


class Replies:
    """First resident-bot message per chat after a given moment, pushed by the emulator."""

    def __init__(self, emu: BotApiEmulator, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiting: dict[int, tuple[float, asyncio.Future]] = {}
        self._emu = emu
        emu.add_listener(self._on_call)

    def close(self) -> None:
        self._emu.remove_listener(self._on_call)

    def _on_call(self, call: SentCall) -> None:  # on the emulator's thread
        if call.token == RESIDENT_TOKEN and call.method == "sendMessage" and call.ok:
            self._loop.call_soon_threadsafe(self._deliver, int(call.chat_id), call)

    def _deliver(self, chat_id: int, call: SentCall) -> None:
        waiting = self._waiting.get(chat_id)
        if waiting and call.at >= waiting[0] and not waiting[1].done():
            waiting[1].set_result(call)

    def expect(self, chat_id: int, after: float) -> asyncio.Future:
        future = self._loop.create_future()
        self._waiting[chat_id] = (after, future)
        return future


async def run_chats(emu: BotApiEmulator, phase: ChatPhase, turns_wanted: int, settle_s: float,
                    counter: list[int]) -> None:
    loop = asyncio.get_running_loop()
    replies = Replies(emu, loop)
    latencies: list[float] = []
    stop_at = turns_wanted

    rng = random.Random(20261122 + phase.chats)

    async def resident(worker: int) -> None:
        # Residents do not write in step: each starts at a random moment of the
        # first think time, and reads and types for 0.5-1.5 times the mean.
        await asyncio.sleep(rng.uniform(0, phase.think_s))
        while len(latencies) < stop_at:
            counter[0] += 1
            serial = counter[0]
            chat_id = RESIDENT_CHAT_BASE + serial
            for text, expected in script(100 + serial):
                sent_at = time.monotonic()
                future = replies.expect(chat_id, sent_at)
                update_id = await asyncio.to_thread(emu.user_sends, RESIDENT_TOKEN, chat_id, text)
                try:
                    call = await asyncio.wait_for(future, REPLY_TIMEOUT_S)
                except TimeoutError:
                    phase.no_reply += 1
                    phase.examples.append(f"chat {chat_id}: no reply to {text!r}")
                    break
                handed_out = emu.update_times.get(update_id, sent_at)
                latencies.append(call.at - handed_out)
                phase.turns += 1
                if expected and expected not in (call.text or ""):
                    phase.unexpected += 1
                    if len(phase.examples) < 5:
                        phase.examples.append(f"{text!r} -> {call.text!r}")
                await asyncio.sleep(settle_s + phase.think_s * rng.uniform(0.5, 1.5))

    started = time.monotonic()
    try:
        await asyncio.gather(*(resident(i) for i in range(phase.chats)))
    finally:
        replies.close()
    phase.seconds = round(time.monotonic() - started, 2)
    phase.messages_per_s = round(phase.turns / phase.seconds, 2) if phase.seconds else 0.0
    if latencies:
        ms = sorted(1000 * v for v in latencies)
        phase.p50_ms, phase.p95_ms, phase.p99_ms = (round(percentile(ms, q), 1) for q in (50, 95, 99))
        phase.max_ms = round(ms[-1], 1)


def measure(stack: Stack, coroutine) -> tuple[dict[str, float], float]:
    """Run ``coroutine``; CPU % of each service (100 = one core) and of the whole machine."""
    names = [*SERVICE_NAMES, "telegram"]
    pids = {name: stack.pids(name) for name in names}
    before = {name: process_cpu_seconds(p) for name, p in pids.items()}
    busy_before, total_before = machine_cpu_seconds()
    wall_before = time.monotonic()
    asyncio.run(coroutine)
    wall = time.monotonic() - wall_before
    busy_after, total_after = machine_cpu_seconds()
    by_service = {name: round(100 * (process_cpu_seconds(p) - before[name]) / wall, 1)
                  for name, p in pids.items()}
    busy = round(100 * (busy_after - busy_before) / max(1e-9, total_after - total_before), 1)
    return by_service, busy


# ------------------------------------------------------------------ handlers


def link_handlers(stack: Stack, emu: BotApiEmulator, admin: str) -> dict[int, int]:
    """Link every handler to a chat through the handlers' bot: handler id -> chat id."""
    env = {**os.environ, "WORKORDERS_DATABASE_URL": stack.database_url, "PYTHONPATH": str(ROOT)}
    listing = httpx.get(stack.api_url.rstrip("/") + "/api/v1/handlers", timeout=10,
                        headers={"Authorization": f"Bearer {admin}"})
    listing.raise_for_status()
    handler_ids = [h["id"] for h in listing.json()]
    chats = {}
    for handler_id in handler_ids:
        issued = subprocess.run(
            [sys.executable, "-m", "integrations.workorders", "link-code",
             "--handler-id", str(handler_id)],
            capture_output=True, text=True, cwd=ROOT, env=env)
        match = re.search(r"\b(\d{8})\b", issued.stdout)
        if issued.returncode != 0 or not match:
            raise SystemExit(f"link-code failed: {issued.stdout[-300:]} {issued.stderr[-500:]}")
        chat_id = HANDLER_CHAT_BASE + handler_id
        emu.user_sends(HANDLER_TOKEN, chat_id, f"/link {match.group(1)}")
        emu.wait_sent_sync(lambda c: "绑定" in (c.text or ""), token=HANDLER_TOKEN,
                           chat_id=chat_id, method="sendMessage", timeout=30)
        chats[handler_id] = chat_id
    return chats


async def file_orders(stack: Stack, token: str, count: int) -> list[tuple[str, float, int | None]]:
    """File ``count`` orders at once as staff at a desk would (the staff view names the
    assignee); (number, monotonic creation time, assignee id)."""
    places = [("grid:cg-xingfuli", "幸福里小区"), ("grid:cg-hongxing", "红星村"),
              ("grid:cg-yangguang", "阳光社区")]
    categories = ["incident.facility", "dispute.neighbor"]
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=stack.api_url, headers=headers, timeout=30) as client:
        async def one(i: int) -> tuple[str, float, int | None]:
            area, name = places[i % len(places)]
            body = {"category": categories[i % 2], "description": f"压测工单 {i}",
                    "location_text": f"{name}{i}号楼", "area_code": area,
                    "reporter_ref": f"tg:{RESIDENT_CHAT_BASE - 1 - i}"}
            started = time.monotonic()
            response = await client.post("/api/v1/orders", json=body)
            response.raise_for_status()
            order = response.json()
            return order["number"], started, order.get("assignee_id")
        return await asyncio.gather(*(one(i) for i in range(count)))


def notify_phase(stack: Stack, emu: BotApiEmulator, admin: str, count: int,
                 chats: dict[int, int]) -> NotifyPhase:
    phase = NotifyPhase(orders=count)
    began = time.monotonic()
    filed = asyncio.run(file_orders(stack, admin, count))
    assigned = [(number, at) for number, at, assignee in filed if assignee in chats]
    phase.assigned = len(assigned)
    wanted = {number for number, _ in assigned}

    def tickets() -> dict[str, float]:
        seen = {}
        for call in emu.sent(token=HANDLER_TOKEN, method="sendMessage"):
            for number in wanted:
                if number in (call.text or "") and number not in seen:
                    seen[number] = call.at
        return seen

    deadline = time.monotonic() + 120
    seen = tickets()
    while len(seen) < len(wanted) and time.monotonic() < deadline:
        time.sleep(0.2)
        seen = tickets()
    created = dict(assigned)
    delays = sorted(1000 * (seen[n] - created[n]) for n in seen)
    phase.tickets = len(seen)
    if seen:
        phase.seconds = round(max(seen.values()) - began, 2)
        phase.tickets_per_s = round(len(seen) / phase.seconds, 2)
        phase.p50_ms, phase.p95_ms = (round(percentile(delays, q), 1) for q in (50, 95))
        phase.max_ms = round(delays[-1], 1)
    return phase


# ---------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.telegram", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=120, help="messages measured per chat phase")
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--think", type=float, default=3.0,
                        help="seconds a resident takes to read and type between messages")
    parser.add_argument("--settle", type=float, default=0.3,
                        help="seconds waited after the first reply for the rest of the turn")
    parser.add_argument("--orders", type=int, default=40)
    parser.add_argument("--model", default=None)
    parser.add_argument("--keep-var", default=None)
    args = parser.parse_args(argv)

    emu = BotApiEmulator().start_in_thread()
    emu.add_bot(RESIDENT_TOKEN, "community_bench_bot")
    emu.add_bot(HANDLER_TOKEN, "community_handlers_bench_bot")
    var = Path(args.keep_var) if args.keep_var else Path(tempfile.mkdtemp(prefix="bench-telegram-"))
    telegram = {"TELEGRAM_BOT_TOKEN": RESIDENT_TOKEN, "TELEGRAM_HANDLER_BOT_TOKEN": HANDLER_TOKEN,
                "TELEGRAM_API_BASE": emu.base_url}
    stack = Stack(var, args.model, telegram=telegram).start()
    try:
        emu.wait_sent_sync(lambda c: True, token=RESIDENT_TOKEN, method="deleteWebhook", timeout=120)
        admin = create_staff(stack.database_url, "bench-admin", "admin")
        chats = link_handlers(stack, emu, admin)
        notify = notify_phase(stack, emu, admin, args.orders, chats)
        counter = [0]
        phases = []
        for name, chats_n, think in (("1 chat", 1, 0.0), (f"{args.chats} chats", args.chats, args.think),
                                     (f"{args.chats} chats, no think time", args.chats, 0.0)):
            phase = ChatPhase(name, chats_n, think)
            phase.cpu_percent_by_service, phase.machine_busy_percent = measure(
                stack, run_chats(emu, phase, args.turns, args.settle, counter))
            phases.append(phase)
        rss = {name: stack.peak_rss_mib(name) for name in [*SERVICE_NAMES, "telegram"]}
    finally:
        stack.stop()
        emu.stop()

    target_phase = phases[1]
    ok = target_phase.p95_ms is not None and target_phase.p95_ms <= TARGET_P95_MS
    result = {
        "benchmark": "telegram", "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(), "model": stack.model.name,
        "settings": vars(args),
        "notifications": asdict(notify),
        "phases": [asdict(p) for p in phases],
        "target": {"p95_ms_at_chats": TARGET_P95_MS, "chats": args.chats, "met": ok},
        "peak_rss_mib": rss,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "telegram.json").write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")

    m = result["machine"]
    print(f"Telegram benchmark, {result['at']}, {m['cores']} cores, {m['cpu']}, {m['memory_gb']} GB")
    print(f"model {stack.model.name}, Bot API emulator on 127.0.0.1, "
          "aiogram bots in their own process, SQLite")
    print(f" handler tickets: {notify.tickets}/{notify.assigned} assigned orders of "
          f"{notify.orders} filed at once, {notify.tickets_per_s} tickets/s, "
          f"creation->ticket p50 {notify.p50_ms} ms, p95 {notify.p95_ms} ms")
    for p in phases:
        target = ""
        if p is target_phase:
            target = f" (target <= {TARGET_P95_MS:.0f} {'ok' if ok else 'MISSED'})"
        print(f" {p.name} (think {p.think_s:g} s): {p.turns} messages, {p.messages_per_s} msg/s, "
              f"update->reply p50 {p.p50_ms} ms, p95 {p.p95_ms} ms{target}, p99 {p.p99_ms} ms; "
              f"no reply {p.no_reply}, unexpected {p.unexpected}")
        print("   CPU %: " + ", ".join(f"{k} {v}" for k, v in p.cpu_percent_by_service.items())
              + f"; machine busy {p.machine_busy_percent} %")
    print(" peak RSS (MiB): " + ", ".join(f"{k} {v}" for k, v in rss.items()))
    for p in phases:
        for example in p.examples[:3]:
            print(f"   e.g. {example}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
