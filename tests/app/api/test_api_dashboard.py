"""The supervisors' dashboard (/api/v1/metrics/dashboard): scorecards, trend, backlog,
the reasons of 不满意, the cached audit-chain check, and who sees what."""

from __future__ import annotations

from api_support import T0
from sqlalchemy import select, update

from integrations.workorders.adapters.orm import AuditCheck, OrderEvent, WorkOrder

PERIOD = {"from": "2025-03-01", "to": "2025-03-31"}


def _closed_loop(api, reporter_ref, answer, reason=None):
    number = api.report(reporter_ref=reporter_ref)["number"]
    who = api.who_handles(api.row(number).assignee_id)
    api.tick(minutes=30)
    api.post(who, f"/api/v1/orders/{number}/accept")
    api.tick(hours=2)
    api.post(who, f"/api/v1/orders/{number}/resolve")
    response = api.post("actions", f"/api/v1/orders/{number}/satisfaction",
                        json={"reporter_ref": reporter_ref, "answer": answer, "reason": reason})
    assert response.status_code == 200, response.text
    return number


def _board(api, who="supervisor", **params):
    response = api.get(who, "/api/v1/metrics/dashboard", params={**PERIOD, **params})
    assert response.status_code == 200, response.text
    return response.json()


def test_dashboard(any_api):
    api = any_api
    _closed_loop(api, "tg:1", "satisfied")
    unhappy = _closed_loop(api, "tg:2", "unsatisfied", "楼上还在半夜装修，问题没有解决")
    _closed_loop(api, "tg:3", "unsatisfied")  # no reason given
    cancelled = api.report(reporter_ref="tg:4")["number"]
    api.post("actions", f"/api/v1/orders/{cancelled}/cancel", json={"reporter_ref": "tg:4"})
    water = api.report(reporter_ref="tg:5", category="incident.water")["number"]
    api.tick(days=2)  # the open orders are 2 days old now

    board = _board(api)
    assert board["period_start"] == "2025-03-01T00:00:00+08:00"
    assert board["bucket"] == "day" and board["scoped"] is False
    overall = board["overall"]
    assert (overall["created"], overall["cancelled"], overall["resolved"]) == (4, 1, 1)
    assert overall["satisfaction_rate"] == 1 / 3
    categories = {c["group"]: (c["group_label"], c["created"]) for c in board["by_category"]}
    assert categories == {"dispute.neighbor": ("邻里纠纷", 3), "incident.water": ("供排水问题", 1)}
    assert [(t["group"], t["group_label"]) for t in board["by_tier"]] == [("grid", "网格")]
    assert {h["group_label"] for h in board["by_handler"]} >= {"王调解", "张网格"}
    assert [(a["group"], a["created"]) for a in board["by_area"]] == [("grid:qy-dz-01", 4)]

    # the trend: one point per China day of March 1-30, the orders on March 3
    trend = board["trend"]
    assert len(trend) == 30 and trend[0]["start"] == "2025-03-01"
    (day,) = [t for t in trend if t["created"]]
    assert (day["start"], day["created"], day["resolved"], day["answered"]) == (
        "2025-03-03", 4, 1, 3)
    weekly = _board(api, bucket="week")["trend"]
    assert weekly[0]["start"] == "2025-02-24" and sum(t["created"] for t in weekly) == 4

    # backlog: the two reopened orders and the water incident, 2 days old
    backlog = {b["label"]: b["count"] for b in board["backlog"]}
    assert backlog == {"<1天": 0, "1–3天": 3, "3–7天": 0, "7–30天": 0, ">30天": 0}

    assert [(c["area_label"], c["category_label"], c["created"])
            for c in board["area_category"]] == [("东镇幸福里网格", "邻里纠纷", 3),
                                                  ("东镇幸福里网格", "供排水问题", 1)]
    assert (board["unsatisfied_total"], board["unsatisfied_with_reason"]) == (2, 1)
    reasons = {u["number"]: u["reason"] for u in board["unsatisfied"]}
    assert reasons[unhappy] == "楼上还在半夜装修，问题没有解决"
    assert sorted(reasons.values(), key=str) == [None, "楼上还在半夜装修，问题没有解决"]
    assert water not in reasons


def test_audit_state_is_cached_and_shows_the_first_broken_event(any_api):
    api = any_api
    number = api.report()["number"]
    assert _board(api)["audit"] is None  # never checked: the check runs after this answer
    with api.world.db.session() as s:
        (check,) = s.scalars(select(AuditCheck)).all()
        assert (check.orders, check.broken) == (1, 0)
    audit = _board(api)["audit"]
    assert audit["ok"] is True and audit["orders"] == 1

    with api.world.db.session() as s:
        order_id = s.scalar(select(WorkOrder.id).where(WorkOrder.number == number))
        s.execute(update(OrderEvent).where(OrderEvent.order_id == order_id, OrderEvent.seq == 2)
                  .values(note="改过的记录"))
        s.commit()
    assert _board(api)["audit"]["ok"] is True  # still the earlier check
    api.tick(minutes=31)
    assert _board(api)["audit"]["ok"] is True  # shown, then checked again after answering
    audit = _board(api)["audit"]
    assert (audit["ok"], audit["broken"], audit["first_number"], audit["first_seq"]) == (
        False, 1, number, 2)


def test_dispatchers_see_their_areas_only(api):
    api.report()
    api.report(area_code="grid:qy-dz-02", category="incident.water")
    mine = _board(api, "dispatcher")
    assert mine["scoped"] is True and mine["overall"]["created"] == 2 and mine["audit"] is None
    far = _board(api, "far_dispatcher")
    assert far["overall"]["created"] == 0 and far["by_area"] == [] and far["trend"][2]["created"] == 0
    assert sum(b["count"] for b in far["backlog"]) == 0
    with api.world.db.session() as s:  # no audit check for scoped callers
        assert s.scalars(select(AuditCheck)).all() == []
    assert api.get("handler", "/api/v1/metrics/dashboard").status_code == 403
    assert api.get("actions", "/api/v1/metrics/dashboard").status_code == 403
    assert api.get(None, "/api/v1/metrics/dashboard").status_code == 401


def test_dashboard_validation(api):
    wrong = api.get("supervisor", "/api/v1/metrics/dashboard", params={"bucket": "year"})
    assert wrong.status_code == 422
    backwards = api.get("supervisor", "/api/v1/metrics/dashboard",
                        params={"from": "2025-03-02", "to": "2025-03-01"})
    assert backwards.status_code == 422
    assert backwards.json()["detail"]["reason_zh"] == "开始时间必须早于结束时间。"
    response = api.get("supervisor", "/api/v1/metrics/dashboard")
    assert response.status_code == 200, response.text
    default = response.json()
    assert default["period_end"].startswith(T0.isoformat()[:10])
    assert default["bucket"] == "day" and len(default["trend"]) == 31
