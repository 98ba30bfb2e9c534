"""bot/channels.py: a message Rasa could not handle is a 503 with a reason, not ``200 []``
(a real Sanic server with the channel's blueprint; the turn handler is a stand-in)."""
from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from sanic import Sanic
from sqlalchemy.exc import OperationalError

from bot.channels import UNAVAILABLE_ZH, TokenRestInput
from bot.lock_store import LockStoreUnavailable
from bot.serve import TrackerStoreUnavailable

FAILURES = {
    "lock": LockStoreUnavailable("lock store unavailable: Connection refused"),
    "db": OperationalError("SELECT", {}, Exception("server closed the connection")),
    "tracker": TrackerStoreUnavailable("tracker store unavailable: OperationalError"),
    "bug": ValueError("boom"),
}


def post_all(texts: list[str]) -> list[tuple[int, object, str | None]]:
    async def on_new_message(message):
        if message.text in FAILURES:
            await message.output_channel.send_text_message(message.sender_id, "不该收到")
            raise FAILURES[message.text]
        await message.output_channel.send_text_message(message.sender_id, f"收到：{message.text}")

    async def main():
        app = Sanic(f"t{id(texts)}")
        app.blueprint(TokenRestInput({"web": "w"}).blueprint(on_new_message),
                      url_prefix="/webhooks/rest")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
        await server.startup()
        answers = []
        try:
            async with aiohttp.ClientSession() as http:
                for text in texts:
                    async with http.post(f"http://127.0.0.1:{port}/webhooks/rest/webhook",
                                         json={"sender": "web:1", "message": text},
                                         headers={"Authorization": "Bearer w"}) as r:
                        answers.append((r.status, await r.json(), r.headers.get("Retry-After")))
        finally:
            server.close()
            await server.wait_closed()
        return answers

    return asyncio.run(main())


@pytest.mark.filterwarnings("ignore")
def test_a_turn_that_failed_is_a_503_with_a_reason_and_the_next_one_is_served(monkeypatch, caplog):
    import rasa.core.channels.rest as rasa_rest

    rasa_logged: list[tuple] = []

    class Recorder:
        def exception(self, *args, **kwargs):
            rasa_logged.append((args, kwargs))

        error = exception

    monkeypatch.setattr(rasa_rest, "structlogger", Recorder())
    caplog.set_level("ERROR", logger="bot.channels")
    answers = post_all(["你好", "lock", "db", "tracker", "bug", "再见"])
    assert "answering 503: the conversation lock store is unavailable" in caplog.text
    assert rasa_logged == []  # Rasa's own failure line carries the resident's text
    reasons = [a[1]["detail"]["reason"] for a in answers[1:5]]
    assert reasons == ["the conversation lock store is unavailable",
                       "the conversation store is unavailable",
                       "the conversation store is unavailable",
                       "the message could not be handled"]
    for status, body, retry_after in answers[1:5]:
        assert status == 503 and retry_after == "2"
        assert body["detail"]["reason_zh"] == UNAVAILABLE_ZH  # not the half-made replies
    assert answers[5] == (200, [{"recipient_id": "web:1", "text": "收到：再见"}], None)
