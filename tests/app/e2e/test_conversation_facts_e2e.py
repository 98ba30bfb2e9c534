"""End to end: the real bot's events fold into the right conversation facts.

The broker publishes each tracker event's ``as_dict()`` with ``sender_id``;
Rasa's tracker endpoint returns the same events, so this test takes them from
there (the embedded stack has no RabbitMQ) and stores them as the consumer does.
It checks what the folding assumes about the bot: which event shows the order
number, the form's questions, the fallback and the hand-off.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from e2e_support import orders_for
from sqlalchemy import select, text

from integrations.shared.sql import make_engine, make_session_factory
from integrations.workorders.adapters.conversation_tables import Conversation
from integrations.workorders.service.conversations import record_events

pytestmark = pytest.mark.slow


def tracker_events(stack, sender: str) -> tuple[list[dict], dict]:
    response = httpx.get(f"{stack.rasa_url}/conversations/{sender}/tracker",
                         params={"token": stack.rasa_token}, timeout=10)
    response.raise_for_status()
    tracker = response.json()
    return [{"sender_id": sender, **e} for e in tracker["events"]], tracker["slots"]


def test_the_real_bots_events_fold_into_the_facts(stack):
    said = {
        "tg:e2e-facts-done": ["幸福里小区7号楼的楼道灯坏了，晚上黑漆漆的", "不用了", "对"],
        "web:e2e-facts-left": ["楼上漏水把我家天花板泡坏了"],
        "tg:e2e-facts-human": ["你好", "转人工"],
        "web:e2e-facts-unclear": ["啊吧啊吧", "那个那个"],
    }
    for sender, texts in said.items():
        for line in texts:
            stack.say(sender, line)

    engine = make_engine(stack.database_url)
    sessions = make_session_factory(engine)
    later = datetime.now(UTC) + timedelta(minutes=31)
    slots = {}
    try:
        with sessions() as session:
            for sender in said:
                events, slots[sender] = tracker_events(stack, sender)
                assert record_events(session, events, now=later) > 0
                assert record_events(session, events, now=later) == 0
            session.commit()
            rows = {r.sender_id: r for r in session.scalars(select(Conversation))}
            dump = json.dumps([list(r) for r in session.execute(text(
                "SELECT * FROM conversation_events")).all()], default=str, ensure_ascii=False)
    finally:
        engine.dispose()

    done = rows["tg:e2e-facts-done"]
    [order] = orders_for(stack.database_url, "tg:e2e-facts-done")
    assert done.report_started and done.report_opened and done.order_number == order["number"]
    assert done.turns == 3 and done.seconds_to_order is not None and done.seconds_to_order > 0
    assert done.dropped_at is None and done.fallbacks == 0 and not done.handed_off

    left = rows["web:e2e-facts-left"]
    assert left.report_started and not left.report_opened
    assert slots["web:e2e-facts-left"]["requested_slot"]  # the form waits for an answer
    assert left.dropped_at == slots["web:e2e-facts-left"]["requested_slot"]

    human = rows["tg:e2e-facts-human"]
    assert human.handed_off and human.turns == 2 and not human.report_started
    assert json.loads(human.intents) == ["greet", "request_human"]

    unclear = rows["web:e2e-facts-unclear"]
    assert unclear.fallbacks == 2 and unclear.handed_off  # the second one asks for a person

    for lines in said.values():
        for line in lines:
            assert line not in dump
