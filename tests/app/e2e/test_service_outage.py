"""End to end: the work-order API goes away in the middle of a report and comes back.

The resident should hear a polite notice instead of an error, and after the
API is back, saying RETRY_TEXT should open exactly one order (the action's
Idempotency-Key keeps a retry from opening a second).

The report conversation is not built yet: the dialogue assertions are
expected to fail (xfail, AssertionError only). Anything else, such as the
stack failing to stop or restart the API, is a real failure.
"""
from __future__ import annotations

import pytest

from e2e_support import TurnResult, format_orders, format_transcript, orders_for

pytestmark = pytest.mark.slow

# TODO(dialogue): the texts of the outage notice and of the resident's retry,
# to be filled in with the report conversation.
OUTAGE_REPLY = "暂时"
RETRY_TEXT = "再试一次"

SENDER = "web:e2e-outage"
# everything the report needs, up to the bot's "对吗?" (the neighbour_noise_report sample)
BEFORE_CONFIRMING = ["楼上邻居天天半夜装修，吵得睡不着", "阳光花园小区6号楼", "匿名"]
CONFIRM = "是的"  # the turn that opens the order


@pytest.mark.xfail(reason="dialogue not built yet", strict=False, raises=AssertionError)
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

    for text in BEFORE_CONFIRMING:
        say(text)
    stack.stop_service("workorders-api")
    try:
        assert not stack.running("workorders-api")
        replies = say(CONFIRM)
        assert replies, "the bot said nothing while the API was down\n" + context()
        assert OUTAGE_REPLY in "\n".join(replies), (
            f"expected the outage notice {OUTAGE_REPLY!r}\n" + context())
        assert orders_for(stack.database_url, SENDER) == [], (
            "an order appeared while the API was down\n" + context())
    finally:
        stack.start_service("workorders-api")

    say(RETRY_TEXT)
    orders = orders_for(stack.database_url, SENDER)
    assert len(orders) == 1, "expected exactly one order after the retry\n" + context()
