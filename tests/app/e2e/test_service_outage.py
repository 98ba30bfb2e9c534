"""End to end: the work-order API goes away in the middle of a report and comes back.

The API is stopped right after the resident's first message, so both the
place lookup and the opening of the order fail. The resident must hear a
plain notice (not an error), the report must be kept, and after the API is
back "再试一次" must open exactly one order, with the place's grid resolved
then (the action's Idempotency-Key keeps a retry from opening a second).
"""
from __future__ import annotations

import pytest
from e2e_support import TurnResult, format_orders, format_transcript, orders_for

pytestmark = pytest.mark.slow

OUTAGE_REPLY = "系统暂时连不上"
RETRY_TEXT = "再试一次"

SENDER = "web:e2e-outage"
FIRST = "楼上邻居天天半夜装修，吵得睡不着"
# said while the API is down: the place (its grid cannot be looked up), then up to "对吗？"
WHILE_DOWN = ["阳光花园小区6号楼", "匿名"]
CONFIRM = "是的"  # the turn that opens the order


def test_a_report_during_an_api_outage_is_opened_once_after_a_retry(stack):
    transcript: list[TurnResult] = []

    def say(text: str) -> list[str]:
        replies = stack.say(SENDER, text)
        transcript.append(TurnResult(text, replies))
        return replies

    def context() -> str:
        return "\n".join([format_transcript(transcript, SENDER),
                          format_orders(orders_for(stack.database_url, SENDER)),
                          stack.log_tail("actions", 15)])

    say(FIRST)
    stack.stop_service("workorders-api")
    try:
        assert not stack.running("workorders-api")
        for text in WHILE_DOWN:
            say(text)
        assert "对吗" in "\n".join(transcript[-1].replies), context()
        replies = say(CONFIRM)
        assert replies, "the bot said nothing while the API was down\n" + context()
        assert OUTAGE_REPLY in "\n".join(replies), (
            f"expected the outage notice {OUTAGE_REPLY!r}\n" + context())
        assert orders_for(stack.database_url, SENDER) == [], (
            "an order appeared while the API was down\n" + context())
    finally:
        stack.start_service("workorders-api")

    replies = say(RETRY_TEXT)
    orders = orders_for(stack.database_url, SENDER)
    assert len(orders) == 1, "expected exactly one order after the retry\n" + context()
    order = orders[0]
    assert order["number"] in "\n".join(replies), context()
    assert (order["category"], order["area_code"]) == ("dispute.neighbor", "grid:cg-yangguang"), context()
    assert order["location_text"] == "阳光花园小区6号楼" and order["assignee_id"] is not None, context()
    # nothing is left to send: a second "再试一次" opens nothing
    replies = say(RETRY_TEXT)
    assert "没有待提交" in "\n".join(replies), context()
    assert len(orders_for(stack.database_url, SENDER)) == 1, context()
