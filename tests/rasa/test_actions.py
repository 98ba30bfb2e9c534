"""The custom actions, run on tracker snapshots against a real work-order
service on 127.0.0.1 (the application's API process on a fresh SQLite file
with the demo data). Assertions are on what the resident is told, the slots
the actions set and the orders the service holds afterwards."""
from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import replies
from actions import service as service_module
from actions.answers import THIS_PHONE
from actions.cancel import ActionCancelOrder, ValidateCancelForm
from actions.greet import ActionGreet
from actions.handoff import ActionFallback, ActionHandoff
from actions.report_form import AskSameMatter, ValidateReportForm
from actions.report_start import ActionStartReport
from actions.report_submit import ActionSubmitReport
from actions.satisfaction import ActionSubmitSatisfaction, ValidateSatisfactionForm
from actions.status import ActionStatus
from actions.workorders_client import ClientSettings, WorkOrderClient
from integrations.shared.identity import CALLER_CONTEXT, caller_ref
from integrations.shared.privacy import EXAMPLE_KEY, Vault
from tests.rasa.workorder_service import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = yaml.safe_load((ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))


def message(text, intent="inform", entities=(), category=None, emergency=False, cues=()):
    return {"text": text, "intent": {"name": intent, "confidence": 0.95},
            "entities": [{"entity": e, "value": v} for e, v in entities],
            "category": {"name": category, "confidence": 0.9 if category else 0.0},
            "emergency": {"flag": emergency, "confidence": 0.9 if emergency else 0.0,
                          "cues": list(cues)}}


def tracker(sender, latest, slots=None, requested=None, form=None, history=()):
    events = [*history, {"event": "user", "text": latest["text"], "parse_data": latest}]
    slots = {**(slots or {}), "requested_slot": requested}
    loop = {"name": form} if form else {}
    return Tracker(sender, slots, latest, events, False, None, loop, "action_listen")


def act(service, action, state, url=None):
    """Run one action against the service; (the dispatcher's messages, its events)."""
    async def main():
        client = WorkOrderClient(ClientSettings(url or service.url, service.token,
                                                timeout_s=3, retries=1, backoff_s=0.1))
        service_module.use(client)
        dispatcher = CollectingDispatcher()
        try:
            events = await action.run(dispatcher, state, DOMAIN)
        finally:
            await client.close()
            service_module.use(None)
        return dispatcher.messages, events

    return asyncio.run(main())


def run(service, action, state, url=None):
    """Run one action; returns (texts told, {slot: value} from its events)."""
    messages, events = act(service, action, state, url)
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    return [m.get("text") for m in messages], slots


def sender(name):
    return f"web:{name}-{uuid.uuid4().hex[:8]}"


def latest_order(service, who):
    status, body = service.call("GET", f"/api/v1/orders/latest?reporter_ref={who}", service.token)
    assert status == 200
    return body


def staff_view(service, number):
    status, body = service.call("GET", f"/api/v1/orders/{number}", service.supervisor)
    assert status == 200, body
    return body


def filled_report(**overrides):
    slots = {"description": "幸福里小区3号楼门口的路灯坏了", "location": "幸福里小区3号楼",
             "category": "incident.facility", "area_code": "grid:cg-xingfuli", "area_matched": True,
             "contact": "none", "phone": None, "confirmed": True, "emergency": False,
             "report_key": f"k-{uuid.uuid4().hex}"}
    slots.update(overrides)
    return slots


# ----------------------------------------------------------------- starting


def test_a_full_first_message_fills_what_it_says(service):
    who = sender("start")
    latest = message("幸福里小区3号楼门口的路灯坏了", "report_incident",
                     [("location", "幸福里小区3号楼")], category="incident.facility")
    texts, slots = run(service, ActionStartReport(), tracker(who, latest))
    assert texts == []
    assert slots["description"] == "幸福里小区3号楼门口的路灯坏了"
    assert slots["location"] == "幸福里小区3号楼"
    assert slots["category"] == "incident.facility"
    assert slots["area_code"] == "grid:cg-xingfuli" and slots["area_matched"] is True
    assert slots["report_key"].startswith(who + ":")


