"""The scorecard (/api/v1/metrics) and Prometheus (/metrics)."""

from __future__ import annotations

import re

from api_support import T0


def _closed_loop(api, reporter_ref, answer="satisfied"):
    number = api.report(reporter_ref=reporter_ref)["number"]
    who = api.who_handles(api.row(number).assignee_id)
    api.tick(minutes=30)
    api.post(who, f"/api/v1/orders/{number}/accept")
    api.tick(hours=2)
    api.post(who, f"/api/v1/orders/{number}/resolve")
    api.post("actions", f"/api/v1/orders/{number}/satisfaction",
             json={"reporter_ref": reporter_ref, "answer": answer})
    return number


def test_scorecard(any_api):
    api = any_api
    _closed_loop(api, "tg:1")
    _closed_loop(api, "tg:2", answer="unsatisfied")
    cancelled = api.report(reporter_ref="tg:3")["number"]
    api.post("actions", f"/api/v1/orders/{cancelled}/cancel", json={"reporter_ref": "tg:3"})
    api.report(reporter_ref="tg:4", category="incident.water")

    response = api.get("supervisor", "/api/v1/metrics",
                       params={"from": "2025-03-01", "to": "2025-03-31"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["period_start"] == "2025-03-01T00:00:00+08:00"
    assert body["labels_zh"]["resolution_rate"] == "办结率"
    assert body["labels_zh"]["accept_timely_rate"] == "签收及时率"
    (card,) = body["groups"]
    assert card["group"] is None
    # the unsatisfied one was reopened: back to work, no longer accepted or resolved
    assert (card["created"], card["cancelled"], card["accepted"], card["answered"]) == (3, 1, 1, 2)
    assert card["resolved"] == 1 and card["resolution_rate"] == 1 / 3
    assert card["satisfaction_rate"] == 0.5
    assert card["accept_timely_rate"] == 1.0 and card["avg_accept_minutes"] == 30.0
    assert card["avg_resolve_minutes"] == 150.0

    api.tick(minutes=1)  # "to" defaults to now, exclusive
    by_category = api.get("dispatcher", "/api/v1/metrics", params={
        "from": T0.isoformat(), "group_by": "category"}).json()["groups"]
    assert [(g["group"], g["group_label"], g["created"]) for g in by_category] == [
        ("dispute.neighbor", "邻里纠纷", 2), ("incident.water", "供排水问题", 1)]
    by_handler = api.get("admin", "/api/v1/metrics", params={
        "from": T0.isoformat(), "group_by": "handler"}).json()["groups"]
    assert {g["group_label"] for g in by_handler} >= {"王调解", "张网格"}


def test_scorecard_validation(api):
    wrong = api.get("supervisor", "/api/v1/metrics", params={"group_by": "weather"})
    assert wrong.status_code == 422
    assert wrong.json()["detail"]["reason_zh"] == (
        "分组方式的取值不正确，可选：kind、category、area、handler、tier")
    backwards = api.get("supervisor", "/api/v1/metrics",
                        params={"from": "2025-03-02", "to": "2025-03-01"})
    assert backwards.status_code == 422
    assert backwards.json()["detail"]["reason_zh"] == "开始时间必须早于结束时间。"


def _sample(text, name, **labels):
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return None


def test_prometheus_requires_a_token_and_counts(api):
    assert api.get(None, "/metrics").status_code == 401
    assert api.get("dispatcher", "/metrics").status_code == 403
    api.report()
    api.report(category="dispute.labor")  # pending
    number = api.report(category="incident.water")["number"]
    api.get("handler", f"/api/v1/orders/{number}")  # not theirs: 404
    api.post("actions", "/api/v1/orders", json={"category": "x"})  # 422

    assert api.get("actions", "/metrics").status_code == 403  # channels do not scrape
    response = api.get("supervisor", "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert _sample(text, "workorders_orders_created_total", channel="tg") == 3
    assert _sample(text, "workorders_http_requests_total", method="POST",
                   route="/api/v1/orders", status="201") == 3
    assert _sample(text, "workorders_http_requests_total", method="POST",
                   route="/api/v1/orders", status="422") == 1
    assert _sample(text, "workorders_http_requests_total", method="GET",
                   route="/api/v1/orders/{number}", status="404") == 1
    assert _sample(text, "workorders_http_request_duration_seconds_count", method="POST",
                   route="/api/v1/orders") == 4
    assert _sample(text, "workorders_orders_open", status="assigned") == 2
    assert _sample(text, "workorders_orders_open", status="pending") == 1
    assert _sample(text, "workorders_orders_open", status="resolved") == 0
    assert _sample(text, "workorders_outbox_messages", status="pending") == 3
    assert number not in text  # templates, not raw paths


def test_unmatched_paths_share_one_label(api):
    api.get("admin", "/api/v1/nothing/here")
    api.get("admin", "/api/v1/nothing/else")
    text = api.get("admin", "/metrics").text
    assert _sample(text, "workorders_http_requests_total", route="unmatched", status="404") == 2
