"""Driving the warnings benchmark's world through the real service, in simulated time.

A temporary SQLite file is migrated (``adapters.db.migrate``), the county's areas
and handlers are added through the use cases, and then every report, handling step
and follow-up answer happens through the use cases (``open_order``, ``accept``,
``resolve``, ``answer_satisfaction``, ``attach_report_to``) at its simulated minute.
The sweeper's time limits (``run_time_limits``) run every simulated hour.
``run_warning_scan`` runs at the next 30-s mark after anything a detector looks at
changed (a new order, a co-report or note, a reopening after 不满意), and at least once
an hour for the rules that depend on time passing (a dispute's waiting time);
accepting and resolving do not trigger a scan (they cannot raise a warning), which
keeps 90 days to a few thousand scans. Handlers act after ``warnings_world``'s
delays; when the service has moved an order on (another handler, another tier), the
simulation follows the order to its new assignee.
"""

from __future__ import annotations

import heapq
import math
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from integrations.shared.privacy import EXAMPLE_KEY, Vault
from integrations.workorders.adapters.db import make_engine, make_session_factory, migrate
from integrations.workorders.adapters.orm import (
    OrderEvent,
    RiskWarning,
    WarningOrder,
    WorkOrder,
)
from integrations.workorders.domain.errors import DomainError
from integrations.workorders.service import (
    HandlerCreate,
    OrderCreate,
    ServiceConfig,
    ServiceError,
    UnitOfWork,
    accept,
    add_area,
    answer_satisfaction,
    attach_report_to,
    create_handler,
    get_order,
    open_order,
    resolve,
    run_time_limits,
    warning_scan,
)
from integrations.workorders.service.warning_scan import run_warning_scan

from .sim_world import (
    COUNTY,
    EPOCH,
    GRIDS,
    MINUTES_PER_DAY,
    TOWNSHIP_OF,
    TOWNSHIPS,
    load_taxonomy,
    work_finish,
)
from .warnings_score import BurstFact, OrderFact, WarningFact
from .warnings_world import COUNTY_NAME, TOWNSHIP_NAMES, Report, WarningsWorld

SCAN_STEP_MINUTES = 0.5
PERIODIC_MINUTES = 60.0   # a scan if none ran in the last hour (time-based rules)
SWEEP_MINUTES = 60.0      # the sweeper's time limits (accept/resolve limits, no-answer close)
HANDLER_NAMES = ("王建国", "李秀英", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄丽", "周强",
                 "吴敏", "徐刚", "孙燕", "马超", "朱红", "胡军", "郭芳", "何平", "林涛",
                 "高翔", "罗娟", "郑海", "梁晨", "谢东", "宋佳", "唐亮", "韩梅", "冯勇",
                 "邓琳", "曹阳", "彭辉", "曾蓉", "萧然", "田野", "董洁", "潘军", "袁丽",
                 "蒋文", "蔡明", "余波", "杜鹃", "叶青", "程刚", "魏华", "苏敏", "吕强",
                 "丁香", "沈杰", "任静", "姚远", "卢伟", "姜涛", "崔颖")


@contextmanager
def simulation_speedups(full_pass_minutes: float | None) -> Iterator[None]:
    """How often the scan re-scores every open dispute, for this process while the
    simulation runs (the service's ``FULL_DISPUTE_PASS``: 10 minutes, for the waiting
    time). New orders and events are scored by every scan regardless; a longer pass only
    delays warnings raised by waiting alone (none of the planted ones). In simulated
    time a pass every 10 minutes over all open disputes is most of the run's cost.
    None: unchanged.
    """
    original = warning_scan.FULL_DISPUTE_PASS
    if full_pass_minutes is not None:
        warning_scan.FULL_DISPUTE_PASS = timedelta(minutes=full_pass_minutes)
    try:
        yield
    finally:
        warning_scan.FULL_DISPUTE_PASS = original


def at(minute: float) -> datetime:
    return EPOCH + timedelta(minutes=minute)


def minute_of(when: datetime) -> float:
    return (when - EPOCH).total_seconds() / 60.0