def test_an_emergency_gets_the_right_number_at_once(service):
    latest = message("着火了！楼道里全是烟", "report_incident", category="incident.safety",
                     emergency=True, cues=("着火",))
    texts, slots = run(service, ActionStartReport(), tracker(sender("fire"), latest))
    assert len(texts) == 1 and "119" in texts[0]
    assert slots["emergency"] is True and slots["description"] == "着火了！楼道里全是烟"


def test_a_vague_first_message_leaves_the_description_to_ask(service):
    latest = message("我要反映个问题", "report_incident", category="incident.facility")
    _, slots = run(service, ActionStartReport(), tracker(sender("vague"), latest))
    assert "description" not in slots or slots["description"] is None


# ----------------------------------------------------------------- the form


def test_the_form_asks_only_for_the_place_in_an_emergency(service):
    who = sender("urgent-form")
    state = tracker(who, message("红星村村口", "inform", [("location", "红星村村口")]),
                    slots={"emergency": True, "description": "煤气泄漏了", "category": "incident.safety"},
                    requested="location", form="report_form")
    _, slots = run(service, ValidateReportForm(), state)
    assert slots["location"] == "红星村村口"
    assert slots["area_code"] == "grid:cg-hongxing"
    assert slots["requested_slot"] is None  # nothing more to ask


def test_contact_answers(service):
    base = {"description": "路灯坏了", "location": "幸福里", "area_matched": True,
            "area_code": "grid:cg-xingfuli", "category": "incident.facility"}
    for text, intent, expected in (("不用了", "deny", ("none", None)),
                                   ("匿名", "inform", ("anonymous", None)),
                                   ("13812345678", "inform", ("phone", "13812345678"))):
        state = tracker(sender("contact"), message(text, intent), slots=base,
                        requested="contact", form="report_form")
        _, slots = run(service, ValidateReportForm(), state)
        assert (slots["contact"], slots.get("phone")) == expected, text
        assert slots["requested_slot"] == "confirmed"


def test_an_unknown_place_asks_for_the_community_then_takes_the_fallback(service):
    state = tracker(sender("where"), message("桂花园小区", "inform", [("location", "桂花园小区")]),
                    slots={"description": "楼道堆满杂物", "category": "dispute.neighbor"},
                    requested="location", form="report_form")
    _, slots = run(service, ValidateReportForm(), state)
    assert slots["area_matched"] is False and slots["requested_slot"] == "community"
    state = tracker(sender("where"), message("红星村", "inform"),
                    slots={"description": "楼道堆满杂物", "category": "dispute.neighbor",
                           "location": "桂花园小区", "area_matched": False},
                    requested="community", form="report_form")
    _, slots = run(service, ValidateReportForm(), state)
    assert slots["community"] == "红星村" and slots["area_code"] == "grid:cg-hongxing"
    assert slots["requested_slot"] == "contact"


def test_a_no_at_the_readback_asks_what_to_change_and_a_correction_applies(service):
    base = filled_report(confirmed=None)
    state = tracker(sender("fix"), message("不对", "deny"), slots=base, requested="confirmed",
                    form="report_form")
    _, slots = run(service, ValidateReportForm(), state)
    assert slots["correcting"] is True and slots["requested_slot"] == "confirmed"
    state = tracker(sender("fix"), message("地点是红星村村口", "inform", [("location", "红星村村口")]),
                    slots={**base, "correcting": True}, requested="confirmed", form="report_form")
    _, slots = run(service, ValidateReportForm(), state)
    assert slots["location"] == "红星村村口" and slots["area_code"] == "grid:cg-hongxing"
    assert slots["correcting"] is False and slots["confirmed"] is None


def test_a_correction_in_place_of_yes_changes_only_that_field(service):
    base = filled_report(confirmed=None)
    state = tracker(sender("fix2"), message("电话错了，是13911113333", "inform",
                                            [("phone", "13911113333")]),
                    slots=base, requested="confirmed", form="report_form")
    _, slots = run(service, ValidateReportForm(), state)
    assert slots["contact"] == "phone" and slots["phone"] == "13911113333"
    assert "location" not in slots and slots["confirmed"] is None


