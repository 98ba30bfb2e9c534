"""kill -9 of one phone-line gateway during calls (issue 15), on the package's one stack.

The stack (tests/app/scaled/conftest.py) runs two gateways, voice-1 and voice-2,
sharing their call registry in Redis, with the Korean Vosk model (the only one
that can be installed here): callers speak Korean sentences rendered by
espeak-ng as 8 kHz phone audio. The bot does not understand Korean, so each
turn is answered with a request to say it again (spoken: reply audio), and the
second such turn hands the call to a person; either way the caller hears
reply audio after each utterance.

As Asterisk does, each call is registered with the dialplan API (POST /calls,
the control secret) of the gateway its AudioSocket connection then reaches.
Several calls on each gateway speak, then speak again, and voice-1 is killed
(SIGKILL) while they speak the second time:

- every call on voice-2 goes on: its utterance gets reply audio (the caller
  hangs up after a second of it), the call's ending is recorded in Redis, and
  voice-2's ``GET /calls/{id}/next`` answers with it;
- every call on voice-1 loses its connection without a hang-up frame (the PBX
  sees the line drop), and voice-2 answers ``transfer`` for it: registered,
  never ended (``pending`` in Redis), so the dialplan gives the caller a person;
- voice-1 started again greets a new call, and answers for the cut calls too.
"""
from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from dataclasses import dataclass, field

import httpx
import pytest
import redis.asyncio as aioredis

from benchmarks.voice import speech
from tests.app.conftest import in_ci
from tests.app.scaled.conftest import VOICE_END_SILENCE_S, voice_unavailable_reason
from tests.audiosocket_client import AudioSocketClient
from tools.scaled_stack import ScaledStack
from voice.audio import SAMPLE_RATE, SAMPLE_WIDTH, silence
from voice.redis_registry import KEY_PREFIX, PENDING

pytestmark = pytest.mark.slow

CALLS_PER_GATEWAY = 3
SENTENCES = ["안녕하세요 화장실이 어디예요", "오늘은 월요일입니다 비가 옵니다"]
#: reply audio worth the name: half a second of the line's 8 kHz 16-bit audio
MIN_REPLY_BYTES = SAMPLE_RATE * SAMPLE_WIDTH // 2
#: into the second utterance when voice-1 is killed (the calls are streaming speech)
KILL_AFTER_S = 0.8
#: how long a quiet gap ends the bot's reply
QUIET_S = 1.0


@dataclass
class Gateway:
    name: str
    audiosocket_port: int
    control_url: str


@dataclass
class Call:
    gateway: Gateway
    client: AudioSocketClient
    #: bytes of reply audio after each utterance
    replies: list[int] = field(default_factory=list)

    @property
    def tag(self) -> str:
        return f"{self.gateway.name} call {str(self.client.call_id)[:8]}"


def gateway(stack: ScaledStack, name: str) -> Gateway:
    env = stack.service(name).env
    return Gateway(name, int(env["VOICE_AUDIOSOCKET_PORT"]),
                   f"http://127.0.0.1:{env['VOICE_CONTROL_PORT']}")


def control_secret(stack: ScaledStack) -> str:
    assert stack.settings.voice is not None
    return stack.settings.voice["VOICE_CONTROL_SECRET"]


async def open_call(gw: Gateway, secret: str, whole: bool = True) -> Call:
    """Registered with ``gw``'s dialplan API, connected to ``gw``, the greeting heard
    (``whole``: to its end, else its first MIN_REPLY_BYTES)."""
    caller = f"139{random.randrange(10**8):08d}"
    client = AudioSocketClient("127.0.0.1", gw.audiosocket_port, caller=caller,
                               control_url=gw.control_url, control_secret=secret)
    await client.connect()  # POST /calls (raises on an error status), then AudioSocket
    greeted = await client.wait_audio(timeout=60)
    if whole:
        await client.wait_quiet(quiet=QUIET_S, timeout=90)
    else:
        await heard(client, greeted)
    return Call(gw, client)


