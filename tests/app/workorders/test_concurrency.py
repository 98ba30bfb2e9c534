"""Parallel writers on SQLite (a file) and PostgreSQL: capacity holds (over it by one
urgent order at most), nothing happens twice."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import func, select

from integrations.workorders.adapters.orm import OrderEvent, OutboxMessage, WorkOrder
from integrations.workorders.domain import IllegalTransition
from integrations.workorders.service import (
    Forbidden,
    OrderCreate,
    accept,
    create_order,
    decline,
    handler_load,
    run_time_limits,
    verify_audit,
)

REPORTS = 200
HANDLERS = 10
CAPACITY = 18  # 180 places for 200 reports: 20 must wait


def run_in_threads(count, work, workers):
    """Run ``work(i)`` for i in range(count) on ``workers`` threads released together."""
    start = threading.Barrier(workers)
    local = threading.local()

    def task(i):
        if not getattr(local, "started", False):
            local.started = True
            start.wait(timeout=60)
        return work(i)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(task, i) for i in range(count)]
        return [f.exception() or f.result() for f in futures]


def test_parallel_creates_respect_capacity_and_assign_each_order_once(any_world):
    w = any_world
    handlers = [w.handler(f"调解员{i}", capacity=CAPACITY) for i in range(HANDLERS)]

    def report(i):
        return create_order(w.uow(), OrderCreate(
            category="dispute.neighbor", description=f"第{i}号反映：楼上噪音",
            location_text=f"幸福里{i}号楼", area_code="grid:qy-dz-01",
            reporter_channel="tg", reporter_ref=f"tg:{i}", client_ref=f"req-{i}",
        ), w.clock)

    results = run_in_threads(REPORTS, report, workers=REPORTS if w.db.backend == "sqlite" else 50)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []

    with w.db.session() as s:
        orders = s.scalars(select(WorkOrder)).all()
        dispatches = Counter(s.scalars(
            select(OrderEvent.order_id).where(OrderEvent.action == "dispatch")))
        dispatch_target = dict(s.execute(
            select(OrderEvent.order_id, OrderEvent.handler_id).where(OrderEvent.action == "dispatch")
        ).all())
        handler_rows = Counter(s.scalars(
            select(OutboxMessage.order_number).where(OutboxMessage.recipient_kind == "handler")))
        outbox_total = s.scalar(select(func.count()).select_from(OutboxMessage))

    assert len(orders) == REPORTS
    by_status = Counter(o.status for o in orders)
    assert by_status == {"assigned": HANDLERS * CAPACITY, "pending": REPORTS - HANDLERS * CAPACITY}
    for order in orders:
        if order.status == "assigned":
            assert dispatches[order.id] == 1
            assert dispatch_target[order.id] == order.assignee_id
            assert handler_rows[order.number] == 1
        else:
            assert dispatches[order.id] == 0 and order.assignee_id is None
    loads = [handler_load(w.uow(), h) for h in handlers]
    assert max(loads) <= CAPACITY
    assert max(loads) - min(loads) <= 1
    assert sum(loads) == HANDLERS * CAPACITY
    assert outbox_total == REPORTS  # one message per order: its handler or the dispatcher
    assert verify_audit(w.uow()) == []


def test_parallel_urgent_orders_take_each_full_handler_over_by_one_at_most(any_world):
    """Everyone full; urgent and normal reports race: each handler gets exactly one urgent
    order over capacity, the other urgent orders and every normal one wait."""
    w = any_world
    full_handlers = 6
    handlers = [w.handler(f"调解员{i}", capacity=3) for i in range(full_handlers)]
    for i in range(full_handlers * 3):
        assert w.order(reporter_ref=f"tg:fill{i}").status == "assigned"
    racing = 30  # 15 urgent, 15 normal

    def report(i):
        return create_order(w.uow(), OrderCreate(
            category="dispute.neighbor", description=f"第{i}号反映：有人受伤", priority=(
                "urgent" if i % 2 else "normal"),
            location_text=f"幸福里{i}号楼", area_code="grid:qy-dz-01",
            reporter_channel="tg", reporter_ref=f"tg:{i}", client_ref=f"race-{i}",
        ), w.clock)

    results = run_in_threads(racing, report, workers=racing)
    assert [r for r in results if isinstance(r, BaseException)] == []
    by = Counter((r.priority, r.status) for r in results)
    assert by == {("urgent", "assigned"): full_handlers,
                  ("urgent", "pending"): racing // 2 - full_handlers,
                  ("normal", "pending"): racing // 2}
    urgent_holders = Counter(r.assignee_id for r in results if r.status == "assigned")
    assert sorted(urgent_holders) == sorted(handlers)
    assert set(urgent_holders.values()) == {1}
    assert [handler_load(w.uow(), h) for h in handlers] == [6] * full_handlers
    with w.db.session() as s:
        dispatches = Counter(s.scalars(
            select(OrderEvent.order_id).where(OrderEvent.action == "dispatch")))
    assert max(dispatches.values()) == 1
    assert verify_audit(w.uow()) == []


def test_accept_and_decline_racing_on_one_order_only_one_wins(any_world):
    w = any_world
    first = w.handler(capacity=20)
    numbers = [w.order(reporter_ref=f"tg:{i}").number for i in range(12)]
    assert all(w.row(n).assignee_id == first for n in numbers)
    w.handler("李调解", capacity=20)  # where declined orders go

    def act(i):
        number = numbers[i // 2]
        try:
            if i % 2:
                decline(w.uow(), number, first, "忙", w.clock)
            else:
                accept(w.uow(), number, first, w.clock)
            return "won"
        except (IllegalTransition, Forbidden):
            return "lost"

    results = run_in_threads(len(numbers) * 2, act, workers=8)
    assert [r for r in results if r not in ("won", "lost")] == []
    for number in numbers:
        actions = [e.action for e in w.events(number) if e.handler_id == first]
        assert actions.count("accept") + actions.count("decline") == 1, actions
    assert Counter(results) == {"won": len(numbers), "lost": len(numbers)}


def test_two_sweepers_handle_each_due_order_exactly_once(any_world):
    w = any_world
    grid = w.handler(capacity=40)
    w.handler("镇调解员", tier="township", capacity=80)
    w.handler("镇督办", tier="township", capacity=0, is_supervisor=True)
    unaccepted = [w.order(reporter_ref=f"tg:a{i}").number for i in range(12)]
    accepted = [w.order(reporter_ref=f"tg:b{i}").number for i in range(12)]
    for number in accepted:
        accept(w.uow(), number, grid, w.clock)
    when = w.clock + timedelta(hours=169)  # past accept_by and resolve_by
    barrier = threading.Barrier(2)

    def sweeper(_):
        barrier.wait(timeout=30)
        return run_time_limits(w.uow, when)

    reports = run_in_threads(2, sweeper, workers=2)
    assert not any(isinstance(r, BaseException) for r in reports), reports
    timeouts = reports[0].accept_timeouts + reports[1].accept_timeouts
    escalated = reports[0].escalated + reports[1].escalated
    assert sorted(timeouts) == sorted(unaccepted)  # each once, across both
    assert sorted(escalated) == sorted(accepted)
    assert reports[0].failed == reports[1].failed == []
    for number in unaccepted:
        assert w.actions(number).count("accept_timeout") == 1
    for number in accepted:
        assert w.actions(number).count("escalate") == 1
        assert len(w.outbox(number, recipient_kind="supervisor")) == 1
    assert verify_audit(w.uow()) == []


def test_parallel_retries_of_one_request_make_one_order(any_world):
    w = any_world
    w.handler(capacity=50)

    def submit(_):
        return create_order(w.uow(), OrderCreate(
            category="dispute.neighbor", description="楼上噪音", location_text="幸福里3号楼",
            area_code="grid:qy-dz-01", reporter_channel="tg", reporter_ref="tg:1",
            client_ref="same-request",
        ), w.clock).number

    results = run_in_threads(12, submit, workers=12)
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert len(set(results)) == 1
    assert w.count(WorkOrder) == 1
    assert len(w.outbox()) == 1
    assert w.actions(results[0]) == ["create", "dispatch"]