@dataclass
class Run:
    """What the driver saw: orders by report key, threat carriers, scan timings."""

    numbers: dict[str, str] = field(default_factory=dict)  # report key → order number
    report_of: dict[str, Report] = field(default_factory=dict)  # number → its first report
    threats: dict[str, float] = field(default_factory=dict)  # order number → threat minute
    burst_numbers: dict[str, set[str]] = field(default_factory=dict)
    burst_times: dict[str, list[float]] = field(default_factory=dict)
    scan_ms: list[float] = field(default_factory=list)
    scans: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    rounds: dict[str, int] = field(default_factory=dict)  # number → follow-up answers given
    repeats_scheduled: int = 0
    wall_seconds: float = 0.0
    scan_error: str | None = None


class Driver:
    def __init__(self, world: WarningsWorld, db_path: Path, *, scan: bool = True) -> None:
        self.world = world
        url = f"sqlite:///{db_path}"
        migrate(url)
        self.engine = make_engine(url)
        self.sessions = make_session_factory(self.engine)
        self.config = ServiceConfig(taxonomy=load_taxonomy(), vault=Vault(EXAMPLE_KEY))
        self.scan: Callable[..., Any] | None = run_warning_scan if scan else None
        self.run = Run()
        self.queue: list[tuple[float, int, str, Any]] = []
        self.seq = 0
        self.end = world.days * MINUTES_PER_DAY
        self.pending_scan: float | None = None
        self.last_scan: float | None = None
        self.repeat_plans = {p.base: p for p in world.repeats}
        self.escalation_of = {e.threat.key: e for e in world.escalations}
        self.burst_of = {r.key: b.key for b in world.bursts for r in b.reports}

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, self.config)

    def push(self, minute: float, action: str, payload: Any) -> None:
        if minute < self.end:
            self.seq += 1
            heapq.heappush(self.queue, (minute, self.seq, action, payload))

    def count(self, name: str, table: dict[str, int] | None = None) -> None:
        table = self.run.calls if table is None else table
        table[name] = table.get(name, 0) + 1

    # ---- set-up

    def setup(self) -> None:
        now = at(-MINUTES_PER_DAY)
        add_area(self.uow(), COUNTY, COUNTY_NAME, "county")
        for t in TOWNSHIPS:
            add_area(self.uow(), t, TOWNSHIP_NAMES[t], "township", COUNTY)
        for g in GRIDS:
            add_area(self.uow(), g, self.world.communities[g].name, "grid", TOWNSHIP_OF[g])
        taxonomy = self.config.taxonomy
        names = iter(HANDLER_NAMES)
        for area, tier in ([(g, "grid") for g in GRIDS] + [(t, "township") for t in TOWNSHIPS]
                           + [(COUNTY, "county")]):
            for kind, role in taxonomy.kinds.items():
                skills = [c.code for c in taxonomy.categories.values() if c.kind == kind]
                create_handler(self.uow(), HandlerCreate(
                    name=next(names, f"处理员{area}{role}"), role=role, tier=tier, skills=skills,
                    areas=[area], capacity=200, is_supervisor=tier != "grid"), now)

    # ---- the loop

    def execute(self, progress: Callable[[float], None] | None = None) -> Run:
        started = time.perf_counter()
        self.setup()
        for r in self.world.reports:
            self.push(r.at, "report", r)
        periodic = 0.0
        while periodic < self.end:
            self.push(periodic, "tick", None)
            periodic += PERIODIC_MINUTES
        last_progress = 0.0
        while self.queue:
            minute, _, action, payload = heapq.heappop(self.queue)
            if self.pending_scan is not None and self.pending_scan <= minute:
                self.do_scan(self.pending_scan)
                self.pending_scan = None
            if action == "tick":
                self.tick(minute)
            else:
                relevant = getattr(self, f"on_{action}")(minute, payload)
                if relevant and self.pending_scan is None:
                    self.pending_scan = math.ceil(minute / SCAN_STEP_MINUTES) * SCAN_STEP_MINUTES
            if progress and minute - last_progress >= MINUTES_PER_DAY:
                last_progress = minute
                progress(minute)
        if self.pending_scan is not None and self.pending_scan < self.end:
            self.do_scan(self.pending_scan)
        self.run.wall_seconds = time.perf_counter() - started
        return self.run

    def do_scan(self, minute: float) -> None:
        if self.scan is None:
            return
        t0 = time.perf_counter()
        try:
            self.scan(self.uow, at(minute))
        except NotImplementedError as exc:  # the detectors are still stubs on this branch
            self.run.scan_error = f"run_warning_scan: NotImplementedError {exc}".strip()
            self.scan = None
            return
        self.run.scan_ms.append((time.perf_counter() - t0) * 1000.0)
        self.last_scan = minute
        self.run.scans += 1

    def tick(self, minute: float) -> None:
        if minute % SWEEP_MINUTES == 0:
            report = run_time_limits(self.uow, at(minute))
            moved = set(report.accept_timeouts) | set(report.escalated) | set(report.overdue) \
                | set(report.dispatched)
            for number in moved:
                self.follow(minute, number, 10.0)
        if self.last_scan is None or minute - self.last_scan >= PERIODIC_MINUTES:
            self.do_scan(minute)
        if self.pending_scan is not None and self.pending_scan <= minute:
            self.pending_scan = None

    def follow(self, minute: float, number: str, delay: float) -> None:
        """The order has (maybe) a new assignee: they accept after ``delay`` minutes."""
        view = get_order(self.uow(), number)
        if view.status == "assigned" and view.assignee_id is not None:
            self.push(minute + delay, "accept", (number, view.assignee_id))
        elif view.status in ("accepted", "in_progress") and view.assignee_id is not None:
            self.push(minute + delay, "resolve", (number, view.assignee_id))

    # ---- what people do

    def on_report(self, minute: float, r: Report) -> bool:
        now = at(minute)
        if r.attach_to is not None and r.attach_to in self.run.numbers:
            number = self.run.numbers[r.attach_to]
            try:
                attach_report_to(self.uow(), number, r.reporter, r.description, now)
            except ServiceError:
                self.count("attach refused: order done, reported anew", self.run.skipped)
            else:
                self.count("attach_report_to")
                self.run.numbers[r.key] = number
                self._note_truth(r, number, minute)
                return True
            r.description = r.description if not r.threat else \
                f"上次的纠纷又闹起来了。{r.description}"
        data = OrderCreate(category=r.category, description=r.description,
                           location_text=r.location_text, area_code=r.grid,
                           reporter_channel="web", reporter_ref=r.reporter,
                           priority="urgent" if r.urgent else "normal")
        opened = open_order(self.uow(), data, now)
        self.count("open_order")
        view = opened.order
        self.run.numbers[r.key] = view.number
        self.run.report_of[view.number] = r
        self._note_truth(r, view.number, minute)
        if view.assignee_id is not None:
            self.push(minute + r.accept_delay, "accept", (view.number, view.assignee_id))
        if r.co_report_delay is not None:
            self.push(minute + r.co_report_delay, "co_report", r)
        return True

    def _note_truth(self, r: Report, number: str, minute: float) -> None:
        if r.threat:
            self.run.threats.setdefault(number, minute)
        burst = self.burst_of.get(r.key)
        if burst is not None:
            self.run.burst_numbers.setdefault(burst, set()).add(number)
            self.run.burst_times.setdefault(burst, []).append(minute)

    def on_co_report(self, minute: float, r: Report) -> bool:
        number = self.run.numbers[r.key]
        text = CO_TEXT[zlib.crc32(r.key.encode()) % len(CO_TEXT)]
        try:
            attach_report_to(self.uow(), number, f"web:{r.key}-neighbour", text, at(minute))
        except ServiceError:
            self.count("co-report too late", self.run.skipped)
            return False
        self.count("attach_report_to")
        return True

    def _act(self, minute: float, name: str, number: str, call: Callable[[], Any]) -> bool:
        try:
            call()
        except (ServiceError, DomainError):
            self.count(f"{name}: order moved on", self.run.skipped)
            self.follow(minute, number, 10.0)
            return False
        self.count(name)
        return True

    def on_accept(self, minute: float, payload: tuple[str, int]) -> bool:
        number, handler = payload
        if not self._act(minute, "accept", number,
                         lambda: accept(self.uow(), number, handler, at(minute))):
            return False
        r = self.run.report_of[number]
        self.push(work_finish(minute, r.work), "resolve", (number, handler))
        return False  # nothing a detector looks at

    def on_resolve(self, minute: float, payload: tuple[str, int]) -> bool:
        number, handler = payload
        r = self.run.report_of[number]
        note = "已到现场处理完毕。" if not r.category.startswith("request.") \
            else "已电话答复居民，具体办理材料已告知。"
        if not self._act(minute, "resolve", number,
                         lambda: resolve(self.uow(), number, handler, note, at(minute))):
            return False
        round_ = self.run.rounds.get(number, 0)
        answer = r.answer if round_ == 0 else r.second_answer
        if answer is not None:
            self.push(minute + r.answer_delay, "answer", (number, answer))
        plan = self.repeat_plans.pop(r.key, None)
        if plan is not None:
            plan.report.at = minute + plan.after_days * MINUTES_PER_DAY
            self.run.repeats_scheduled += 1
            self.push(plan.report.at, "report", plan.report)
        return False  # a finished order leaves the dispute scan; nothing new to test

    def on_answer(self, minute: float, payload: tuple[str, str]) -> bool:
        number, answer = payload
        r = self.run.report_of[number]
        reason = r.reason if answer == "unsatisfied" else None
        try:
            view = answer_satisfaction(self.uow(), number, r.reporter, answer, reason, at(minute))
        except (ServiceError, DomainError):
            self.count("answer too late (closed by the sweeper)", self.run.skipped)
            return False
        self.count("answer_satisfaction")
        self.run.rounds[number] = self.run.rounds.get(number, 0) + 1
        if view.status == "assigned" and view.assignee_id is not None:
            self.push(minute + r.accept_delay, "accept", (number, view.assignee_id))
        return answer == "unsatisfied"  # a reopening raises a dispute's risk

    # ---- what ended up in the database

    def facts(self) -> tuple[dict[str, OrderFact], list[WarningFact], list[BurstFact]]:
        with self.sessions() as s:
            rows = s.execute(select(WorkOrder.id, WorkOrder.number, WorkOrder.area_code,
                                    WorkOrder.category, WorkOrder.kind, WorkOrder.created_at)).all()
            number_of = {row.id: row.number for row in rows}
            history: dict[int, list[tuple[float, str]]] = {}
            for order_id, when, to in s.execute(
                    select(OrderEvent.order_id, OrderEvent.at, OrderEvent.to_status)
                    .order_by(OrderEvent.order_id, OrderEvent.seq)):
                history.setdefault(order_id, []).append((minute_of(when), to))
            orders = {}
            for row in rows:
                r = self.run.report_of[row.number]
                orders[row.number] = OrderFact(
                    row.number, row.area_code, row.category, row.kind, r.place.key,
                    minute_of(row.created_at), tuple(history.get(row.id, ())))
            members: dict[int, list[str]] = {}
            for wid, oid in s.execute(select(WarningOrder.warning_id, WarningOrder.order_id)):
                members.setdefault(wid, []).append(number_of[oid])
            warnings = [WarningFact(
                w.id, w.kind, w.level, w.area_code, w.category,
                number_of.get(w.order_id) if w.order_id is not None else None,
                minute_of(w.created_at), tuple(members.get(w.id, ())), w.explanation)
                for w in s.scalars(select(RiskWarning).order_by(RiskWarning.id))]
        bursts = [BurstFact(b.key, b.grid, b.category, b.start, b.end,
                            frozenset(self.run.burst_numbers.get(b.key, ())),
                            tuple(sorted(self.run.burst_times.get(b.key, ()))))
                  for b in self.world.bursts]
        return orders, warnings, bursts

    def dispose(self) -> None:
        self.engine.dispose()


CO_TEXT = ("我也是这栋楼的，这个问题确实存在，希望尽快处理。", "我也看到了，情况跟他说的一样。",
           "同一个问题，我们这边也是这样。")