# ----------------------------------------------------------------- submitting


def test_submitting_opens_a_dispatched_order_and_forgets_the_report(service):
    who = sender("submit")
    state = tracker(who, message("对", "affirm"), slots=filled_report())
    texts, slots = run(service, ActionSubmitReport(), state)
    order = latest_order(service, who)
    assert order is not None and order["number"] in texts[0]
    full = staff_view(service, order["number"])
    assert full["category"] == "incident.facility" and full["area_code"] == "grid:cg-xingfuli"
    assert full["location_text"] == "幸福里小区3号楼" and full["priority"] == "normal"
    assert full["assignee_id"] is not None and full["reporter_channel"] == "web"
    assert "网格员" in texts[0]
    assert slots["description"] is None and slots["report_key"] is None


def test_an_emergency_order_is_urgent(service):
    who = sender("urgent")
    state = tracker(who, message("红星村村口", "inform"), slots=filled_report(
        emergency=True, description="红星村村口煤气泄漏", location="红星村村口",
        area_code="grid:cg-hongxing", category="incident.safety", contact=None, confirmed=None))
    texts, _ = run(service, ActionSubmitReport(), state)
    order = latest_order(service, who)
    assert staff_view(service, order["number"])["priority"] == "urgent"
    assert "紧急" in texts[0]


def test_the_same_matter_is_attached_to_the_existing_order(service):
    first = sender("dup-a")
    place = f"幸福里小区{uuid.uuid4().hex[:4]}号楼"
    run(service, ActionSubmitReport(), tracker(first, message("对", "affirm"),
                                               slots=filled_report(location=place)))
    existing = latest_order(service, first)["number"]
    second = sender("dup-b")
    state = tracker(second, message("对", "affirm"), slots=filled_report(location=place, confirmed=None),
                    requested="confirmed", form="report_form")
    _, slots = run(service, ValidateReportForm(), state)
    assert slots["duplicate_number"] == existing and slots["requested_slot"] == "same_matter"
    state = tracker(second, message("是的", "affirm"),
                    slots=filled_report(location=place, duplicate_number=existing),
                    requested="same_matter", form="report_form")
    _, slots = run(service, ValidateReportForm(), state)
    assert slots["same_matter"] is True and slots["requested_slot"] is None
    texts, _ = run(service, ActionSubmitReport(), tracker(
        second, message("是的", "affirm"),
        slots=filled_report(location=place, duplicate_number=existing, same_matter=True)))
    assert existing in texts[0]
    assert latest_order(service, second) is None  # no second order was opened


def test_a_further_message_about_ones_own_dispute_goes_to_that_order(service):
    """A resident who reports their open dispute again (a threat, say) is asked whether it
    is the same matter and it is added to their order, where the dispute-risk scan reads
    it; a neighbour reporting a dispute at the same place learns nothing of it."""
    who = sender("dispute-own")
    place = f"幸福里小区{uuid.uuid4().hex[:4]}号楼"
    dispute = {"category": "dispute.neighbor", "location": place,
               "description": "对门邻居老是把杂物堆在楼道里"}
    run(service, ActionSubmitReport(), tracker(who, message("对", "affirm"),
                                               slots=filled_report(**dispute)))
    existing = latest_order(service, who)["number"]
    threat = {**dispute, "description": "他再堵我就跟他拼了"}
    state = tracker(who, message("对", "affirm"), slots=filled_report(**threat, confirmed=None),
                    requested="confirmed", form="report_form")
    _, slots = run(service, ValidateReportForm(), state)
    assert slots["duplicate_number"] == existing
    texts, _ = run(service, AskSameMatter(), tracker(
        who, message("对", "affirm"), slots=filled_report(**threat, duplicate_number=existing)))
    assert "您之前反映过" in texts[0] and existing in texts[0]
    texts, _ = run(service, ActionSubmitReport(), tracker(
        who, message("是的", "affirm"),
        slots=filled_report(**threat, duplicate_number=existing, same_matter=True)))
    assert existing in texts[0]
    status, events = service.call("GET", f"/api/v1/orders/{existing}/history", service.supervisor)
    assert status == 200
    assert [(e["action"], e["note"]) for e in events][-1] == ("report", "他再堵我就跟他拼了")

    neighbour = sender("dispute-neighbour")
    state = tracker(neighbour, message("对", "affirm"), slots=filled_report(**threat, confirmed=None),
                    requested="confirmed", form="report_form")
    _, slots = run(service, ValidateReportForm(), state)
    assert slots.get("duplicate_number") is None and slots["confirmed"] is True