async def heard(client: AudioSocketClient, since: float) -> None:
    """Until MIN_REPLY_BYTES of audio came after ``since`` (or the gateway ended the call)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while len(client.audio_bytes(since=since)) < MIN_REPLY_BYTES and not client.closed.is_set():
        assert loop.time() < deadline, f"under {MIN_REPLY_BYTES} bytes of audio in 30 s"
        await asyncio.sleep(0.05)


async def utter(call: Call, pcm: bytes, spoken: asyncio.Event | None = None,
                whole: bool = True) -> int:
    """Speak ``pcm`` (then the silence that ends an utterance); the bytes of the reply audio
    (``whole``: the reply to its end, else its first MIN_REPLY_BYTES: the caller is about
    to hang up)."""
    client = call.client
    loop = asyncio.get_running_loop()
    began = loop.time()
    if spoken is not None:
        spoken.set()
    await client.send_audio(pcm)
    trailing = asyncio.ensure_future(client.send_audio(silence(VOICE_END_SILENCE_S + 5.0)))
    try:
        first = await client.wait_audio(timeout=30, since=began)
        if whole:
            await client.wait_quiet(quiet=QUIET_S, timeout=60)
        else:
            await heard(client, first)
    finally:
        trailing.cancel()
        await asyncio.gather(trailing, return_exceptions=True)
    replied = len(client.audio_bytes(since=began))
    call.replies.append(replied)
    return replied


async def end_call(call: Call, settle_s: float = 2.0) -> str:
    """The call's end: the gateway's (it hung up after handing the caller over: the bot
    never understands) or else the caller's; the ending the registry must have."""
    client = call.client
    with contextlib.suppress(TimeoutError):  # the hang-up frame follows the last reply audio
        await asyncio.wait_for(client.closed.wait(), settle_s)
    if client.hung_up_by_gateway:
        await client.close()
        return "transfer"
    assert not client.closed.is_set(), f"{call.tag}: the line dropped ({client.read_error!r})"
    await client.hangup()
    return "hangup"


async def ask_next(http: httpx.AsyncClient, gw: Gateway, call_id: uuid.UUID) -> tuple[int, str]:
    response = await http.get(f"{gw.control_url}/calls/{call_id}/next")
    return response.status_code, response.text


async def stored_next(redis_url: str, call_id: uuid.UUID) -> str | None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return await client.hget(f"{KEY_PREFIX}{call_id}", "next")
    finally:
        await client.aclose()


async def wait_until(check, timeout_s: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"{what} within {timeout_s} s")
        await asyncio.sleep(0.1)


