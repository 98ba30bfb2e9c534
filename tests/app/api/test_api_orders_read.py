"""Reading orders: who sees what (handlers, dispatchers, residents), lists, latest, duplicates."""

from __future__ import annotations

from datetime import timedelta


def test_resident_isolation(any_api):
    api = any_api
    mine = api.report(reporter_ref="tg:1")["number"]
    own = api.get("actions", f"/api/v1/orders/{mine}", params={"reporter_ref": "tg:1"})
    assert own.status_code == 200 and own.json()["number"] == mine
    # another resident, or a made-up number, gets the same 404
    other = api.get("actions", f"/api/v1/orders/{mine}", params={"reporter_ref": "tg:2"})
    assert other.status_code == 404
    assert other.json()["detail"]["reason_zh"] == f"未找到工单：{mine}"
    missing = api.get("actions", "/api/v1/orders/57401920", params={"reporter_ref": "tg:2"})
    assert missing.status_code == 404
    for path in ("history", "cancel", "satisfaction"):
        method = "GET" if path == "history" else "POST"
        kw = ({"params": {"reporter_ref": "tg:2"}} if method == "GET"
              else {"json": {"reporter_ref": "tg:2", "answer": "satisfied"} if path == "satisfaction"
                    else {"reporter_ref": "tg:2"}})
        assert api.call("actions", method, f"/api/v1/orders/{mine}/{path}", **kw).status_code == 404
    assert api.row(mine).status == "assigned"  # nothing happened to it


def test_the_service_must_say_which_resident(api):
    number = api.report()["number"]
    response = api.get("actions", f"/api/v1/orders/{number}")
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == "reporter_ref"


def test_spoken_forms_of_the_number_work(api):
    number = api.report(reporter_ref="tg:1")["number"]
    spaced = " ".join(number)
    response = api.get("actions", f"/api/v1/orders/{spaced}", params={"reporter_ref": "tg:1"})
    assert response.status_code == 200 and response.json()["number"] == number


def test_staff_scope(api):
    dispute = api.report(reporter_ref="tg:9")["number"]  # 王调解's, in 东镇
    assert api.row(dispute).assignee_id == api.handlers["h1"]
    for who in ("handler", "dispatcher", "supervisor", "admin"):
        response = api.get(who, f"/api/v1/orders/{dispute}")
        assert response.status_code == 200, who
    for who in ("handler2", "worker", "far_dispatcher"):
        assert api.get(who, f"/api/v1/orders/{dispute}").status_code == 404, who


def test_no_contact_ever_and_no_reporter_id_for_handlers(api):
    number = api.report(reporter_ref="tg:31337", reporter_contact="13812345678")["number"]
    for who in ("handler", "dispatcher", "supervisor", "admin"):
        text = api.get(who, f"/api/v1/orders/{number}").text
        assert "13812345678" not in text and "138****5678" not in text
        assert "reporter_contact" not in text
    seen_by_handler = api.get("handler", f"/api/v1/orders/{number}").json()
    assert seen_by_handler["reporter_ref"] is None and "31337" not in str(seen_by_handler)
    assert seen_by_handler["has_contact"] is True
    assert api.get("dispatcher", f"/api/v1/orders/{number}").json()["reporter_ref"] == "tg:31337"
    listed = api.get("handler", "/api/v1/orders").json()["items"]
    assert [o["reporter_ref"] for o in listed] == [None]
    history = api.get("handler", f"/api/v1/orders/{number}/history").text
    assert "31337" not in history


def test_anonymous_reports_hide_the_reporter_from_everybody(api):
    number = api.report(reporter_ref="tg:4242", anonymous=True)["number"]
    for who in ("dispatcher", "supervisor", "admin"):
        assert api.get(who, f"/api/v1/orders/{number}").json()["reporter_ref"] is None


def test_listing_filters_and_pages(api):
    first = api.report(reporter_ref="tg:1")["number"]
    api.tick(hours=1)
    water = api.report(reporter_ref="tg:2", category="incident.water", priority="urgent")["number"]
    api.tick(hours=1)
    west = api.report(reporter_ref="tg:3", category="incident.water", area_code="grid:qy-xz-01")
    assert west["status"] == "pending"  # nobody covers 西镇

    def numbers(who, **params):
        response = api.get(who, "/api/v1/orders", params=params)
        assert response.status_code == 200, response.text
        return [o["number"] for o in response.json()["items"]]

    assert numbers("admin") == [west["number"], water, first]  # newest first
    assert numbers("admin", category="incident.water") == [west["number"], water]
    assert numbers("admin", status=["assigned"]) == [water, first]
    assert numbers("admin", status=["pending", "new"]) == [west["number"]]
    assert numbers("admin", priority="urgent") == [water]
    assert numbers("admin", area="township:qy-xz") == [west["number"]]
    assert numbers("admin", assignee=api.handlers["w1"]) == [water]
    start = (api.world.clock - timedelta(minutes=90)).isoformat()
    assert numbers("admin", created_from=start) == [west["number"], water]
    assert numbers("admin", created_to=start) == [first]
    page = api.get("admin", "/api/v1/orders", params={"limit": 2, "offset": 1}).json()
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 1)
    assert [o["number"] for o in page["items"]] == [water, first]
    # scope: a dispatcher sees their areas, a handler their own orders
    assert numbers("dispatcher") == [water, first]
    assert numbers("far_dispatcher") == [west["number"]]
    assert numbers("worker") == [water]
    assert numbers("handler") == [first]
    assert api.get("dispatcher", "/api/v1/orders", params={"area": "township:qy-xz"}).status_code == 403
    assert api.get("handler", "/api/v1/orders",
                   params={"assignee": api.handlers["w1"]}).status_code == 403