def test_when_the_service_is_down_the_report_is_kept_and_retry_sends_it_once(service):
    who = sender("outage")
    dead = f"http://127.0.0.1:{free_port()}"
    texts, slots = run(service, ActionSubmitReport(), tracker(who, message("对", "affirm"),
                                                               slots=filled_report()), url=dead)
    assert texts == [replies.SERVICE_DOWN]
    kept = slots["pending_reports"]
    assert len(kept) == 1 and kept[0]["order"]["location_text"] == "幸福里小区3号楼"
    assert slots["description"] is None  # the form is free for the next report
    assert latest_order(service, who) is None
    texts, slots = run(service, ActionSubmitReport(), tracker(
        who, message("再试一次", "retry"), slots={"pending_reports": kept}))
    number = latest_order(service, who)["number"]
    assert number in texts[0] and slots["pending_reports"] is None
    # the same report again (a lost answer, a double "再试一次") opens nothing new
    texts, _ = run(service, ActionSubmitReport(), tracker(
        who, message("再试一次", "retry"), slots={"pending_reports": kept}))
    assert number in texts[0]
    status, page = service.call("GET", "/api/v1/orders?limit=200", service.supervisor)
    assert sum(1 for o in page["items"] if o["reporter_ref"] == who) == 1


def test_a_kept_report_goes_out_with_the_next_one(service):
    who = sender("outage-2")
    dead = f"http://127.0.0.1:{free_port()}"
    _, slots = run(service, ActionSubmitReport(), tracker(who, message("对", "affirm"),
                                                           slots=filled_report()), url=dead)
    state = tracker(who, message("对", "affirm"), slots={
        **filled_report(location="阳光花园5号楼", area_code="grid:cg-yangguang"),
        "pending_reports": slots["pending_reports"]})
    texts, slots = run(service, ActionSubmitReport(), state)
    assert len(texts) == 2 and slots["pending_reports"] is None
    status, page = service.call("GET", "/api/v1/orders?limit=200", service.supervisor)
    places = sorted(o["location_text"] for o in page["items"] if o["reporter_ref"] == who)
    assert places == ["幸福里小区3号楼", "阳光花园5号楼"]


def test_retry_with_nothing_kept_says_so(service):
    texts, _ = run(service, ActionSubmitReport(), tracker(sender("none"), message("再试一次", "retry")))
    assert texts == [replies.NOTHING_TO_RETRY]


# ----------------------------------------------------------------- status, cancel


def _open_order(service, who, **overrides):
    run(service, ActionSubmitReport(),
        tracker(who, message("对", "affirm"), slots=filled_report(**overrides)))
    return latest_order(service, who)["number"]


def test_status_gives_the_latest_order_and_never_anothers(service):
    who, other = sender("status"), sender("status-other")
    number = _open_order(service, who)
    others = _open_order(service, other, location="阳光花园5号楼", area_code="grid:cg-yangguang")
    texts, _ = run(service, ActionStatus(), tracker(who, message("我的事怎么样了", "check_status")))
    assert number in texts[0] and "已派单" in texts[0]
    texts, _ = run(service, ActionStatus(), tracker(
        who, message(f"查一下{others}", "check_status", [("order_number", others)])))
    assert texts == [replies.NOT_YOUR_ORDER]
    texts, _ = run(service, ActionStatus(), tracker(sender("nobody"), message("进度", "check_status")))
    assert texts == [replies.NO_OPEN_ORDER]


