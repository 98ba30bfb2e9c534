"""The conversation's new branches, run as actions on tracker snapshots against
the real work-order service with the demo data (as in test_actions.py):
other requests (questions, suggestions, complaints) from first message to an
order for the community's staff, the one question asked when danger is only
possible, "不知道" at the community question, and descriptions without the
greeting in front."""
from __future__ import annotations

import pytest

from actions import replies
from actions.handoff import ActionFallback
from actions.report_form import ValidateReportForm
from actions.report_start import ActionStartReport
from actions.report_submit import ActionSubmitReport
from tests.rasa.test_actions import (
    act,
    filled_report,
    latest_order,
    message,
    run,
    sender,
    staff_view,
    tracker,
)

pytestmark = pytest.mark.slow


def parsed(text, intent, category=None, level="none", incident=None, entities=()):
    record = message(text, intent, entities, category=category, emergency=level == "emergency")
    record["emergency"].update({"level": level, "check": level == "check", "category": incident})
    return record


# ------------------------------------------------------------------ requests


def test_a_question_is_acknowledged_with_its_answer_time_and_needs_no_place(service):
    who = f"tg:{abs(hash(sender('q'))) % 10**9}"
    latest = parsed("喂，你好，咨询一下城乡居民养老保险一年交多少钱", "other_request",
                    category="request.consult")
    texts, slots = run(service, ActionStartReport(), tracker(who, latest))
    assert texts == ["好的，这个问题我帮您转给社区工作人员，3天内给您答复。"]
    assert slots["description"] == "咨询一下城乡居民养老保险一年交多少钱"  # greeting dropped
    assert slots["category"] == "request.consult"
    assert slots.get("location") is None
    assert slots["area_code"] == "grid:cg-xingfuli"  # the office that takes unplaced reports


def test_a_request_on_telegram_asks_nothing_more_than_the_read_back(service):
    who = "tg:55500011"
    state = tracker(who, parsed("咨询一下养老保险", "other_request", category="request.consult"),
                    slots={"description": "咨询一下养老保险", "category": "request.consult",
                           "area_code": "grid:cg-xingfuli", "report_key": "k-q1"},
                    requested=None, form="report_form")
    _, slots = run(service, ValidateReportForm(), state)
    assert slots["requested_slot"] == "confirmed"


def test_a_request_on_the_web_asks_for_a_contact_the_answer_can_reach(service):
    state = tracker(sender("web-q"), parsed("建议小区增设充电桩", "other_request",
                                            category="request.suggest"),
                    slots={"description": "建议小区增设充电桩", "category": "request.suggest",
                           "area_code": "grid:cg-xingfuli", "report_key": "k-q2"},
                    requested=None, form="report_form")
    _, slots = run(service, ValidateReportForm(), state)
    assert slots["requested_slot"] == "contact"


def test_the_read_back_of_a_request_says_what_it_is(service):
    from actions.report_form import AskConfirmed

    state = tracker("tg:55500012", parsed("对", "affirm"),
                    slots={"description": "投诉驾校乱收补考费", "category": "request.complaint"})
    messages, _ = act(service, AskConfirmed(), state)
    assert messages[0]["text"] == "我核对一下：您要投诉举报的是：投诉驾校乱收补考费。对吗？"


def test_a_request_opens_an_order_for_the_staff(service):
    who = "tg:55500013"
    slots = filled_report(description="咨询一下城乡居民养老保险一年交多少钱", location=None,
                          category="request.consult", area_code=None, area_matched=None,
                          contact=None)
    texts, _ = run(service, ActionSubmitReport(), tracker(who, parsed("对", "affirm"), slots=slots))
    order = latest_order(service, who)
    full = staff_view(service, order["number"])
    assert full["kind"] == "request" and full["category"] == "request.consult"
    assert full["area_code"] == "grid:cg-xingfuli" and full["location_text"] == "未说明地点"
    assert full["assignee_id"] is not None
    assert texts == [f"已为您登记，工单号 {order['number']}。社区工作人员会在"
                     f"{replies.when(order['resolve_by'])}前答复您，答复会在这里发给您。"]


# ------------------------------------------------------------------ possible danger


def possible_danger(answer, intent, **extra):
    return tracker(sender("danger"), parsed(answer, intent, **extra),
                   slots={"description": "隔壁独居的王大爷两天没见出门了", "category": "incident.care",
                          "emergency": False, "emergency_check": True,
                          "incident_category": "incident.care", "report_key": "k-d"},
                   requested="danger", form="report_form")


def test_possible_danger_is_asked_about_first(service):
    state = tracker(sender("danger"), parsed("阳光花园", "inform"),
                    slots={"description": "隔壁独居的王大爷两天没见出门了", "category": "incident.care",
                           "emergency_check": True, "report_key": "k-d0"},
                    requested=None, form="report_form")
    _, slots = run(service, ValidateReportForm(), state)
    assert slots["requested_slot"] == "danger"