def test_listing_validates_in_chinese(api):
    response = api.get("admin", "/api/v1/orders", params={"status": "lost", "limit": 500})
    assert response.status_code == 422
    reasons = {e["field"]: e["reason_zh"] for e in response.json()["detail"]["errors"]}
    assert reasons["limit"] == "每页条数不能大于200"
    assert reasons["status.0"].startswith("状态的取值不正确，可选：new、pending")
    bad = api.get("admin", "/api/v1/orders", params={"assignee": "王"})
    assert bad.json()["detail"]["reason_zh"] == "处理人员必须是整数"


def test_latest_open_order_of_a_resident(api):
    assert api.get("actions", "/api/v1/orders/latest", params={"reporter_ref": "tg:1"}).json() is None
    api.report(reporter_ref="tg:1")
    api.tick(minutes=5)
    newer = api.report(reporter_ref="tg:1", category="incident.water")["number"]
    api.report(reporter_ref="tg:2")
    latest = api.get("actions", "/api/v1/orders/latest", params={"reporter_ref": "tg:1"}).json()
    assert latest["number"] == newer and latest["label"] == "已派单"


def test_the_order_awaiting_the_follow_up_answer_whatever_is_newer(api):
    params = {"reporter_ref": "tg:1", "awaiting_satisfaction": "true"}
    resolved = api.report(reporter_ref="tg:1")["number"]
    assert api.get("actions", "/api/v1/orders/latest", params=params).json() is None
    assert api.post("handler", f"/api/v1/orders/{resolved}/accept").status_code == 200
    assert api.post("handler", f"/api/v1/orders/{resolved}/resolve",
                    json={"note": "已调解"}).status_code == 200
    api.tick(minutes=5)
    newer = api.report(reporter_ref="tg:1", category="incident.water")["number"]
    latest = api.get("actions", "/api/v1/orders/latest", params={"reporter_ref": "tg:1"}).json()
    assert latest["number"] == newer
    waiting = api.get("actions", "/api/v1/orders/latest", params=params).json()
    assert waiting["number"] == resolved and waiting["awaiting_satisfaction"] is True


def test_duplicates_are_found_for_incidents_but_never_for_disputes(api):
    incident = api.report(reporter_ref="tg:1", category="incident.water",
                          location_text="幸福里 3号楼")["number"]
    dispute = api.report(reporter_ref="tg:2", location_text="幸福里3号楼")["number"]
    assert dispute
    params = {"category": "incident.water", "area_code": "grid:qy-dz-01", "location": "幸福里3号楼"}
    found = api.get("actions", "/api/v1/orders/duplicate", params=params).json()
    assert found["number"] == incident
    assert set(found) == {"number", "category_name", "label", "created_at"}  # not the description
    params["category"] = "dispute.neighbor"
    assert api.get("actions", "/api/v1/orders/duplicate", params=params).json() is None
    params["category"] = "incident.nothing"
    assert api.get("actions", "/api/v1/orders/duplicate", params=params).status_code == 422


def test_a_dispute_is_found_again_only_by_the_resident_who_reported_it(api):
    """A resident's further message about their own open dispute goes to that order
    (where the dispute-risk scan reads it); nobody else learns of the dispute."""
    dispute = api.report(reporter_ref="tg:2", location_text="幸福里3号楼")["number"]
    params = {"category": "dispute.neighbor", "area_code": "grid:qy-dz-01",
              "location": "幸福里 3号楼", "reporter_ref": "tg:2"}
    assert api.get("actions", "/api/v1/orders/duplicate", params=params).json()["number"] == dispute
    params["reporter_ref"] = "tg:3"  # the neighbour
    assert api.get("actions", "/api/v1/orders/duplicate", params=params).json() is None
    del params["reporter_ref"]
    assert api.get("actions", "/api/v1/orders/duplicate", params=params).json() is None