def test_cancel_asks_then_cancels_only_after_yes(service):
    who = sender("cancel")
    number = _open_order(service, who)
    state = tracker(who, message("我想撤销我的反映", "cancel_report"), form="cancel_form")
    _, slots = run(service, ValidateCancelForm(), state)
    assert slots["cancel_number"] == number
    # the list equals the domain's, so Rasa asks the next missing slot itself
    assert slots.get("requested_slot", "cancel_confirmed") == "cancel_confirmed"
    texts, _ = run(service, ActionCancelOrder(), tracker(
        who, message("不了", "deny"), slots={"cancel_number": number, "cancel_confirmed": False}))
    assert texts == [replies.CANCEL_KEPT]
    assert staff_view(service, number)["status"] != "cancelled"
    texts, _ = run(service, ActionCancelOrder(), tracker(
        who, message("确定", "affirm"), slots={"cancel_number": number, "cancel_confirmed": True}))
    assert texts == [replies.cancelled(number)]
    assert staff_view(service, number)["status"] == "cancelled"


def test_cancel_with_nothing_open_says_so(service):
    state = tracker(sender("cancel-none"), message("撤单", "cancel_report"), form="cancel_form")
    texts, slots = run(service, ValidateCancelForm(), state)
    assert texts == [replies.NOTHING_TO_CANCEL] and slots["requested_slot"] is None


# ----------------------------------------------------------------- follow-up visit


def _resolved_order(service, who):
    number = _open_order(service, who)
    handler_id = staff_view(service, number)["assignee_id"]
    token = service.staff_token(f"h-{uuid.uuid4().hex[:6]}", "handler", handler_id=handler_id)
    for step, body in (("accept", {}), ("resolve", {"note": "已更换灯泡"})):
        status, answer = service.call("POST", f"/api/v1/orders/{number}/{step}", token, body)
        assert status == 200, answer
    return number


@pytest.mark.parametrize("text,answer,status", [
    ("满意", "satisfied", "closed"),
    ("不满意，灯还是不亮", "unsatisfied", "assigned"),  # reopened and dispatched again
])
def test_the_follow_up_answer_closes_or_reopens(service, text, answer, status):
    who = sender("rate")
    number = _resolved_order(service, who)
    state = tracker(who, message(text, "rate_satisfaction"), form="satisfaction_form")
    _, slots = run(service, ValidateSatisfactionForm(), state)
    assert slots["rating_number"] == number and slots["satisfaction"] == answer
    assert slots.get("requested_slot") is None  # nothing left to ask
    texts, _ = run(service, ActionSubmitSatisfaction(), tracker(who, message(text, "rate_satisfaction"),
                                                                 slots=slots))
    assert number in texts[0]
    assert staff_view(service, number)["status"] == status


def test_the_rating_goes_to_the_resolved_order_even_with_a_newer_one_open(service):
    who = sender("rate-two")
    resolved = _resolved_order(service, who)
    newer = _open_order(service, who, location="阳光花园5号楼", area_code="grid:cg-yangguang")
    assert latest_order(service, who)["number"] == newer
    state = tracker(who, message("基本满意", "rate_satisfaction"), form="satisfaction_form")
    _, slots = run(service, ValidateSatisfactionForm(), state)
    assert slots["rating_number"] == resolved


def test_not_satisfied_without_a_reason_asks_why(service):
    who = sender("rate-why")
    number = _resolved_order(service, who)
    state = tracker(who, message("不满意", "rate_satisfaction"), form="satisfaction_form")
    _, slots = run(service, ValidateSatisfactionForm(), state)
    assert slots["rating_number"] == number and slots["satisfaction"] == "unsatisfied"
    assert slots.get("requested_slot", "satisfaction_reason") == "satisfaction_reason"
    assert "satisfaction_reason" not in slots


