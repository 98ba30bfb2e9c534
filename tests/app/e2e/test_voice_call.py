"""End to end on the phone line: an Asterisk-like AudioSocket client calls the voice
gateway, which talks to the real stack (Rasa's REST channel, the action server,
the work-order API and its database).

Speech recognition is the one thing replaced: the recognizer's interface is fed
the caller's words as text (tests/app/voice/doubles.py: each utterance the
client "says" is recognised as the next scripted text), because no Chinese
Vosk model can be downloaded here; the real Vosk path has its own tests
(tests/app/voice/test_asr.py). Speech synthesis is a tone per character that
records what was said.

The caller reports a broken streetlight by voice, answers the two closed
questions with keys (1 = 可以 use this number, 1 = 对), and gets the order
number; the order is in the database under voice:h:<keyed hash of the number>,
the number itself only encrypted, as its contact. Calling again, they first
hear only the order's headline (never the place), then key the order number
and hear the details; asking for a person files a callback to their number.
"""
from __future__ import annotations

import asyncio

import pytest
from e2e_support import orders_for
from sqlalchemy import create_engine, text

from integrations.shared.privacy import EXAMPLE_KEY, Vault
from integrations.workorders.service.callbacks import CONTACT_CONTEXT as CALLBACK_CONTACT
from integrations.workorders.service.orders import CONTACT_CONTEXT as ORDER_CONTACT
from tests.app.voice.gateway_support import Gateway
from tests.audiosocket_client import AudioSocketClient

pytestmark = pytest.mark.slow

CALLER = "13600001111"
VAULT = Vault(EXAMPLE_KEY)  # the stack runs in development mode with the example key


def rows(database_url: str, table: str) -> list[dict]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(text(f"SELECT * FROM {table}"))]
    finally:
        engine.dispose()


def assert_no_plain_number(database_url: str, number: str) -> None:
    """Not in any column of the orders, the outbox or the callback requests."""
    for table in ("work_orders", "order_events", "outbox", "callback_requests"):
        for row in rows(database_url, table):
            assert number not in repr(row), f"{number} in plain text in {table}"


async def spoken_after(gw: Gateway, client: AudioSocketClient, action) -> list[str]:
    """Do ``action``; the texts the gateway spoke in answer (after the reply audio ended)."""
    before = len(gw.speaker.spoken)
    mark = asyncio.get_running_loop().time()
    await action
    await client.wait_audio(timeout=30, since=mark)
    await client.wait_quiet()
    return gw.speaker.spoken[before:]


@pytest.mark.asyncio
async def test_a_report_by_phone_with_keys_then_a_second_call_hears_its_status(stack):
    async with Gateway(rasa_url=stack.rasa_url, rasa_token=stack.channel_token("voice:")) as gw:
        gw.model.say("幸福里小区9号楼门口的路灯坏了，晚上黑乎乎的")
        async with gw.client(caller=CALLER) as client:
            greeting = await spoken_after(gw, client, asyncio.sleep(0))
            assert "社区服务热线" in greeting[0]

            said = await spoken_after(gw, client, client.say(1.0, 0.6))
            assert "现在这个号码" in said[0]
            assert said[-1] == "请说“可以”“不用留电话”或“匿名反映”，也可以按1、2或3。"

            said = await spoken_after(gw, client, client.press("1"))
            assert "联系电话：本机号码" in said[0] and "对吗" in said[0]
            assert CALLER not in said[0]

            said = await spoken_after(gw, client, client.press("1"))
            assert "工单号" in said[0]
            await client.hangup()

        sender = gw.sender(CALLER)
        assert sender.startswith("voice:h:")
        [order] = orders_for(stack.database_url, sender)
        assert order["category"] == "incident.facility"
        assert order["location_text"].startswith("幸福里小区9号楼")
        assert order["number"] in said[0]
        assert not orders_for(stack.database_url, f"voice:{CALLER}")
        [row] = [r for r in rows(stack.database_url, "work_orders")
                 if r["number"] == order["number"]]
        assert VAULT.decrypt(row["reporter_contact_enc"], context=ORDER_CONTACT) == CALLER

        gw.model.say("转人工")
        async with gw.client(caller=CALLER) as again:
            greeting = await spoken_after(gw, again, asyncio.sleep(0))
            assert greeting[0].startswith(f"您好，这里是社区服务热线。您反映的工单 {order['number']}")
            assert "幸福里" not in greeting[0] and "9号楼" not in greeting[0]  # only the headline
            assert "工单号" in greeting[0] and "还有别的事" in greeting[0]

            said = await spoken_after(gw, again, again.press(order["number"] + "#"))
            assert "幸福里小区9号楼" in said[0]  # the details, once the number is keyed

            said = await spoken_after(gw, again, again.say(1.0, 0.6))  # "转人工"
            assert any("工作人员" in s for s in said)
            await again.wait_closed(timeout=20)
        assert await again.next_action() == "transfer"

        [callback] = [r for r in rows(stack.database_url, "callback_requests")
                      if r["reporter_ref"] == sender]
        assert VAULT.decrypt(callback["contact_enc"], context=CALLBACK_CONTACT) == CALLER
        assert_no_plain_number(stack.database_url, CALLER)