def test_history_for_staff_and_for_the_resident(any_api):
    api = any_api
    number = api.report(reporter_ref="tg:1")["number"]
    api.post("handler", f"/api/v1/orders/{number}/decline", json={"reason": "我在外地"})
    assert api.row(number).assignee_id == api.handlers["h2"]
    api.post("handler2", f"/api/v1/orders/{number}/accept")
    staff = api.get("dispatcher", f"/api/v1/orders/{number}/history").json()
    assert [e["action"] for e in staff] == ["create", "dispatch", "decline", "dispatch", "accept"]
    assert staff[2]["actor"] == f"handler:{api.handlers['h1']}" and staff[2]["note"] == "我在外地"

    resident = api.get("actions", f"/api/v1/orders/{number}/history",
                       params={"reporter_ref": "tg:1"}).json()
    assert [(e["action"], e["actor"], e["label"]) for e in resident] == [
        ("create", "resident", "已受理"),
        ("dispatch", "system", "已派单"),
        ("dispatch", "system", "已派单"),
        ("accept", "handler", "已签收"),
    ]
    assert all(e["note"] is None for e in resident)  # no handler ids, no internal notes
    assert "handler:" not in str(resident)
    assert api.get("actions", f"/api/v1/orders/{number}/history",
                   params={"reporter_ref": "tg:2"}).status_code == 404


def test_the_residents_view_names_the_role_deadlines_and_the_newest_note(any_api):
    api = any_api
    created = api.report(reporter_ref="tg:1")
    number = created["number"]
    assert (created["kind"], created["priority"], created["tier"], created["handler_role"]) == (
        "dispute", "normal", "grid", "人民调解员")
    assert created["accept_by"] == api.row(number).accept_by.isoformat().replace("+00:00", "Z")
    who = api.who_handles(api.row(number).assignee_id)
    api.post(who, f"/api/v1/orders/{number}/accept")
    api.post(who, f"/api/v1/orders/{number}/progress", json={"note": "已约双方周六面谈"})

    def seen(path, **params):
        response = api.get("actions", path, params={"reporter_ref": "tg:1", **params})
        assert response.status_code == 200, response.text
        return response.json()

    own = seen(f"/api/v1/orders/{number}")
    assert (own["label"], own["latest_note"], own["handler_role"]) == (
        "处理中", "已约双方周六面谈", "人民调解员")
    assert seen("/api/v1/orders/latest") == own
    api.post(who, f"/api/v1/orders/{number}/resolve", json={"note": "双方已签调解协议"})
    answered = api.post("actions", f"/api/v1/orders/{number}/satisfaction",
                        json={"reporter_ref": "tg:1", "answer": "unsatisfied"}).json()
    # reopened and dispatched again; the newest note is still the resolve note
    assert (answered["status"], answered["latest_note"]) == ("assigned", "双方已签调解协议")
    for body in (own, answered):
        text = str(body)
        assert "王调解" not in text and "李调解" not in text and "handler:" not in text
        assert "assignee_id" not in body and "reporter_ref" not in body

    incident = api.report(reporter_ref="tg:2", category="incident.water",
                          priority="urgent")["number"]
    cancelled = api.post("actions", f"/api/v1/orders/{incident}/cancel",
                         json={"reporter_ref": "tg:2"}).json()
    assert (cancelled["kind"], cancelled["priority"], cancelled["handler_role"],
            cancelled["label"]) == ("incident", "urgent", "网格员", "已撤销")
    queued = api.report(reporter_ref="tg:3", category="dispute.labor")  # nobody takes labour
    assert (queued["status"], queued["handler_role"], queued["accept_by"]) == (
        "pending", None, None)


def test_listing_by_kind_overdue_satisfaction_and_search(api):
    noise = api.report(reporter_ref="tg:1", location_text="幸福里小区3号楼")["number"]
    water = api.report(reporter_ref="tg:2", category="incident.water",
                       location_text="和平街菜市场", description="水管爆裂，路面积水")["number"]

    def numbers(who="admin", **params):
        response = api.get(who, "/api/v1/orders", params=params)
        assert response.status_code == 200, response.text
        return [o["number"] for o in response.json()["items"]]

    assert numbers(kind="incident") == [water]
    assert numbers(kind="dispute") == [noise]
    assert numbers(q=" ".join(noise)) == [noise]  # a number read out digit by digit
    assert numbers(q="菜市场") == [water] and numbers(q="积水") == [water]
    assert numbers("dispatcher", q="号楼") == [noise]
    assert numbers("far_dispatcher", q="号楼") == []
    assert numbers(overdue="true") == []
    api.tick(minutes=121)  # neither was accepted in time
    assert numbers(overdue="true") == [water, noise]
    assert numbers(overdue="false") == []
    assert numbers(satisfaction="dissatisfied") == []
    bad = api.get("admin", "/api/v1/orders", params={"kind": "other", "satisfaction": "happy",
                                                     "q": "很" * 201})
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["detail"]["errors"]}
    assert fields == {"kind", "satisfaction", "q"}