def test_a_rating_with_a_reason_read_as_a_report_answers_the_follow_up(service):
    """"不满意，灯还是一闪一闪的" can look like a new report to the NLU; while an order waits
    for its follow-up answer, it goes to the follow-up form instead of a new report."""
    who = sender("rate-in-one")
    _resolved_order(service, who)
    said = message("不满意，灯还是一闪一闪的", "report_incident",
                   entities=[("satisfaction", "unsatisfied")], category="incident.facility")
    _, events = act(service, ActionStartReport(), tracker(who, said))
    assert events == [{"event": "followup", "timestamp": None, "name": "satisfaction_form"}]
    # without an order waiting for a rating it is a report, as the NLU says
    _, events = act(service, ActionStartReport(), tracker(sender("new"), said))
    assert any(e.get("name") == "description" for e in events)


# ----------------------------------------------------------------- people


def _callbacks(service):
    status, body = service.call("GET", "/api/v1/callbacks?status=open", service.supervisor)
    assert status == 200, body
    return body if isinstance(body, list) else body["items"]


def test_asking_for_a_person_files_a_callback_with_the_conversation(service):
    who = sender("human")
    history = [{"event": "user", "text": "楼上漏水", "parse_data": message("楼上漏水", "report_dispute")},
               {"event": "bot", "text": "请问具体在什么地方？"}]
    texts, _ = run(service, ActionHandoff(),
                   tracker(who, message("转人工", "request_human"), history=history))
    assert texts == [replies.HANDOFF]
    mine = [c for c in _callbacks(service) if c["reporter_ref"] == who]
    assert len(mine) == 1 and mine[0]["reason"] == "asked"
    assert [line["text"] for line in mine[0]["transcript"]] == ["楼上漏水", "请问具体在什么地方？", "转人工"]


def test_two_failed_turns_in_a_row_bring_in_a_person(service):
    who = sender("lost")
    first = message("阿巴阿巴", "nlu_fallback")
    texts, _ = run(service, ActionFallback(), tracker(who, first))
    assert texts == [replies.NOT_UNDERSTOOD]
    history = [{"event": "user", "text": "阿巴阿巴", "parse_data": first},
               {"event": "bot", "text": replies.NOT_UNDERSTOOD}]
    texts, _ = run(service, ActionFallback(), tracker(who, message("呃呃", "nlu_fallback"), history=history))
    assert texts == [replies.HANDOFF_AFTER_FAILURES]
    assert [c["reason"] for c in _callbacks(service) if c["reporter_ref"] == who] == ["not_understood"]


# ------------------------------------------------------------- the phone line


GATEWAY = Vault(EXAMPLE_KEY)  # the key of the service the tests run


def caller():
    """A phone caller as the gateway names them: ``voice:h:<hash>``, and their number."""
    number = f"139{uuid.uuid4().int % 10**8:08d}"
    return caller_ref(GATEWAY, number), number


def on_the_line(number, text, intent="inform", entities=()):
    """A caller's message as the gateway sends it: the number encrypted in the metadata."""
    return {**message(text, intent, entities),
            "metadata": {"caller_token": GATEWAY.encrypt(number, context=CALLER_CONTEXT)}}


def revealed_contact(service, number):
    token = service.staff_token(f"a-{uuid.uuid4().hex[:6]}", "admin")
    status, body = service.call("GET", f"/api/v1/orders/{number}/contact", token)
    assert status == 200, body
    return body["contact"]


def test_a_call_starts_with_a_phone_greeting_and_a_chat_with_the_usual_one(service):
    [chat], _ = act(service, ActionGreet(), tracker(sender("hi"), message("你好", "greet")))
    assert chat["text"] == replies.GREETING
    who, number = caller()
    [call], _ = act(service, ActionGreet(), tracker(who, on_the_line(number, "/greet", "greet")))
    assert call["text"] == replies.PHONE_GREETING


def test_a_callers_order_keeps_the_number_they_accepted_only_as_its_encrypted_contact(service):
    who, number = caller()
    report = filled_report(contact="phone", phone=THIS_PHONE)
    run(service, ActionSubmitReport(), tracker(who, on_the_line(number, "1"), slots=report))
    order = latest_order(service, who)
    assert who.startswith("voice:h:") and number not in who
    assert staff_view(service, order["number"])["reporter_ref"] == who
    assert revealed_contact(service, order["number"]) == number
    # "不用留电话": no contact, and the token is not sent
    other, other_number = caller()
    run(service, ActionSubmitReport(), tracker(other, on_the_line(other_number, "2"),
                                               slots=filled_report(contact="none")))
    assert revealed_contact(service, latest_order(service, other)["number"]) is None