def test_yes_takes_the_emergency_path(service):
    texts, slots = run(service, ValidateReportForm(), possible_danger("有", "affirm"))
    assert slots["danger"] is True and slots["emergency"] is True
    assert slots["category"] == "incident.care"
    assert len(texts) == 1 and "120" in texts[0]
    assert slots["requested_slot"] == "location"  # only the place is asked now


def test_no_takes_the_normal_path(service):
    texts, slots = run(service, ValidateReportForm(), possible_danger("没有", "deny"))
    assert slots["danger"] is False and "emergency" not in slots
    assert texts == [replies.NO_DANGER]
    assert slots["requested_slot"] == "location"


def test_a_key_answers_on_the_phone(service):
    _, slots = run(service, ValidateReportForm(), possible_danger("2", "inform"))
    assert slots["danger"] is False
    _, slots = run(service, ValidateReportForm(), possible_danger("1", "inform"))
    assert slots["danger"] is True and slots["emergency"] is True


def test_an_answer_that_says_neither_is_taken_as_danger(service):
    texts, slots = run(service, ValidateReportForm(), possible_danger("啊？你说啥", "nlu_fallback"))
    assert slots["danger"] is True and slots["emergency"] is True
    assert any("120" in t for t in texts)
    # and the fallback does not say "I did not understand" first
    fallback_texts, _ = run(service, ActionFallback(), possible_danger("啊？你说啥", "nlu_fallback"))
    assert fallback_texts == []


def test_a_dispute_confirmed_dangerous_becomes_an_incident(service):
    state = tracker(sender("danger-d"), parsed("有，他拿着刀", "affirm"),
                    slots={"description": "隔壁两口子吵得很凶在摔东西", "category": "dispute.family",
                           "emergency_check": True, "incident_category": "incident.order",
                           "report_key": "k-d2"},
                    requested="danger", form="report_form")
    texts, slots = run(service, ValidateReportForm(), state)
    assert slots["category"] == "incident.order" and slots["emergency"] is True
    assert "110" in texts[0]


# ------------------------------------------------------------------ community not known


@pytest.mark.parametrize("answer, intent", [("不知道", "deny"), ("不清楚", "nlu_fallback"),
                                            ("就在这附近", "inform")])
def test_not_knowing_the_community_sends_the_report_on(service, answer, intent):
    state = tracker(sender("dunno"), parsed(answer, intent),
                    slots={"description": "垃圾站旁边的垃圾好多天没人清了", "category": "incident.sanitation",
                           "location": "垃圾站旁边", "area_matched": False,
                           "area_code": "grid:cg-xingfuli", "report_key": "k-c"},
                    requested="community", form="report_form")
    texts, slots = run(service, ValidateReportForm(), state)
    assert slots["community"] == replies.COMMUNITY_UNKNOWN
    assert slots["requested_slot"] == "contact"  # the question is not repeated
    fallback_texts, _ = run(service, ActionFallback(), state)
    assert fallback_texts == []


# ------------------------------------------------------------------ descriptions


@pytest.mark.parametrize("text, description", [
    ("喂，你好，我跟你说啊，楼上又漏水了，墙都泡了", "楼上又漏水了，墙都泡了"),
    ("喂 是社区吗 俺家楼道灯坏了", "俺家楼道灯坏了"),
    ("那个，就是，幸福里小区3号楼门口的路灯坏了", "幸福里小区3号楼门口的路灯坏了"),
    ("请问城乡居民医保怎么交", "请问城乡居民医保怎么交"),
])
def test_the_description_drops_the_greeting_and_keeps_the_problem(service, text, description):
    latest = parsed(text, "report_incident", category="incident.facility")
    _, slots = run(service, ActionStartReport(), tracker(sender("pre"), latest))
    assert slots["description"] == description


def test_a_vague_request_is_asked_what_it_is_about(service):
    from actions.report_form import AskDescription

    state = tracker("tg:55500014", parsed("我想咨询个事", "other_request", category="request.consult"),
                    slots={"category": "request.consult"})
    messages, _ = act(service, AskDescription(), state)
    assert messages[0]["text"] == replies.ASK_REQUEST


def test_not_knowing_the_place_asks_for_a_rough_one(service):
    from actions.report_form import AskLocation

    state = tracker(sender("where"), parsed("不知道", "deny"),
                    slots={"description": "垃圾好多天没人清了", "category": "incident.sanitation",
                           "report_key": "k-l"},
                    requested="location", form="report_form")
    messages, _ = act(service, AskLocation(), state)
    assert messages[0]["text"] == replies.ASK_LOCATION_ROUGHLY
    fallback_texts, _ = run(service, ActionFallback(), state)
    assert fallback_texts == []
