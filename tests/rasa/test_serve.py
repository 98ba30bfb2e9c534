"""bot/serve.py: Rasa's action-answer check, compiled once, still rejects bad answers."""
from __future__ import annotations

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

from bot.serve import install_cached_response_validation


@pytest.fixture(scope="module")
def action():
    original = RemoteAction._validate_action_result
    install_cached_response_validation()
    yield RemoteAction("action_status", None)
    RemoteAction._validate_action_result = original


def test_good_answers_pass_many_times(action):
    good = {"events": [{"event": "slot", "name": "location", "value": "3号楼"}],
            "responses": [{"text": "好的"}]}
    for _ in range(3):
        assert action._validate_action_result(good) is True


def test_bad_answers_are_still_refused_with_rasas_message(action):
    with pytest.raises(ValidationError) as caught:
        action._validate_action_result({"events": [{"name": "no event type"}]})
    assert "Failed to validate Action server response" in caught.value.message
    with pytest.raises(ValidationError):
        action._validate_action_result({"events": "not a list"})


def test_the_tracker_stores_postgresql_connections_are_checked_when_taken():
    from rasa.core import tracker_store

    from bot.serve import install_tracker_store_pre_ping

    original = tracker_store.create_engine_kwargs
    try:
        install_tracker_store_pre_ping()
        install_tracker_store_pre_ping()  # once is enough: not wrapped twice
        patched = tracker_store.create_engine_kwargs
        assert patched is not original and getattr(patched, "pre_ping", False)
        assert patched("postgresql://u@127.0.0.1:5432/t")["pool_pre_ping"] is True
        assert "pool_pre_ping" not in patched("sqlite:///var/t.db")
    finally:
        tracker_store.create_engine_kwargs = original


def test_a_failing_tracker_store_fails_the_turn_instead_of_forgetting_the_conversation():
    import asyncio

    from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker
    from sqlalchemy.exc import OperationalError

    from bot.serve import TrackerStoreUnavailable, install_strict_tracker_store

    class Broken(InMemoryTrackerStore):
        async def retrieve(self, sender_id):
            raise OperationalError("SELECT", {}, Exception("server closed the connection"))

        async def save(self, tracker):
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))

    saved = {name: getattr(FailSafeTrackerStore, name)
             for name in ("on_tracker_store_error", "on_tracker_store_retrieve_error")}
    try:
        install_strict_tracker_store()
        store = FailSafeTrackerStore(Broken(Domain.empty()))
        with pytest.raises(TrackerStoreUnavailable):
            asyncio.run(store.get_or_create_tracker("web:1"))
        with pytest.raises(TrackerStoreUnavailable):
            asyncio.run(store.save(DialogueStateTracker("web:1", [])))
        assert store._fallback_tracker_store is None  # nothing kept aside in memory
    finally:
        for name, method in saved.items():
            setattr(FailSafeTrackerStore, name, method)


def test_an_action_call_the_server_dropped_is_made_again_and_a_refusal_is_not(monkeypatch):
    import asyncio
    import socket

    from aiohttp import web
    from rasa.core.actions.action import RemoteAction
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.shared.exceptions import RasaException
    from rasa.utils.endpoints import EndpointConfig

    import bot.serve as serve

    monkeypatch.setattr(serve, "ACTION_RETRY_PAUSE_S", 0.01)
    original = RemoteAction.run
    answers: list[int] = []

    async def webhook(request):
        status = answers.pop(0)
        if status != 200:
            return web.json_response({"error": "x"}, status=status)
        return web.json_response({"events": [], "responses": [{"text": "好的"}]})

    async def main():
        app = web.Application()
        app.router.add_post("/webhook", webhook)
        runner = web.AppRunner(app)
        await runner.setup()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        await web.TCPSite(runner, "127.0.0.1", port).start()
        domain = Domain.empty()
        args = (CollectingOutputChannel(), TemplatedNaturalLanguageGenerator({}),
                DialogueStateTracker("web:1", []), domain)
        action = RemoteAction("action_x", EndpointConfig(f"http://127.0.0.1:{port}/webhook"))
        try:
            answers[:] = [502, 503, 200]  # the instance died, none up, then the other one
            events = await action.run(*args)
            assert [e.text for e in events] == ["好的"] and answers == []
            answers[:] = [500, 200]  # the action itself failed: not called again
            with pytest.raises(RasaException):
                await action.run(*args)
            assert answers == [200]
            answers[:] = [502, 502, 502, 200]  # gives up after ACTION_RETRIES more calls
            with pytest.raises(RasaException):
                await action.run(*args)
            assert answers == [200]
        finally:
            await runner.cleanup()
        refused = RemoteAction("action_x", EndpointConfig(f"http://127.0.0.1:{port}/webhook"))
        with pytest.raises(RasaException):  # nobody listens any more: tried 3 times, then fails
            await refused.run(*args)

    try:
        serve.install_action_retries()
        asyncio.run(main())
    finally:
        RemoteAction.run = original
