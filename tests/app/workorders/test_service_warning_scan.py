"""The 研判预警 scan: disputes at risk and surges, raised once, updated as they grow,
and one warning when two scans run at once."""

from __future__ import annotations

import threading

from integrations.workorders.adapters.orm import ScanCursor
from integrations.workorders.service import attach_report_to, verify_audit
from integrations.workorders.service.warning_scan import forget_caches, run_warning_scan
from tests.app.warnings_world import (
    staff_with_chats,
    warning_events,
    warning_notices,
    warning_orders,
    warnings,
)

THREAT = "邻居天天半夜砸墙，我跟他吵了好几次，他说再吵就要弄死我，还拿刀在门口晃。"
WATER = dict(category="incident.water", description="路上水管爆了，水一直往外冒。",
             location_text="幸福里小区门口")


def scan(w, **delta):
    return run_warning_scan(w.uow, w.tick(**delta) if delta else w.clock)


def setup_function() -> None:
    forget_caches()


# ------------------------------------------------------------ disputes at risk


def test_a_threatening_dispute_is_warned_moved_up_and_made_urgent(any_world):
    w = any_world
    grid = w.handler()
    town = w.handler("镇调解员", tier="township")
    staff_with_chats(w)
    order = w.order(description=THREAT, reporter_ref="tg:55")
    assert w.row(order.number).assignee_id == grid

    report = scan(w, seconds=30)
    assert report.dispute_risk == 1 and report.moved == [order.number]
    (warning,) = warnings(w, "dispute_risk")
    row = w.row(order.number)
    assert warning.dedupe_key == f"dispute_risk:{row.id}"
    assert warning.level in ("warning", "urgent")
    assert order.number in warning.explanation
    assert warning.details["score"] >= 60
    assert any("弄死" in r["text"] or "刀" in r["text"] for r in warning.details["reasons"])
    assert warning_orders(w, warning.id) == {order.number: "trigger"}
    assert (row.tier, row.assignee_id, row.priority, row.breached) == (
        "township", town, "urgent", False)
    actions = w.actions(order.number)
    assert actions[-4:] == ["risk", "priority", "escalate", "dispatch"]
    withdrawn = w.outbox(order.number, recipient_ref=str(grid), topic="order.withdrawn")
    assert len(withdrawn) == 1
    resident = w.outbox(order.number, recipient_kind="resident")
    assert [m.payload["event"] for m in resident].count("escalated") == 1
    notices = warning_notices(w, warning.id)
    assert {m.recipient_ref for m in notices} == {"staff:disp", "staff:boss"}

    # later scans: no second warning, no second move, nothing more to the resident
    for minutes in (1, 11, 30):
        scan(w, minutes=minutes)
    assert len(warnings(w, "dispute_risk")) == 1
    assert w.actions(order.number)[-4:] == ["risk", "priority", "escalate", "dispatch"]
    resident_after = w.outbox(order.number, recipient_kind="resident")
    assert len(resident_after) == len(resident)
    assert len(warning_notices(w, warning.id)) == len(notices)
    assert verify_audit(w.uow()) == []


def test_a_dispute_grows_worse_and_its_warning_is_upgraded_not_duplicated(world):
    w = world
    w.handler()
    w.handler("镇调解员", tier="township")
    staff_with_chats(w)
    order = w.order(description="楼上邻居装修太吵，跟他吵了一架，他说要打断我的腿。")
    scan(w, seconds=30)
    before = warnings(w, "dispute_risk")
    for i, text in enumerate(("他拿着刀在楼道里等我，说要跟我同归于尽。",
                              "我看见他提着汽油桶，说要烧他家。")):
        attach_report_to(w.uow(), order.number, f"tg:{300 + i}", text, w.tick(minutes=5))
    scan(w, seconds=30)
    (warning,) = warnings(w, "dispute_risk")
    assert warning.level == "urgent"
    if before:
        assert before[0].id == warning.id
        assert [e.action for e in warning_events(w, warning.id)] == ["raise", "update"]
    assert sorted(m.payload["level"] for m in warning_notices(w, warning.id)).count("urgent") == 2


def test_calm_and_negated_disputes_raise_nothing(world):
    w = world
    w.handler()
    calm = w.order()
    negated = w.order(description="我跟邻居吵了两句，但我没想打他，只想让他晚上小声点。",
                      location_text="和平街8号")
    scan(w, seconds=30)
    scan(w, minutes=15)
    assert warnings(w) == []
    assert w.row(calm.number).tier == w.row(negated.number).tier == "grid"


# --------------------------------------------------------------------- surges


def test_a_burst_of_reports_is_one_surge_warning_updated_as_it_grows(any_world):
    w = any_world
    staff_with_chats(w)
    first = w.order(**WATER)
    for _ in range(3):
        w.tick(minutes=4)
        w.order(**WATER)
    attach_report_to(w.uow(), first.number, "tg:500", "门口的水管还在喷水。", w.tick(minutes=2))
    report = scan(w, seconds=30)
    assert report.surge == 1
    (warning,) = warnings(w, "surge")
    assert (warning.area_code, warning.category, warning.level) == (
        "grid:qy-dz-01", "incident.water", warning.level)
    assert warning.details["observed"] == 5  # four orders and one co-report
    assert "供排水问题" in warning.explanation
    assert len(warning_orders(w, warning.id)) == 4
    assert {m.recipient_ref for m in warning_notices(w, warning.id)} == {
        "staff:disp", "staff:boss"}

    assert scan(w, seconds=30).surge == 0  # nothing new: nothing changes
    assert [e.action for e in warning_events(w, warning.id)] == ["raise"]

    for _ in range(4):
        w.tick(minutes=3)
        w.order(**WATER)
    scan(w, seconds=30)
    (grown,) = warnings(w, "surge")
    assert grown.id == warning.id
    assert grown.details["observed"] == 9
    assert len(warning_orders(w, warning.id)) == 8
    assert "update" in [e.action for e in warning_events(w, warning.id)]
    assert w.count(ScanCursor) == 3


def test_two_reports_are_no_surge(world):
    w = world
    w.order(**WATER)
    w.tick(minutes=10)
    w.order(**WATER)
    assert scan(w, seconds=30).surge == 0
    assert warnings(w) == []


def test_two_scans_at_once_raise_one_warning_each(pg_world):
    w = pg_world
    staff_with_chats(w)
    w.handler()
    w.handler("镇调解员", tier="township")
    for _ in range(5):
        w.tick(minutes=2)
        w.order(**WATER)
    w.order(description=THREAT, location_text="和平街3号")
    now = w.tick(seconds=30)
    barrier = threading.Barrier(2)
    reports, errors = [], []

    def run() -> None:
        try:
            barrier.wait()
            reports.append(run_warning_scan(w.uow, now))
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(r.failed for r in reports) == 0
    assert len(warnings(w, "surge")) == 1
    assert len(warnings(w, "dispute_risk")) == 1
    for warning in warnings(w):
        assert [e.action for e in warning_events(w, warning.id)] == ["raise"]
        refs = [m.recipient_ref for m in warning_notices(w, warning.id)]
        assert sorted(refs) == ["staff:boss", "staff:disp"]
    assert sum(len(r.moved) for r in reports) == 1