def test_killing_one_gateway_mid_calls_drops_no_call_on_the_other(scaled: ScaledStack):
    reason = voice_unavailable_reason() if scaled.settings.voice is None else None
    if scaled.settings.voice is None:
        message = f"the scaled stack runs no phone-line gateway: {reason}"
        if in_ci():
            pytest.fail(f"CI runs the gateway fault test: {message}", pytrace=False)
        pytest.skip(message)
    one, two = gateway(scaled, "voice-1"), gateway(scaled, "voice-2")
    secret = control_secret(scaled)
    redis_url = scaled.servers.voice_redis_url  # directly, not through the proxy
    first, second = speech(SENTENCES)
    timings: dict[str, float] = {}

    async def main() -> None:
        began = time.monotonic()
        calls = list(await asyncio.gather(*(open_call(gw, secret) for gw in (one, two)
                                            for _ in range(CALLS_PER_GATEWAY))))
        timings["greetings"] = time.monotonic() - began
        on_one = [c for c in calls if c.gateway is one]
        on_two = [c for c in calls if c.gateway is two]

        began = time.monotonic()
        await asyncio.gather(*(utter(c, first) for c in calls))
        timings["first turn"] = time.monotonic() - began
        for call in calls:
            assert call.replies[0] >= MIN_REPLY_BYTES, f"{call.tag}: replies {call.replies}"
            assert not call.client.closed.is_set(), f"{call.tag} ended after one turn"

        # the second utterance on every call; voice-1 killed while they speak
        speaking = asyncio.Event()

        async def kill() -> float:
            await speaking.wait()
            await asyncio.sleep(KILL_AFTER_S)
            await asyncio.to_thread(scaled.kill, "voice-1")
            return asyncio.get_running_loop().time()

        async def cut_off(call: Call) -> None:
            """A voice-1 call: it speaks until its connection drops."""
            await call.client.send_audio(second + silence(VOICE_END_SILENCE_S + 5.0))

        began = time.monotonic()
        outcomes = await asyncio.gather(
            kill(), *(utter(c, second, speaking, whole=False) for c in on_two),
            *(cut_off(c) for c in on_one), return_exceptions=True)
        timings["second turn (voice-1 killed)"] = time.monotonic() - began
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        assert failed == [], failed
        killed_at = outcomes[0]
        assert not scaled.running("voice-1")

        # voice-2's calls went on: reply audio after the kill, then a recorded ending
        for call in on_two:
            assert call.replies[1] >= MIN_REPLY_BYTES, f"{call.tag}: replies {call.replies}"
            assert len(call.client.audio_bytes(since=killed_at)) >= MIN_REPLY_BYTES, call.tag
            assert call.client.read_error is None, f"{call.tag}: {call.client.read_error!r}"
        ends = await asyncio.gather(*(end_call(c, settle_s=0) for c in on_two))
        endings = {c.client.call_id: end for c, end in zip(on_two, ends, strict=True)}
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {secret}"},
                                     timeout=10) as http:
            for call in on_two:
                call_id = call.client.call_id

                async def ended(call_id: uuid.UUID = call_id) -> bool:
                    return await stored_next(redis_url, call_id) != PENDING
                await wait_until(ended, 10, f"{call.tag}'s ending is not in Redis")
                expected = endings[call_id]
                assert await stored_next(redis_url, call_id) == expected, call.tag
                assert await ask_next(http, two, call_id) == (200, expected), call.tag

            # voice-1's calls: the line dropped (no hang-up frame), and the dialplan asking
            # voice-2 what follows hears "transfer" (registered, never ended)
            for call in on_one:
                await asyncio.wait_for(call.client.closed.wait(), 5)
                assert not call.client.hung_up_by_gateway, call.tag
                assert await stored_next(redis_url, call.client.call_id) == PENDING, call.tag
                assert await ask_next(http, two, call.client.call_id) == (200, "transfer"), call.tag
                await call.client.close()
            # a call leaves the count once its audio tasks and decoder are released, which
            # follows (not precedes) its ending in Redis
            deadline = asyncio.get_running_loop().time() + 10
            while True:
                health = (await http.get(f"{two.control_url}/health")).json()
                if health["calls"] == 0 or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert health["calls"] == 0 and health["registry"] == "redis", health

            # voice-1 again: it serves a new call and answers for the ones it lost
            began = time.monotonic()
            # on this thread: a process started from a worker thread gets its death signal
            # when that thread ends (tools/stack.py's PR_SET_PDEATHSIG), as asyncio.run's do
            scaled.start_service("voice-1")
            timings["voice-1 restart"] = time.monotonic() - began
            began = time.monotonic()
            again = await open_call(one, secret, whole=False)  # greeted: it serves calls
            expected = await end_call(again, settle_s=0)
            timings["call on the restarted voice-1"] = time.monotonic() - began

            async def again_ended() -> bool:
                return await stored_next(redis_url, again.client.call_id) != PENDING
            await wait_until(again_ended, 10, f"{again.tag}'s ending is not in Redis")
            for gw in (one, two):
                assert await ask_next(http, gw, again.client.call_id) == (200, expected), gw.name
            for call in on_one:
                assert await ask_next(http, one, call.client.call_id) == (200, "transfer")
            health = (await http.get(f"{one.control_url}/health")).json()
            assert health["speech"] is True and health["registry"] == "redis", health
            assert scaled.dead_services() == []

    try:
        asyncio.run(main())
    finally:
        if not scaled.running("voice-1"):
            scaled.start_service("voice-1")
        print("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