@pytest.mark.asyncio
async def test_possible_danger_is_asked_and_answered_with_a_key(stack):
    """The one question for possible danger takes 1 (有) and 2 (没有) as keys;
    2 goes on as a normal report at normal priority."""
    caller = "13600002222"
    async with Gateway(rasa_url=stack.rasa_url, rasa_token=stack.channel_token("voice:")) as gw:
        gw.model.say("我爸刚才说胸口有点闷，现在在沙发上躺着")
        gw.model.say("阳光花园小区5号楼301")
        async with gw.client(caller=caller) as client:
            await spoken_after(gw, client, asyncio.sleep(0))  # the greeting
            said = await spoken_after(gw, client, client.say(1.0, 0.6))
            assert "有人受伤" in said[0] and "危险吗" in said[0]
            assert said[-1] == "请说“有”或“没有”，也可以按1或2。"

            said = await spoken_after(gw, client, client.press("2"))
            assert "一般情况" in said[0] and not any("120" in s for s in said)
            said = await spoken_after(gw, client, client.say(1.0, 0.6))  # the place
            assert "现在这个号码" in said[0]
            said = await spoken_after(gw, client, client.press("1"))
            said = await spoken_after(gw, client, client.press("1"))
            assert "工单号" in said[0]
            await client.hangup()
        [order] = orders_for(stack.database_url, gw.sender(caller))
        assert order["priority"] == "normal"
        assert order["location_text"].startswith("阳光花园小区5号楼")


@pytest.mark.asyncio
async def test_a_question_by_phone_is_answered_by_text_message(stack):
    """A question needs no place and no contact on the phone line: its answer
    goes by SMS/callback to the number the caller rang from."""
    caller = "13600003333"
    async with Gateway(rasa_url=stack.rasa_url, rasa_token=stack.channel_token("voice:")) as gw:
        gw.model.say("我想咨询一下城乡居民医保每年什么时候交")
        async with gw.client(caller=caller) as client:
            await spoken_after(gw, client, asyncio.sleep(0))
            said = await spoken_after(gw, client, client.say(1.0, 0.6))
            assert "转给社区工作人员" in said[0]
            assert any("您要咨询的是" in s for s in said)
            said = await spoken_after(gw, client, client.press("1"))
            assert "工单号" in said[0] and "短信" in said[0]
            await client.hangup()
        [order] = orders_for(stack.database_url, gw.sender(caller))
        assert order["kind"] == "request"
        # the answer goes by SMS to the number rung from: it is the request's contact
        [row] = [r for r in rows(stack.database_url, "work_orders")
                 if r["number"] == order["number"]]
        assert VAULT.decrypt(row["reporter_contact_enc"], context=ORDER_CONTACT) == caller
        assert_no_plain_number(stack.database_url, caller)
