"""重复诉求率 in /api/v1/metrics: a report of a matter resolved lately is a repeat."""

from __future__ import annotations


def test_the_scorecard_counts_repeats(api):
    first = api.report(reporter_ref="tg:1")["number"]
    who = api.who_handles(api.row(first).assignee_id)
    api.tick(minutes=10)
    api.post(who, f"/api/v1/orders/{first}/accept")
    api.tick(hours=1)
    api.post(who, f"/api/v1/orders/{first}/resolve", json={"note": "已调解。"})
    api.tick(days=2)
    again = api.report(reporter_ref="tg:2")["number"]  # same place and category
    assert "repeat" in api.actions(again)
    api.report(reporter_ref="tg:3", category="incident.water")

    response = api.get("supervisor", "/api/v1/metrics",
                       params={"from": "2025-03-01", "to": "2025-03-31"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["labels_zh"]["repeat_rate"] == "重复诉求率"
    (card,) = body["groups"]
    assert (card["created"], card["repeats"]) == (3, 1)
    assert card["repeat_rate"] == 1 / 3
