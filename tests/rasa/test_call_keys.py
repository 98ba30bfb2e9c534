"""Idempotency-Keys that repeat when Rasa repeats an action call (actions/workorders_client.py
CALL_KEY, set per call by bot/action_server.py)."""
from __future__ import annotations

import asyncio

from rasa_sdk import Action
from rasa_sdk.executor import ActionExecutor

from actions.workorders_client import request_key
from bot.action_server import install_call_keys
from bot.call_keys import CALL_KEY, call_key


def action_call(message_id: str = "m1", events: int = 3, action: str = "action_probe") -> dict:
    return {"next_action": action, "sender_id": "web:1", "domain": {},
            "tracker": {"sender_id": "web:1", "slots": {}, "latest_message": {"message_id": message_id},
                        "events": [{"event": "action", "name": "action_listen"}] * events,
                        "paused": False, "followup_action": None, "active_loop": {},
                        "latest_action_name": None}}


def test_a_call_and_its_repeat_have_one_key_and_other_calls_others():
    assert call_key(action_call()) == call_key(action_call())
    others = {call_key(action_call("m2")), call_key(action_call(events=4)),
              call_key(action_call(action="action_other")), call_key(action_call())}
    assert len(others) == 4


def test_a_post_key_is_random_outside_a_call_and_derived_inside_one():
    body = {"reporter_ref": "web:1", "description": "又漏水了"}
    assert request_key("/api/v1/orders/1/attach", body) != request_key("/api/v1/orders/1/attach", body)
    token = CALL_KEY.set(call_key(action_call()))
    try:
        first = request_key("/api/v1/orders/1/attach", body)
        assert first == request_key("/api/v1/orders/1/attach", dict(body))
        assert first != request_key("/api/v1/orders/2/attach", body)
        assert first != request_key("/api/v1/orders/1/attach", {**body, "description": "好了"})
    finally:
        CALL_KEY.reset(token)


def test_the_action_server_runs_each_call_with_its_key():
    seen: list[str | None] = []

    class Probe(Action):
        def name(self) -> str:
            return "action_probe"

        async def run(self, dispatcher, tracker, domain):
            seen.append(CALL_KEY.get())
            return []

    original = ActionExecutor.run
    try:
        install_call_keys()
        install_call_keys()  # once is enough
        executor = ActionExecutor()
        executor.register_action(Probe())
        asyncio.run(executor.run(action_call()))
        asyncio.run(executor.run(action_call()))
        asyncio.run(executor.run(action_call("m2")))
    finally:
        ActionExecutor.run = original
    assert seen[0] == seen[1] == call_key(action_call()) and seen[2] == call_key(action_call("m2"))
    assert CALL_KEY.get() is None
