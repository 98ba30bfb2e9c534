"""/api/v1/audit/verify: an edited history is reported."""

from __future__ import annotations

from sqlalchemy import update

from integrations.workorders.adapters.orm import OrderEvent


def test_verify_reports_a_tampered_history(any_api):
    api = any_api
    intact = api.report()["number"]
    tampered = api.report()["number"]
    assert api.get("supervisor", "/api/v1/audit/verify").json() == {
        "number": None, "ok": True, "broken": []}

    events = api.events(tampered)
    with api.world.db.engine.begin() as conn:
        conn.execute(update(OrderEvent).where(OrderEvent.id == events[1].id)
                     .values(note="handler:99 tier:grid"))
    everything = api.get("admin", "/api/v1/audit/verify").json()
    assert everything == {"number": None, "ok": False,
                          "broken": [{"number": tampered, "first_broken_seq": 2}]}
    one = api.get("supervisor", "/api/v1/audit/verify", params={"number": intact}).json()
    assert one["ok"] is True
    assert api.get("supervisor", "/api/v1/audit/verify",
                   params={"number": "12345678"}).status_code == 404
