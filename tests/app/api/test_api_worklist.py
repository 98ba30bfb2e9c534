"""``/api/v1/worklist``: the dispatcher's inbox over HTTP, its scope and its ETag."""

from __future__ import annotations

from integrations.workorders.service import CallbackCreate, request_callback


def test_the_inbox_shows_what_waits_and_drops_it_when_handled(any_api):
    api = any_api
    west = api.report(reporter_ref="tg:3", category="incident.water",
                      area_code="grid:qy-xz-01")["number"]  # nobody covers 西镇: pending
    api.tick(minutes=5)
    urgent = api.report(reporter_ref="tg:4", category="incident.water", priority="urgent")
    request, _ = request_callback(api.world.uow(), CallbackCreate(
        reporter_ref="voice:13800000000", reason="asked"), api.tick(minutes=1))

    def inbox(who):
        response = api.get(who, "/api/v1/worklist")
        assert response.status_code == 200, response.text
        return response.json()

    everything = inbox("admin")
    assert [(i["section"], i["key"]) for i in everything["items"]] == [
        ("callbacks", f"callback:{request.id}"), ("urgent", urgent["number"]),
        ("pending", west)]
    first = everything["items"][1]
    assert first["title"] == "供排水问题 · 幸福里小区3号楼"
    assert (first["section_label"], first["order_number"], first["age_seconds"]) == (
        "紧急工单", urgent["number"], 60)
    assert everything["counts"]["urgent"] == 1 and everything["truncated"] == []
    # a dispatcher sees their areas and callbacks without an area
    assert [i["key"] for i in inbox("dispatcher")["items"]] == [
        f"callback:{request.id}", urgent["number"]]
    assert [i["key"] for i in inbox("far_dispatcher")["items"]] == [
        f"callback:{request.id}", west]
    for who in ("handler", "supervisor", "actions"):
        assert api.get(who, "/api/v1/worklist").status_code == 403

    accepted = api.post("worker", f"/api/v1/orders/{urgent['number']}/accept", json={})
    assert accepted.status_code == 200, accepted.text
    assert [i["section"] for i in inbox("dispatcher")["items"]] == ["callbacks"]


def test_polling_is_cheap_with_the_etag(api):
    number = api.report(reporter_ref="tg:1", priority="urgent")["number"]
    first = api.get("dispatcher", "/api/v1/worklist")
    tag = first.headers["ETag"]
    version = api.get("dispatcher", "/api/v1/worklist/version").json()["version"]
    assert version == first.json()["version"]

    again = api.get("dispatcher", "/api/v1/worklist", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    # another scope or limit is another tag
    assert api.get("admin", "/api/v1/worklist").headers["ETag"] != tag
    assert api.get("dispatcher", "/api/v1/worklist",
                   params={"limit_per_section": 5}).headers["ETag"] != tag

    api.tick(minutes=1)
    assert api.post("handler", f"/api/v1/orders/{number}/accept", json={}).status_code == 200
    changed = api.get("dispatcher", "/api/v1/worklist", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["ETag"] != tag
    assert changed.json()["items"] == []
    assert api.get("dispatcher", "/api/v1/worklist/version").json()["version"] != version
