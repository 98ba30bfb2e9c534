"""The served model on the held-out set, with floors (issue: foundation)."""
from __future__ import annotations

import pytest

from bot.nlu_eval import evaluate
from bot.nlu_runtime import classify

INTENT_ACCURACY_FLOOR = 0.93
CATEGORY_ACCURACY_FLOOR = 0.90


@pytest.fixture(scope="module")
def result(agent, heldout):
    return evaluate(agent, heldout)


def test_intent_accuracy(result):
    assert result["intent_accuracy"] >= INTENT_ACCURACY_FLOOR, result["errors"]


def test_category_accuracy(result):
    assert result["category_accuracy"] >= CATEGORY_ACCURACY_FLOOR, result["errors"]


def test_every_emergency_is_flagged(result):
    missed = [e["text"] for e in result["errors"]
              if e["expected"]["emergency"] and not e["got"]["emergency"]]
    assert missed == []
    assert result["emergency_recall"] == 1.0


@pytest.mark.parametrize("text, location", [
    ("我住在金色家园5号楼3单元，楼上天天半夜装修", "金色家园5号楼3单元"),
    ("东风村二组的路灯坏了一个礼拜了", "东风村二组"),
    ("幸福里小区3号楼2单元门口的井盖没了", "幸福里小区3号楼2单元门口"),
    ("中山路和解放路路口的红绿灯不亮了", "中山路和解放路路口"),
])
def test_a_place_comes_out_as_one_location(agent, text, location):
    record = classify(agent, text)
    places = [e["value"] for e in record["entities"] if e["entity"] == "location"]
    assert places == [location]


def test_phone_and_order_numbers_are_extracted(agent):
    record = classify(agent, "我的电话是138 1234 5678，工单号是73920416")
    found = {(e["entity"], e["value"]) for e in record["entities"]}
    assert ("phone", "138 1234 5678") in found
    assert ("order_number", "73920416") in found


def test_off_topic_lands_on_out_of_scope_not_deny(agent):
    for text in ("今天天气怎么样", "给我讲个笑话吧", "帮我订一张去北京的机票"):
        assert classify(agent, text)["intent"] == "out_of_scope", text
