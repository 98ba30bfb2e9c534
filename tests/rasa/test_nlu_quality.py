"""The served model on both held-out sets, with floors: per style of the
set written in every style residents use, and on the first (chat) set."""
from __future__ import annotations

import pytest

from bot.nlu_eval import STYLES, evaluate
from bot.nlu_runtime import classify

INTENT_ACCURACY_FLOOR = 0.93
CATEGORY_ACCURACY_FLOOR = 0.90
# emergencies acted on at once or asked about; ordinary reports acted on at
# once; ordinary reports asked about
FLAGGED_FLOOR = 0.98
FALSE_ACT_CEILING = 0.05
FALSE_CHECK_CEILING = 0.15


@pytest.fixture(scope="module")
def result(agent, heldout):
    return evaluate(agent, heldout)


@pytest.fixture(scope="module")
def styles(agent, heldout_styles):
    return evaluate(agent, heldout_styles)


def _errors(result, style=None):
    return "\n".join(f"{e['text'][:80]} expected {e['expected']} got {e['got']}"
                     for e in result["errors"] if style is None or e["style"] == style)


def test_every_style_is_in_the_set(styles):
    assert set(styles["styles"]) >= set(STYLES)


@pytest.mark.parametrize("style", STYLES)
def test_intent_accuracy_per_style(styles, style):
    row = styles["styles"][style]
    assert row["intent_accuracy"] >= INTENT_ACCURACY_FLOOR, _errors(styles, style)


@pytest.mark.parametrize("style", STYLES)
def test_category_accuracy_per_style(styles, style):
    row = styles["styles"][style]
    assert row["category_accuracy"] >= CATEGORY_ACCURACY_FLOOR, _errors(styles, style)


def test_emergencies_are_acted_on_or_asked_about(styles):
    assert styles["emergencies"] >= 50
    assert styles["emergency_flagged"] >= FLAGGED_FLOOR, _errors(styles)


def test_ordinary_reports_are_rarely_treated_as_emergencies(styles):
    assert styles["ordinary_reports"] >= 100 and styles["alarming_reports"] >= 100
    assert styles["false_act"] <= FALSE_ACT_CEILING, _errors(styles)
    assert styles["false_check"] <= FALSE_CHECK_CEILING, _errors(styles)


def test_emergencies_go_to_grid_workers(styles):
    """An emergency is filed as an incident (a grid worker goes at once),
    never as a dispute for a mediator or a request for the office."""
    assert styles["emergency_kind_accuracy"] >= 0.95, _errors(styles)


def test_intent_accuracy(result):
    assert result["intent_accuracy"] >= INTENT_ACCURACY_FLOOR, _errors(result)


def test_category_accuracy(result):
    assert result["category_accuracy"] >= CATEGORY_ACCURACY_FLOOR, _errors(result)


def test_every_emergency_of_the_first_set_is_acted_on_or_asked_about(result):
    assert result["emergency_flagged"] >= FLAGGED_FLOOR, _errors(result)
    assert result["false_act"] <= FALSE_ACT_CEILING, _errors(result)


@pytest.mark.parametrize("text, intent", [
    ("取消路桥规费", "other_request"),
    ("乱收费要取消", "other_request"),
    ("建议取消我们这条路的单双号限行", "other_request"),
    ("把我那个投诉取消掉", "cancel_report"),
    ("撤销工单52840391", "cancel_report"),
    ("好的，我们小区门口的路灯坏了好几天了", "report_incident"),
    ("是的，楼上天天半夜装修吵得睡不着", "report_dispute"),
    ("咨询城乡居民养老保险待遇", "other_request"),
])
def test_first_messages_that_start_the_right_flow(agent, text, intent):
    assert classify(agent, text)["intent"] == intent


def test_classify_reports_both_emergency_levels(agent):
    fire = classify(agent, "三楼着火了，楼道里全是烟，快来人")
    assert fire["emergency"] is True and fire["emergency_check"] is False
    assert fire["category"] == "incident.safety"
    bench = classify(agent, "公园的长椅坏了一条腿")
    assert bench["emergency"] is False and bench["emergency_check"] is False


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
