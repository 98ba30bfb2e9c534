"""Weekly 研判 reports: the body's numbers against a world built here, the Monday job's
delivery (each once), and the notifier posting the report to the reports webhook."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from integrations.workorders.adapters.orm import StaffUser, WorkOrder
from integrations.workorders.adapters.warnings_tables import (
    RiskWarning,
    WarningOrder,
    WeeklyReport,
)
from integrations.workorders.notifier import drain, verify_signature
from integrations.workorders.notifier.process import build_registry
from integrations.workorders.service import (
    InvalidInput,
    NotFound,
    accept,
    answer_satisfaction,
    create_staff_user,
    resolve,
)
from integrations.workorders.service.weekly_reports import (
    build_weekly_report,
    get_weekly_report,
    list_weekly_reports,
    run_weekly_reports,
    week_of,
)
from integrations.workorders.settings import Settings
from tests.app.test_notifier import SECRET, Clock, FixedRandom, Receiver
from tests.app.world import T0

WEEK = date(2025, 3, 3)  # T0's Monday
INCIDENTS = ["incident.water", "incident.facility"]
#: The Monday after WEEK, 08:30 China time.
NEXT_MONDAY = datetime(2025, 3, 10, 0, 30, tzinfo=UTC)


def add_warning(w, kind, numbers, *, area="grid:qy-dz-01", level="warning", details=None,
                at=None):
    with w.db.session() as s:
        ids = [s.scalar(select(WorkOrder.id).where(WorkOrder.number == n)) for n in numbers]
        warning = RiskWarning(
            kind=kind, level=level, state="open", area_code=area, category="incident.water",
            dedupe_key=f"{kind}:{area}:{numbers[0]}", explanation=f"{kind} 说明",
            details=details or {}, order_id=ids[-1], created_at=at or w.clock,
            updated_at=at or w.clock)
        s.add(warning)
        s.flush()
        for i, order_id in enumerate(ids):
            s.add(WarningOrder(warning_id=warning.id, order_id=order_id,
                               role="trigger" if i == len(ids) - 1 else "member",
                               added_at=w.clock))
        s.commit()
        return warning.id


@pytest.fixture
def week(any_world):
    """One week of 东镇 (and one order of 西镇), with the week before."""
    w = any_world
    worker = w.handler("张网格", role="grid_worker", skills=INCIDENTS, capacity=50,
                       areas=["grid:qy-dz-01", "grid:qy-dz-02", "grid:qy-xz-01"])
    w.clock = T0 - timedelta(days=7)
    w.order(category="incident.water", description="漏水", location_text="幸福里小区3号楼")
    w.clock = T0
    water = [w.order(category="incident.water", description="漏水",
                     location_text=text).number
             for text in ("幸福里小区3号楼", "幸福里小区3号楼门口", "幸福里小区3号楼")]
    lamps = [w.order(category="incident.facility", description="路灯不亮",
                     location_text="和平街路灯", area_code="grid:qy-dz-02").number
             for _ in range(2)]
    west = w.order(category="incident.water", description="漏水", location_text="西镇菜场",
                   area_code="grid:qy-xz-01").number
    accept(w.uow(), water[0], worker, w.clock)
    accept(w.uow(), water[1], worker, w.clock)
    w.tick(hours=5)
    resolve(w.uow(), water[0], worker, "已修好", w.clock)
    resolve(w.uow(), water[1], worker, "已修好", w.clock)
    w.tick(hours=1)
    refs = {n: w.row(n).reporter_ref for n in water}
    answer_satisfaction(w.uow(), water[0], refs[water[0]], "satisfied", None, w.clock)
    answer_satisfaction(w.uow(), water[1], refs[water[1]], "unsatisfied", "还在漏水", w.clock)
    add_warning(w, "surge", water)
    add_warning(w, "repeat", [water[2]], details={"sham": True})
    add_warning(w, "dispute_risk", [lamps[0]], area="grid:qy-dz-02", level="urgent")
    add_warning(w, "surge", [west], area="grid:qy-xz-01")
    return w, water, lamps, west


def test_the_report_body_matches_the_week(week):
    w, water, lamps, west = week
    view = build_weekly_report(w.uow(), "township:qy-dz", WEEK, now=NEXT_MONDAY,
                               actor="staff:boss")
    body = view.body
    assert (view.area_name, view.week, view.created_by) == ("东镇", WEEK, "staff:boss")
    assert body["period"] == {"start": "2025-03-03T00:00:00+08:00",
                              "end": "2025-03-10T00:00:00+08:00"}
    assert body["scorecard"] == {
        "created": 5, "resolution_rate": 0.2, "on_time_rate": 1.0, "accept_timely_rate": 1.0,
        "satisfaction_rate": 0.5, "repeat_rate": 0.2}
    assert [(t["week"], t["created"]) for t in body["trend"]] == [
        ("2025-02-10", 0), ("2025-02-17", 0), ("2025-02-24", 1), ("2025-03-03", 5)]
    assert body["trend"][-1]["resolution_rate"] == 0.2
    assert body["trend"][0]["resolution_rate"] is None
    top = body["hotspots"]["top"]
    assert [(h["place"], h["area_code"], h["category"], h["count"], h["change"])
            for h in top] == [
        ("幸福里小区3号楼", "grid:qy-dz-01", "incident.water", 3, 2.75),
        ("和平街路灯", "grid:qy-dz-02", "incident.facility", 2, 2.0)]
    assert top[0]["area_name"] == "东镇幸福里网格"
    assert top[0]["median_resolve_hours"] == 5.0
    assert [h["place"] for h in body["hotspots"]["slowest"]] == ["幸福里小区3号楼"]
    (surge,) = body["surges"]  # 西镇's surge is not 东镇's
    assert surge["order_numbers"] == water and surge["level"] == "warning"
    assert [r["order_numbers"] for r in body["repeats"]] == [[water[2]]]
    assert body["repeat_summary"] == {"count": 1, "sham": 1}
    assert [d["level"] for d in body["disputes_at_risk"]] == ["urgent"]
    assert body["unsatisfied_reasons"] == [{"reason": "还在漏水", "count": 1}]
    assert body["headline"].startswith("东镇本周受理5件，办结率20%，按时办结率100%，满意率50%；")
    assert "激增1起" in body["headline"] and "幸福里小区3号楼" in body["headline"]

    # the top hotspots became warnings of their grids (once, even when rebuilt)
    build_weekly_report(w.uow(), "township:qy-dz", WEEK, now=NEXT_MONDAY, actor="system")
    with w.db.session() as s:
        hot = s.scalars(select(RiskWarning).where(RiskWarning.kind == "hotspot")
                        .order_by(RiskWarning.id)).all()
        assert [(h.dedupe_key, h.level, h.area_code) for h in hot] == [
            ("hotspot:grid:qy-dz-01:2025-03-03:幸福里小区3号楼", "attention", "grid:qy-dz-01"),
            ("hotspot:grid:qy-dz-02:2025-03-03:和平街路灯", "attention", "grid:qy-dz-02")]
        assert hot[0].explanation == (
            "东镇幸福里网格 幸福里小区3号楼 本周供排水问题3件（此前每周平均0.2件）")
        assert s.scalars(select(WeeklyReport)).all()[0].created_by == "system"
        assert len(s.scalars(select(WeeklyReport)).all()) == 1  # replaced, not added


def test_the_county_report_covers_every_township(week):
    w, water, lamps, west = week
    body = build_weekly_report(w.uow(), "county:qy", WEEK, now=NEXT_MONDAY,
                               actor="system").body
    assert body["scorecard"]["created"] == 6
    assert len(body["surges"]) == 2
    assert get_weekly_report(w.uow(), "county:qy", WEEK).body == body
    assert get_weekly_report(w.uow(), "county:qy", WEEK - timedelta(days=7)) is None


def test_refusals(any_world):
    w = any_world
    with pytest.raises(InvalidInput):
        build_weekly_report(w.uow(), "grid:qy-dz-01", WEEK, now=NEXT_MONDAY, actor="system")
    with pytest.raises(InvalidInput):
        build_weekly_report(w.uow(), "township:qy-dz", date(2025, 3, 4), now=NEXT_MONDAY,
                            actor="system")
    with pytest.raises(InvalidInput):  # not begun yet
        build_weekly_report(w.uow(), "township:qy-dz", date(2025, 3, 17), now=NEXT_MONDAY,
                            actor="system")
    with pytest.raises(NotFound):
        build_weekly_report(w.uow(), "township:nowhere", WEEK, now=NEXT_MONDAY, actor="system")


def test_week_of_is_the_china_monday():
    from integrations.workorders.service.config import CHINA_TZ

    assert week_of(datetime(2025, 3, 2, 16, 0, tzinfo=UTC), CHINA_TZ) == WEEK  # Mon 00:00 CST
    assert week_of(datetime(2025, 3, 2, 15, 59, tzinfo=UTC), CHINA_TZ) == date(2025, 2, 24)


def staff(w, name, role, areas, chat):
    create_staff_user(w.uow(), name, role, f"token-{name}-0123456789abcdef", w.clock,
                      areas=areas)
    with w.db.session() as s:
        user = s.scalars(select(StaffUser).where(StaffUser.username == name)).one()
        user.telegram_chat_id = chat
        s.commit()


def test_the_monday_job_builds_and_delivers_each_report_once(week):
    w, water, lamps, west = week
    staff(w, "dz_boss", "supervisor", ["township:qy-dz"], "501")
    staff(w, "chief", "admin", [], "502")
    staff(w, "desk", "dispatcher", ["township:qy-dz"], "503")  # dispatchers: not sent
    staff(w, "quiet", "supervisor", ["township:qy-dz"], None)  # no chat: not sent
    assert run_weekly_reports(w.uow, NEXT_MONDAY - timedelta(hours=1)) == []  # 07:30
    assert w.count(WeeklyReport) == 0

    done = run_weekly_reports(w.uow, NEXT_MONDAY)
    assert sorted(done) == ["county:qy:2025-03-03", "township:qy-dz:2025-03-03",
                            "township:qy-xz:2025-03-03"]
    rows = w.outbox(topic="report.weekly")
    sent = sorted((m.recipient_ref, m.channel, m.payload["area_code"]) for m in rows)
    assert sent == sorted([
        ("staff:dz_boss", "telegram", "township:qy-dz"),
        ("staff:chief", "telegram", "township:qy-dz"),
        ("staff:chief", "telegram", "township:qy-xz"),
        ("staff:chief", "telegram", "county:qy"),
        ("township:qy-dz", "reports", "township:qy-dz"),
        ("township:qy-xz", "reports", "township:qy-xz"),
        ("county:qy", "reports", "county:qy"),
    ])
    boss = next(m for m in rows if m.recipient_ref == "staff:dz_boss")
    assert boss.payload["chat_id"] == "501"
    assert boss.payload["text"].startswith("【研判周报】东镇 3月3日当周：东镇本周受理5件")
    assert boss.payload["text"].endswith("/console/reports/township:qy-dz/2025-03-03")
    report_row = next(m for m in rows if m.channel == "reports"
                      and m.recipient_ref == "township:qy-dz")
    stored = get_weekly_report(w.uow(), "township:qy-dz", WEEK)
    assert report_row.payload["report"]["body"] == stored.body
    # later sweeps that Monday (and after) do nothing more
    assert run_weekly_reports(w.uow, NEXT_MONDAY + timedelta(minutes=1)) == []
    assert len(w.outbox(topic="report.weekly")) == len(rows)
    listed = list_weekly_reports(w.uow(), ["township:qy-dz"])
    assert [(r.area_code, r.week) for r in listed] == [("township:qy-dz", WEEK)]
    assert set(listed[0].body) == {"headline"}
    assert len(list_weekly_reports(w.uow(), None)) == 3


def test_a_report_built_on_demand_is_still_delivered_by_the_job(week):
    w, *_ = week
    build_weekly_report(w.uow(), "township:qy-dz", WEEK, now=NEXT_MONDAY - timedelta(hours=2),
                        actor="staff:boss")
    assert "township:qy-dz:2025-03-03" in run_weekly_reports(w.uow, NEXT_MONDAY)
    assert get_weekly_report(w.uow(), "township:qy-dz", WEEK).created_by == "staff:boss"


def test_the_notifier_posts_the_report_to_the_reports_webhook(week):
    w, *_ = week
    run_weekly_reports(w.uow, NEXT_MONDAY)
    receiver = Receiver()
    receiver.thread.start()
    try:
        settings = Settings(database_url=w.db.url, reports_webhook_url=receiver.url,
                            reports_webhook_secret=SECRET)

        async def go():
            async with httpx.AsyncClient() as client:
                registry = build_registry(settings, client, send_timeout_s=10.0)
                assert "reports" not in registry.unserved()
                return await drain(w.db.session_factory, registry,
                                   Clock(NEXT_MONDAY + timedelta(seconds=1)), "w1",
                                   rng=FixedRandom(0.0))

        counts = asyncio.run(go())
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
    assert counts.dead == 0
    posted = sorted(receiver.requests, key=lambda r: r.json["recipient"]["ref"])
    assert [r.json["recipient"] for r in posted] == [
        {"kind": "reports", "ref": "county:qy"}, {"kind": "reports", "ref": "township:qy-dz"},
        {"kind": "reports", "ref": "township:qy-xz"}]
    assert all(r.signature_ok for r in posted)
    assert verify_signature(SECRET, posted[1].headers["x-timestamp"], posted[1].body,
                            posted[1].headers["x-signature"])
    report = posted[1].json["payload"]["report"]
    assert report["week"] == "2025-03-03" and report["body"]["scorecard"]["created"] == 5
    assert posted[1].headers["idempotency-key"] == (
        "report:township:qy-dz:2025-03-03:reports:township:qy-dz")


def test_two_sweepers_at_once_deliver_each_report_once(pg_world):
    import threading

    w = pg_world
    w.handler("张网格", role="grid_worker", skills=INCIDENTS, capacity=50)
    w.order(category="incident.water", description="漏水", location_text="幸福里小区3号楼")
    w.order(category="incident.water", description="漏水", location_text="幸福里小区3号楼")
    staff(w, "chief", "admin", [], "502")
    start = threading.Barrier(2)
    results: list[list[str]] = []

    def sweep():
        start.wait()
        results.append(run_weekly_reports(w.uow, NEXT_MONDAY))

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(sum(results, [])) == ["county:qy:2025-03-03", "township:qy-dz:2025-03-03",
                                        "township:qy-xz:2025-03-03"]
    assert w.count(WeeklyReport) == 3
    rows = w.outbox(topic="report.weekly")
    assert len(rows) == len({m.dedupe_key for m in rows}) == 6  # 3 chats + 3 reports rows
    with w.db.session() as s:
        hot = s.scalars(select(RiskWarning).where(RiskWarning.kind == "hotspot")).all()
        assert [h.dedupe_key for h in hot] == ["hotspot:grid:qy-dz-01:2025-03-03:幸福里小区3号楼"]
