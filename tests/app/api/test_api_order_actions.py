"""Transitions over HTTP: the database outcome (status, events, outbox) of each, and refusals."""

from __future__ import annotations

import logging


def test_the_closed_loop(any_api):
    """Report -> accept -> progress -> resolve -> satisfied, with what each step writes."""
    api = any_api
    number = api.report(reporter_ref="tg:1")["number"]
    h1 = api.handlers["h1"]

    api.tick(minutes=10)
    accepted = api.post("handler", f"/api/v1/orders/{number}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted" and accepted.json()["reporter_ref"] is None
    assert api.row(number).accepted_at == api.world.clock
    told = api.outbox(number, recipient_kind="resident")
    assert [(m.recipient_ref, m.payload["event"]) for m in told] == [("tg:1", "accepted")]

    api.tick(hours=1)
    progressed = api.post("handler", f"/api/v1/orders/{number}/progress",
                          json={"note": "已上门查看，约好周六维修"})
    assert progressed.json()["status"] == "in_progress"
    assert api.events(number)[-1].note == "已上门查看，约好周六维修"

    api.tick(days=1)
    resolved = api.post("handler", f"/api/v1/orders/{number}/resolve", json={"note": "已修好"})
    assert resolved.json()["status"] == "resolved"
    last = api.outbox(number, recipient_kind="resident")[-1]
    assert last.payload["event"] == "resolved" and last.payload["ask_satisfaction"] is True

    answered = api.post("actions", f"/api/v1/orders/{number}/satisfaction",
                        json={"reporter_ref": "tg:1", "answer": "satisfied", "reason": "很快"})
    assert answered.status_code == 200
    assert answered.json()["label"] == "已回访"
    row = api.row(number)
    assert (row.status, row.satisfaction) == ("closed", "satisfied")
    assert api.actions(number) == ["create", "dispatch", "accept", "progress", "resolve",
                                   "satisfied"]
    assert [e.actor for e in api.events(number)][2:5] == [f"handler:{h1}"] * 3
    assert api.get("supervisor", "/api/v1/audit/verify", params={"number": number}).json() == {
        "number": number, "ok": True, "broken": []}


def test_an_illegal_transition_is_409_with_the_reason(any_api):
    api = any_api
    number = api.report()["number"]
    response = api.post("handler", f"/api/v1/orders/{number}/resolve")
    assert response.status_code == 409
    assert response.json()["detail"] == {
        "reason": "action 'resolve' is not allowed in status 'assigned'",
        "reason_zh": "工单当前状态为“已派单”，不能执行“办结”操作。",
    }
    assert api.actions(number) == ["create", "dispatch"]


def test_a_dispatcher_acts_for_a_handler_and_is_logged(api, caplog):
    number = api.report()["number"]
    h1 = api.handlers["h1"]
    missing = api.post("dispatcher", f"/api/v1/orders/{number}/accept")
    assert missing.status_code == 422 and missing.json()["detail"]["field"] == "handler_id"
    wrong = api.post("dispatcher", f"/api/v1/orders/{number}/accept",
                     json={"handler_id": api.handlers["h2"]})
    assert wrong.status_code == 403
    far = api.post("far_dispatcher", f"/api/v1/orders/{number}/accept", json={"handler_id": h1})
    assert far.status_code == 404
    with caplog.at_level(logging.INFO, logger="integrations.workorders.api.audit"):
        ok = api.post("dispatcher", f"/api/v1/orders/{number}/accept", json={"handler_id": h1})
    assert ok.status_code == 200 and api.row(number).status == "accepted"
    assert f"staff:dispatcher acts for handler:{h1} on order {number}" in caplog.text
    # a handler cannot act in someone else's name
    other = api.report()["number"]
    assert api.row(other).assignee_id == api.handlers["h2"]
    refused = api.post("handler", f"/api/v1/orders/{other}/accept",
                       json={"handler_id": api.handlers["h2"]})
    assert refused.status_code == 403
    assert refused.json()["detail"]["reason_zh"] == "您只能以本人身份处理工单。"


def test_decline_redispatches_to_someone_else(any_api):
    api = any_api
    number = api.report()["number"]
    response = api.post("handler", f"/api/v1/orders/{number}/decline", json={"reason": "请假"})
    assert response.status_code == 200
    assert response.json()["assignee_id"] == api.handlers["h2"]
    assert api.actions(number) == ["create", "dispatch", "decline", "dispatch"]
    assert api.outbox(number, recipient_ref=str(api.handlers["h2"]))[0].topic == "order.assigned"
    # 王调解 no longer sees it
    assert api.get("handler", f"/api/v1/orders/{number}").status_code == 404


def test_reassign_and_reopen_by_a_dispatcher(api):
    number = api.report()["number"]
    moved = api.post("dispatcher", f"/api/v1/orders/{number}/reassign",
                     json={"handler_id": api.handlers["h2"], "reason": "就近处理"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["assignee_id"] == api.handlers["h2"]
    events = api.events(number)
    assert [e.action for e in events] == ["create", "dispatch", "decline", "dispatch"]
    assert {e.actor for e in events[2:]} == {"staff:dispatcher"}
    withdrawn = api.outbox(number, recipient_ref=str(api.handlers["h1"]), topic="order.withdrawn")
    assert len(withdrawn) == 1

    api.post("handler2", f"/api/v1/orders/{number}/accept")
    api.post("handler2", f"/api/v1/orders/{number}/resolve")
    reopened = api.post("dispatcher", f"/api/v1/orders/{number}/reopen",
                        json={"reason": "回访电话中居民表示仍漏水"})
    assert reopened.status_code == 200
    assert reopened.json()["status"] == "assigned"
    assert api.actions(number)[-2:] == ["unsatisfied", "dispatch"]
    assert api.events(number)[-2].actor == "staff:dispatcher"
    # only within their areas, and not from every status
    assert api.post("far_dispatcher", f"/api/v1/orders/{number}/reassign").status_code == 404
    again = api.post("dispatcher", f"/api/v1/orders/{number}/reopen")
    assert again.status_code == 409


def test_the_resident_cancels(any_api):
    api = any_api
    number = api.report(reporter_ref="tg:1")["number"]
    response = api.post("actions", f"/api/v1/orders/{number}/cancel", json={"reporter_ref": "tg:1"})
    assert response.status_code == 200
    assert response.json()["label"] == "已撤销"
    assert api.row(number).status == "cancelled"
    topics = [(m.recipient_kind, m.topic) for m in api.outbox(number)]
    assert ("handler", "order.withdrawn") in topics and ("resident", "order.status") in topics
    twice = api.post("actions", f"/api/v1/orders/{number}/cancel", json={"reporter_ref": "tg:1"})
    assert twice.status_code == 409


def test_unsatisfied_reopens_and_dispatches_again(api):
    number = api.report(reporter_ref="tg:1")["number"]
    api.post("handler", f"/api/v1/orders/{number}/accept")
    api.post("handler", f"/api/v1/orders/{number}/resolve")
    bad = api.post("actions", f"/api/v1/orders/{number}/satisfaction",
                   json={"reporter_ref": "tg:1", "answer": "meh"})
    assert bad.status_code == 422
    assert bad.json()["detail"]["reason_zh"].startswith("回访结果的取值不正确")
    response = api.post("actions", f"/api/v1/orders/{number}/satisfaction",
                        json={"reporter_ref": "tg:1", "answer": "unsatisfied", "reason": "没修好"})
    assert response.status_code == 200
    row = api.row(number)
    assert (row.status, row.satisfaction) == ("assigned", "unsatisfied")
    assert api.actions(number)[-2:] == ["unsatisfied", "dispatch"]


def test_attach_further_reports(api):
    incident = api.report(reporter_ref="tg:1", category="incident.water")["number"]
    own = api.post("actions", f"/api/v1/orders/{incident}/attach",
                   json={"reporter_ref": "tg:1", "description": "水越来越多了"})
    assert own.status_code == 200 and own.json()["number"] == incident
    co = api.post("actions", f"/api/v1/orders/{incident}/attach",
                  json={"reporter_ref": "tg:2", "description": "我家门口也在漏"})
    assert co.status_code == 200
    assert set(co.json()) == {"number", "category_name", "label", "created_at"}
    events = api.events(incident)
    assert [(e.action, e.actor) for e in events[-2:]] == [("report", "resident"),
                                                          ("report", "co-reporter")]
    assert "tg:2" not in str([e.note for e in events])
    assert len(api.outbox(incident, topic="order.report_added")) == 2
    # a dispute takes additions only from its reporter
    dispute = api.report(reporter_ref="tg:3")["number"]
    stranger = api.post("actions", f"/api/v1/orders/{dispute}/attach",
                        json={"reporter_ref": "tg:4", "description": "他们说的不对"})
    assert stranger.status_code == 404
    assert api.actions(dispute) == ["create", "dispatch"]


def test_contact_is_revealed_to_dispatchers_only_and_audited(api, caplog):
    number = api.report(reporter_ref="tg:1", reporter_contact="+86 138-1234-5678")["number"]
    bare = api.report(reporter_ref="tg:2")["number"]
    with caplog.at_level(logging.INFO, logger="integrations.workorders.api.audit"):
        response = api.get("dispatcher", f"/api/v1/orders/{number}/contact")
    assert response.json() == {"number": number, "contact": "13812345678"}
    assert f"contact revealed: order={number} actor=staff:dispatcher" in caplog.text
    assert "13812345678" not in caplog.text
    assert api.get("admin", f"/api/v1/orders/{bare}/contact").json()["contact"] is None
    assert api.get("far_dispatcher", f"/api/v1/orders/{number}/contact").status_code == 404
    metrics = api.get("admin", "/metrics").text
    assert "workorders_contact_reveals_total 2.0" in metrics


def test_notes_over_the_limit_are_refused(api):
    number = api.report()["number"]
    api.post("handler", f"/api/v1/orders/{number}/accept")
    response = api.post("handler", f"/api/v1/orders/{number}/progress", json={"note": "进" * 1001})
    assert response.status_code == 422
    assert response.json()["detail"]["reason_zh"] == "说明不能超过1000字"
    assert api.row(number).status == "accepted"


# ------------------------------------------------------------------ 重新分类 (reclassify)

COMPLAINT = {"category": "request.complaint",
             "description": "楼上卫生间漏水渗到我家，物业不管，我要投诉。"}


def test_a_dispatcher_turns_a_request_into_a_dispute(any_api):
    api = any_api
    number = api.report(reporter_ref="tg:77", **COMPLAINT)["number"]
    clerk = api.handlers["s1"]
    assert (api.row(number).kind, api.row(number).assignee_id) == ("request", clerk)
    api.tick(hours=2)
    response = api.post("dispatcher", f"/api/v1/orders/{number}/reclassify",
                        json={"category": "dispute.neighbor", "note": "楼上漏水是邻里纠纷"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["number"], body["kind"], body["category"], body["category_name"]) == (
        number, "dispute", "dispute.neighbor", "邻里纠纷")
    assert body["status"] == "assigned" and body["assignee_id"] in (
        api.handlers["h1"], api.handlers["h2"])
    row = api.row(number)
    assert (row.kind, row.category, row.assignee_id) == (
        "dispute", "dispute.neighbor", body["assignee_id"])
    event = api.events(number)[-2]
    assert (event.action, event.actor, event.handler_id) == (
        "reclassify", "staff:dispatcher", clerk)
    assert event.note == f"from:request.complaint to:dispute.neighbor handler:{clerk} 楼上漏水是邻里纠纷"
    told = api.outbox(number, recipient_kind="resident")[-1]
    assert told.payload["text"] == (
        f"您反映的问题已转为「邻里纠纷」，由人民调解员处理，工单号不变：{number}。")
    withdrawn = api.outbox(number, recipient_kind="handler", topic="order.withdrawn")
    assert [m.recipient_ref for m in withdrawn] == [str(clerk)]

    # the resident sees the step (no staff note) and the new kind
    steps = api.get("actions", f"/api/v1/orders/{number}/history",
                    params={"reporter_ref": "tg:77"}).json()
    assert [(s["action"], s["action_label"], s["actor"], s["note"]) for s in steps][-2:] == [
        ("reclassify", "重新分类", "staff", None), ("dispatch", "派单", "staff", None)]
    mine = api.get("actions", f"/api/v1/orders/{number}", params={"reporter_ref": "tg:77"}).json()
    assert (mine["kind"], mine["category_name"], mine["handler_role"]) == (
        "dispute", "邻里纠纷", "人民调解员")


def test_the_assigned_staff_member_passes_a_request_on_as_an_incident(api):
    number = api.report(category="request.consult", description="小区路灯坏了归谁管？")["number"]
    clerk = api.handlers["s1"]
    response = api.post("clerk", f"/api/v1/orders/{number}/reclassify",
                        json={"category": "incident.facility"})
    assert response.status_code == 200, response.text
    assert response.json()["reporter_ref"] is None  # a handler never sees the reporter
    row = api.row(number)
    assert (row.kind, row.assignee_id) == ("incident", api.handlers["w1"])
    assert api.events(number)[-2].actor == f"handler:{clerk}"
    # no longer theirs: a second try is as if the order did not exist
    again = api.post("clerk", f"/api/v1/orders/{number}/reclassify",
                     json={"category": "request.consult"})
    assert again.status_code == 404


def test_reclassify_refusals(api):
    number = api.report(**COMPLAINT)["number"]
    url = f"/api/v1/orders/{number}/reclassify"
    to_dispute = {"category": "dispute.neighbor"}
    for who, status in (("supervisor", 403), ("actions", 403), ("far_dispatcher", 404),
                        ("handler", 404), ("worker", 404), (None, 401)):
        response = api.post(who, url, json=to_dispute)
        assert response.status_code == status, (who, response.text)
    unknown = api.post("admin", url, json={"category": "request.weather"})
    assert unknown.status_code == 422
    assert unknown.json()["detail"] == {"reason": "unknown category 'request.weather'",
                                        "reason_zh": "未知的事项类别：request.weather",
                                        "field": "category"}
    assert api.post("admin", url, json={}).status_code == 422
    same = api.post("admin", url, json={"category": "request.complaint"})
    assert same.status_code == 409
    assert same.json()["detail"]["reason_zh"] == "该工单已是「投诉举报」，无需重新分类。"
    assert api.post("admin", "/api/v1/orders/12345678/reclassify",
                    json=to_dispute).status_code == 404
    assert "reclassify" not in api.actions(number)

    clerk = "clerk"
    api.post(clerk, f"/api/v1/orders/{number}/accept")
    api.post(clerk, f"/api/v1/orders/{number}/resolve", json={"note": "已转交市场监管所。"})
    late = api.post("admin", url, json=to_dispute)
    assert late.status_code == 409
    assert late.json()["detail"]["reason_zh"] == "工单当前状态为“已办结”，不能执行“重新分类”操作。"
    assert api.row(number).category == "request.complaint"


def test_a_request_is_resolved_over_http_only_with_its_answer(api):
    number = api.report(reporter_ref="tg:78", category="request.consult",
                        description="孩子转学需要什么材料？")["number"]
    api.post("clerk", f"/api/v1/orders/{number}/accept")
    bare = api.post("clerk", f"/api/v1/orders/{number}/resolve")
    assert bare.status_code == 422
    assert bare.json()["detail"]["reason_zh"] == "请填写给居民的答复内容。"
    answer = "请带户口本、原学校学籍证明到街道教育办办理。"
    done = api.post("clerk", f"/api/v1/orders/{number}/resolve", json={"note": answer})
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    told = api.outbox(number, recipient_kind="resident")[-1]
    assert told.payload["text"].startswith(f"您咨询的问题（工单 {number}）已有答复：{answer}")
    mine = api.get("actions", f"/api/v1/orders/{number}", params={"reporter_ref": "tg:78"}).json()
    assert (mine["latest_note"], mine["handler_role"], mine["awaiting_satisfaction"]) == (
        answer, "社区工作人员", True)
