"""conversations.yml follows its format, and the format check catches mistakes (no stack)."""
from __future__ import annotations

import pytest
from e2e_support import (
    Conversation,
    ConversationFileError,
    OrderExpectation,
    Turn,
    check_orders,
    check_replies,
    load_conversations,
    parse_conversations,
)


def test_the_conversations_file_is_valid():
    conversations = load_conversations()
    assert conversations
    assert all(c.turns and ":" in c.sender for c in conversations)


def one(**overrides) -> dict:
    conversation = {"name": "c1", "sender": "web:e2e-1", "turns": [{"say": "你好"}]}
    conversation.update(overrides)
    return {"conversations": [conversation]}


def test_a_full_conversation_parses():
    [c] = parse_conversations(one(
        turns=[{"say": "路灯坏了", "expect": ["路灯", "对吗"], "expect_not": "抱歉"}],
        order={"category": "incident.facility", "area_code": "grid:cg-xingfuli",
               "priority": "normal", "location_contains": "3号楼", "description_contains": "路灯",
               "assigned": True, "status": "assigned", "count": 1}))
    assert c.channel == "web"
    assert c.turns == (Turn("路灯坏了", ("路灯", "对吗"), ("抱歉",)),)
    assert c.order == OrderExpectation("incident.facility", "grid:cg-xingfuli", "normal", "3号楼",
                                       "路灯", True, "assigned", 1)


@pytest.mark.parametrize("overrides, message", [
    ({"sender": "e2e-1"}, "sender"),
    ({"turns": []}, "turns"),
    ({"turns": [{"said": "你好"}]}, "unknown key(s) said"),
    ({"turns": [{"say": "你好", "expect": [1]}]}, "expect"),
    ({"colour": "red"}, "unknown key(s) colour"),
    ({"order": {"category": "incident.lamp"}}, "category"),
    ({"order": {"area_code": "grid:nowhere"}}, "area_code"),
    ({"order": {"priority": "high"}}, "priority"),
    ({"order": {"count": 0}}, "count"),
    ({"order": {"status": "done"}}, "status"),
    ({"order": {"category": "incident.facility"}, "no_order": True}, "exclude each other"),
])
def test_mistakes_are_named(overrides, message):
    with pytest.raises(ConversationFileError, match="c1") as caught:
        parse_conversations(one(**overrides))
    assert message in str(caught.value)


def test_names_are_unique_senders_may_come_back():
    data = one()
    data["conversations"].append(dict(data["conversations"][0]))
    with pytest.raises(ConversationFileError, match="name 'c1' is also used"):
        parse_conversations(data)
    data["conversations"][1]["name"] = "c2"  # the same resident again: allowed
    assert [c.sender for c in parse_conversations(data)] == ["web:e2e-1", "web:e2e-1"]


def test_replies_are_checked_as_joined_text():
    turn = Turn("路灯坏了", expect=("路灯", "对吗"), expect_not=("抱歉",))
    assert check_replies(turn, ["3号楼门口的路灯", "是这样，对吗？"]) == []
    assert check_replies(turn, ["抱歉，路灯对吗"]) == ["did not expect '抱歉' in the replies"]
    assert "expected '对吗' in the replies" in check_replies(turn, ["路灯"])


def test_orders_are_checked_on_the_newest():
    conversation = Conversation("c", "web:x", (Turn("a"),), order=OrderExpectation(
        category="incident.facility", assigned=True, location_contains="3号楼"))
    order = {"category": "incident.facility", "area_code": "grid:cg-xingfuli",
             "priority": "normal", "status": "assigned", "location_text": "幸福里3号楼",
             "description": "路灯坏了", "assignee_id": 4}
    assert check_orders(conversation, [order]) == []
    assert check_orders(conversation, []) == ["expected 1 order(s) for web:x, found 0"]
    problems = check_orders(conversation, [order, {**order, "assignee_id": None}])
    assert len(problems) == 2 and "found 2" in problems[0] and "assigned" in problems[1]
    assert check_orders(Conversation("c", "web:x", (), no_order=True), [order]) == [
        "expected no order, found 1"]
