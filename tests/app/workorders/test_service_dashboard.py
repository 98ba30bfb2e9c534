"""The dashboard's use case: China-time buckets, backlog ages, reasons, the audit check."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from integrations.workorders.service import InvalidInput
from integrations.workorders.service.dashboard import (
    audit_check_due,
    bucket_start,
    check_audit_chains,
    choose_bucket,
    dashboard,
    latest_audit_check,
    reason_of,
    refresh_audit_check,
)

T0 = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)  # the world's start: 09:00 China time


def test_buckets_are_china_days_and_ages_are_now_relative(any_world):
    w = any_world
    w.handler(capacity=10)
    w.order()  # 2025-03-03 09:00 China
    w.clock = datetime(2025, 3, 3, 16, 30, tzinfo=UTC)  # 2025-03-04 00:30 China
    w.order()
    w.clock = T0 - timedelta(days=40)
    w.order()  # outside the period, 40 days old at the end
    now = T0 + timedelta(days=5)
    board = dashboard(w.uow(), datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 8, tzinfo=UTC),
                      now=now)
    created = {p.start: p.created for p in board.trend if p.created}
    assert created == {date(2025, 3, 3): 1, date(2025, 3, 4): 1}
    assert board.trend[0].start == date(2025, 3, 1)  # 08:00 China: March 1st
    assert board.trend[-1].start == date(2025, 3, 8)  # 00:00 UTC of the 8th is 08:00 China
    assert [(b.label, b.count) for b in board.backlog] == [
        ("<1天", 0), ("1–3天", 0), ("3–7天", 2), ("7–30天", 0), (">30天", 1)]
    assert board.overall.created == 2 and board.audit is None
    scoped = dashboard(w.uow(), T0, now, area_codes={"grid:qy-dz-02"}, now=now)
    assert scoped.overall.created == 0 and scoped.scoped
    with pytest.raises(InvalidInput):
        dashboard(w.uow(), now, T0, now=now)


def test_choosing_buckets():
    assert choose_bucket(T0, T0 + timedelta(days=31)) == "day"
    assert choose_bucket(T0, T0 + timedelta(days=365)) == "week"
    assert choose_bucket(T0, T0 + timedelta(days=800)) == "month"
    assert bucket_start(date(2025, 3, 5), "week") == date(2025, 3, 3)  # a Monday
    assert bucket_start(date(2025, 3, 5), "month") == date(2025, 3, 1)


def test_reason_of():
    assert reason_of("不满意：还是漏水") == "还是漏水"
    assert reason_of("不满意") is None
    assert reason_of("电话回访，居民说没修好") is None  # a staff member's reopen note


def test_audit_check_is_stored_and_run_only_when_due(world):
    w = world
    w.handler()
    w.order()
    assert latest_audit_check(w.uow()) is None and audit_check_due(None, T0)
    state = check_audit_chains(w.uow(), T0)
    assert (state.ok, state.orders, state.broken) == (True, 1, 0)
    assert latest_audit_check(w.uow()) == state
    assert refresh_audit_check(w.uow, T0 + timedelta(minutes=29)) is None  # not due yet
    again = refresh_audit_check(w.uow, T0 + timedelta(minutes=30))
    assert again is not None and again.checked_at == T0 + timedelta(minutes=30)
