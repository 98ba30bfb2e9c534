"""End to end: each scripted conversation of conversations.yml against the real stack.

One stack per module (conftest.py); each conversation is its own test case:
its turns go to Rasa's REST channel one by one, every turn's replies are
checked (`expect`, `expect_not`), then the sender's work orders are read
straight from the stack's database (`order`, `no_order`). A failure shows the
whole conversation, the orders found and the tails of the bot's logs.

E2E_CONVERSATIONS=path/to/draft.yml runs another file of the same format.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from e2e_support import (
    CONVERSATIONS_FILE,
    Conversation,
    check_orders,
    format_orders,
    format_transcript,
    load_conversations,
    orders_for,
    run_conversation,
)

pytestmark = pytest.mark.slow

CONVERSATIONS = load_conversations(Path(os.environ.get("E2E_CONVERSATIONS") or CONVERSATIONS_FILE))


@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=[c.name for c in CONVERSATIONS])
def test_conversation(stack, conversation: Conversation) -> None:
    results = run_conversation(stack.say, conversation)
    orders = orders_for(stack.database_url, conversation.sender)
    problems = [p for r in results for p in r.problems] + check_orders(conversation, orders)
    dead = stack.dead_services()
    if dead:
        problems.append(f"service(s) died: {', '.join(dead)}")
    if problems:
        pytest.fail("\n".join([
            f"{conversation.name}: {len(problems)} problem(s): " + "; ".join(problems),
            format_transcript(results, conversation.sender),
            format_orders(orders),
            *(stack.log_tail(name, 15) for name in ("actions", "rasa", *dead)),
        ]), pytrace=False)