def _order_with_a_note(service, who, number):
    report = filled_report(contact="phone", phone=THIS_PHONE)
    run(service, ActionSubmitReport(), tracker(who, on_the_line(number, "1"), slots=report))
    order_number = latest_order(service, who)["number"]
    handler_id = staff_view(service, order_number)["assignee_id"]
    token = service.staff_token(f"h-{uuid.uuid4().hex[:6]}", "handler", handler_id=handler_id)
    for step, body in (("accept", {}), ("progress", {"note": "已约物业周六上门更换灯泡"})):
        status, answer = service.call("POST", f"/api/v1/orders/{order_number}/{step}", token, body)
        assert status == 200, answer
    return order_number


def test_a_second_call_hears_only_the_headline_and_the_details_after_the_number(service):
    who, number = caller()
    order_number = _order_with_a_note(service, who, number)
    [call], _ = act(service, ActionGreet(), tracker(who, on_the_line(number, "/greet", "greet")))
    text = call["text"]
    assert text.startswith("您好，这里是社区服务热线。您反映的工单 " + order_number)
    assert "路灯" in text or "设施" in text  # the category's name
    assert "办理中" in text or "处理" in text
    assert "幸福里" not in text and "3号楼" not in text  # never the place
    assert "周六" not in text and "物业" not in text  # never the handler's note
    assert replies.DETAILS_BY_NUMBER in text and "还有别的事" in text

    # "我的事怎么样了" without the number: still the headline only
    [asked], _ = act(service, ActionStatus(), tracker(who, on_the_line(number, "我的事怎么样了",
                                                                       "check_status")))
    assert "幸福里" not in asked["text"] and "周六" not in asked["text"]
    assert asked["text"].startswith("工单 " + order_number)

    # the caller keys (or says) the order number: now the details follow
    keyed = on_the_line(number, order_number, "check_status", [("order_number", order_number)])
    [details], _ = act(service, ActionStatus(), tracker(who, keyed))
    assert "幸福里小区3号楼" in details["text"] and "已约物业周六上门更换灯泡" in details["text"]
    # a chat resident hears the details as before
    web = sender("status")
    run(service, ActionSubmitReport(), tracker(web, message("对", "affirm"), slots=filled_report()))
    [chat], _ = act(service, ActionStatus(), tracker(web, message("进度", "check_status")))
    assert "幸福里小区3号楼" in chat["text"]


def test_another_callers_order_number_tells_nothing(service):
    who, number = caller()
    order_number = _order_with_a_note(service, who, number)
    stranger, their_number = caller()
    keyed = on_the_line(their_number, order_number, "check_status", [("order_number", order_number)])
    [answer], _ = act(service, ActionStatus(), tracker(stranger, keyed))
    assert answer["text"] == replies.NOT_YOUR_ORDER


def test_a_callers_callback_is_to_the_number_they_ring_from(service):
    who, number = caller()
    said, _ = act(service, ActionHandoff(), tracker(who, on_the_line(number, "转人工",
                                                                     "request_human")))
    assert said[0]["text"] == replies.HANDOFF
    [mine] = [c for c in _callbacks(service) if c["reporter_ref"] == who]
    assert mine["contact"] == number


def test_on_the_phone_a_person_takes_over_at_once(service):
    who, _ = caller()
    said, _ = act(service, ActionHandoff(), tracker(who, message("转人工", "request_human")))
    assert [m.get("text") for m in said] == [replies.HANDOFF, None]
    assert said[1]["custom"] == {"voice": "transfer"}
    web, _ = act(service, ActionHandoff(), tracker(sender("h"), message("转人工", "request_human")))
    assert [m.get("custom") or None for m in web] == [None]
