"""Pure readers of short answers (actions/answers.py, actions/report_text.py)."""
from __future__ import annotations

import pytest

from actions.answers import (
    THIS_PHONE,
    contact_answer,
    correction_target,
    correction_value,
    satisfaction_answer,
    satisfaction_reason,
    yes_no,
)
from actions.report_text import emergency_numbers, is_vague


@pytest.mark.parametrize("text,intent,expected", [
    ("对", "affirm", True), ("是的", None, True), ("没错", None, True), ("1", None, True),
    ("不对", "deny", False), ("不是", None, False), ("2", None, False), ("错了", None, False),
    ("幸福里小区", "inform", None), ("嗯嗯", None, True),
])
def test_yes_no(text, intent, expected):
    assert yes_no(text, intent) is expected


@pytest.mark.parametrize("text,expected", [
    ("13812345678", ("phone", "13812345678")),
    ("我的电话是 138 1234 5678", ("phone", "13812345678")),
    ("幺三八一二三四五六七八", ("phone", "13812345678")),
    ("匿名", ("anonymous", None)),
    ("我不想留名", ("anonymous", None)),
    ("不用了", ("none", None)),
    ("不方便", ("none", None)),
    ("幸福里小区3号楼", None),
    ("算了，不报了", None),  # gives up the report: not an answer about contact
])
def test_contact_answer(text, expected):
    assert contact_answer(text, None) == expected


def test_a_caller_accepts_their_own_number_with_yes_or_key_1():
    # the actions never see the number: the slot says "this phone", the service fills it in
    assert contact_answer("可以", "affirm", caller=True) == ("phone", THIS_PHONE)
    assert contact_answer("1", None, caller=True) == ("phone", THIS_PHONE)
    assert contact_answer("13900002222", None, caller=True) == ("phone", "13900002222")
    assert contact_answer("可以", "affirm") is None  # chat: "可以" gives no number


@pytest.mark.parametrize("text,entities,expected", [
    ("满意", [], "satisfied"), ("非常满意", [], "satisfied"),
    ("基本满意", [], "basically_satisfied"), ("还行吧", [], "basically_satisfied"),
    ("不满意", ["satisfied"], "unsatisfied"), ("不太满意，还在漏", [], "unsatisfied"),
    ("3", [], "unsatisfied"), ("今天天气不错的话", [], "satisfied"), ("嗯", [], None),
])
def test_satisfaction_answer(text, entities, expected):
    assert satisfaction_answer(text, entities) == expected


def test_satisfaction_reason_is_what_follows_the_rating():
    assert satisfaction_reason("不满意，水还在漏") == "水还在漏"
    assert satisfaction_reason("不满意") is None
    assert satisfaction_reason("楼上还是吵") is None


@pytest.mark.parametrize("text,field,value", [
    ("地点是幸福里小区8号楼", "location", "幸福里小区8号楼"),
    ("不对，地址应该是红星村村口", "location", "红星村村口"),
    ("电话错了，是13911113333", "contact", "13911113333"),
    ("事情是楼道灯坏了", "description", "楼道灯坏了"),
])
def test_corrections_name_their_field(text, field, value):
    assert correction_target(text) == field
    assert value in correction_value(text)


@pytest.mark.parametrize("text,vague", [
    ("我要反映个问题", True), ("喂，我想投诉", True), ("你好，我要报个事情", True),
    ("路灯坏了", False), ("楼上漏水", False), ("老板拖欠工资", False),
])
def test_is_vague(text, vague):
    assert is_vague(text) is vague


@pytest.mark.parametrize("text,category,numbers", [
    ("着火了，楼道里全是烟", "incident.safety", ["119"]),
    ("老人晕倒了叫不醒", "incident.care", ["120"]),
    ("有人拿刀砍人，有人受伤流血", "incident.order", ["110", "120"]),
    ("燃气泄漏了", None, ["119"]),
    ("快来人", "incident.order", ["110"]),
    ("快来人", None, ["110"]),
])
def test_emergency_numbers(text, category, numbers):
    assert emergency_numbers(text, category) == numbers


def test_a_message_that_opens_with_a_rating():
    from actions.answers import leads_with_rating

    for text in ("不满意，灯还是一闪一闪的", "很不满意 根本没人来", "基本满意，就是慢了点", "满意！", "说实话不太满意"):  # noqa: E501  (Chinese text counts double)
        assert leads_with_rating(text), text
    for text in ("我对楼上邻居很不满意，他们天天吵", "楼道灯坏了", "不用了", ""):
        assert not leads_with_rating(text), text
