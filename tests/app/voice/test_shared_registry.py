"""Two gateways sharing their call registry in a real Redis (``VOICE_REDIS_URL``).

The dialplan registers a call on one gateway and asks what follows on the other;
the call's AudioSocket connection reaches either. Redis behind a TCP proxy the
test cuts: the dialplan API answers 503 with the reason, a call in progress
goes on, and everything works again once Redis is back.

Redis: ``VOICE_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/7``); keys are
per call (random UUIDs), so tests share the db safely. Skipped without Redis,
failed under CI=true.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import redis
import redis.asyncio as aioredis

from integrations.shared.privacy import EXAMPLE_KEY, Vault
from tests.app.conftest import in_ci
from tests.app.voice.doubles import RasaDouble
from tests.app.voice.gateway_support import Gateway
from tests.audiosocket_client import AudioSocketClient
from tools.stack import free_ports
from tools.tcp_proxy import TcpProxy
from voice.control import NextAction
from voice.redis_registry import CALLER_CONTEXT, KEY_PREFIX, RedisCallRegistry

REDIS_URL = os.environ.get("VOICE_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")
REPO = Path(__file__).resolve().parents[3]
SECRET = "shared-registry-control-secret-42"
TTL_S = 120.0


def _redis_unavailable() -> str | None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
    except (redis.RedisError, OSError) as exc:
        return f"no Redis at {REDIS_URL} (VOICE_TEST_REDIS_URL): {exc}"
    return None


@pytest.fixture(scope="module")
def redis_url() -> str:
    reason = _redis_unavailable()
    if reason:
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    return REDIS_URL


def registry(url: str, *, timeout_s: float = 1.0) -> RedisCallRegistry:
    return RedisCallRegistry(url, Vault(EXAMPLE_KEY), ttl_s=TTL_S, timeout_s=timeout_s)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def via(proxy: TcpProxy, url: str) -> str:
    """``url`` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    return parts._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()


async def raw(url: str, call_id: uuid.UUID) -> tuple[dict[str, str], int]:
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        key = f"{KEY_PREFIX}{call_id}"
        return await client.hgetall(key), await client.ttl(key)
    finally:
        await client.aclose()


async def cleanup(url: str, *call_ids: uuid.UUID) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        await client.delete(*(f"{KEY_PREFIX}{c}" for c in call_ids))
    finally:
        await client.aclose()


@pytest.mark.asyncio
async def test_a_call_registered_on_one_gateway_is_served_and_answered_by_the_other(
        redis_url: str) -> None:
    one, two = Gateway(registry=registry(redis_url)), Gateway(registry=registry(redis_url))
    async with one, two:
        # the dialplan registers on gateway one; the call's audio reaches gateway two
        client = AudioSocketClient(two.host, two.port, caller="+86 138-0000-1234",
                                   control_url=one.control_url, control_secret=one.secret)
        async with client:
            await client.wait_audio(timeout=5)
            assert two.rasa.texts_from(two.sender("13800001234")) == ["/greet"]
            assert one.rasa.messages == []
            await client.press("0")  # an operator: the call ends with a transfer
            await client.wait_closed(timeout=10)
        # the dialplan asks gateway one what follows the call gateway two served
        assert await client.next_action() == "transfer"
        async with httpx.AsyncClient(headers=bearer(two.secret)) as http:
            unknown = await http.get(f"{two.control_url}/calls/{uuid.uuid4()}/next")
            assert (unknown.status_code, unknown.text) == (404, "hangup")
        stored, ttl = await raw(redis_url, client.call_id)
        await one.registry.close()
        await two.registry.close()
    await cleanup(redis_url, client.call_id)
    # Redis holds the number only encrypted, and forgets the call after the TTL
    assert stored["next"] == "transfer" and set(stored) == {"caller", "next"}
    assert "13800001234" not in stored["caller"] and "1234" not in stored["caller"]
    assert Vault(EXAMPLE_KEY).decrypt(stored["caller"], context=CALLER_CONTEXT) == "13800001234"
    assert 0 < ttl <= TTL_S


@pytest.mark.asyncio
async def test_redis_down_gives_503_with_the_reason_calls_go_on_and_it_recovers(
        redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="voice")
    target = urlsplit(redis_url)
    with TcpProxy(target.hostname or "127.0.0.1", target.port or 6379) as proxy:
        proxied = registry(via(proxy, redis_url), timeout_s=0.5)
        other = registry(redis_url)  # a second gateway that still reaches Redis
        gateway = Gateway(registry=proxied, voice_no_speech_s=30.0)
        async with gateway, httpx.AsyncClient(base_url=gateway.control_url,
                                              headers=bearer(gateway.secret)) as http:
            talking = gateway.client(caller="13800005678")
            await talking.connect()  # registered and connected before Redis goes away
            await talking.wait_audio(timeout=5)

            proxy.cut()
            new_call = str(uuid.uuid4())
            refused = await http.post("/calls", json={"call_id": new_call, "caller": "13900000000"})
            assert refused.status_code == 503, refused.text
            assert "Redis" in refused.json()["detail"]["reason"]
            assert refused.json()["detail"]["reason_zh"] == "通话登记服务暂时不可用，请稍后再试"
            asked = await http.get(f"/calls/{uuid.uuid4()}/next")
            assert asked.status_code == 503 and "Redis" in asked.json()["detail"]["reason"]
            assert "registry_error" in proxied.health()

            # the call in progress goes on: the caller asks for a person and is transferred,
            # and this gateway still tells the dialplan so
            await talking.press("0")
            await talking.wait_closed(timeout=10)
            assert talking.hung_up_by_gateway
            assert await talking.next_action() == "transfer"
            # not in Redis yet: Redis still holds the registration (a call not ended)
            assert (await raw(redis_url, talking.call_id))[0]["next"] == "pending"

            proxy.restore()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while proxied.down_reason is not None:  # the probe notices within a second or two
                assert loop.time() < deadline, "the registry did not notice Redis is back"
                await asyncio.sleep(0.1)
            accepted = await http.post("/calls", json={"call_id": new_call, "caller": "13900000000"})
            assert accepted.status_code == 201
            # the ending Redis missed is there now, for any gateway the dialplan asks
            assert await other.next_action(talking.call_id) == "transfer"
            assert await other.caller(uuid.UUID(new_call)) == "13900000000"
            await talking.close()
        await proxied.close()
        await other.close()
    await cleanup(redis_url, talking.call_id, uuid.UUID(new_call))
    errors = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(errors) == 1 and errors[0].levelno == logging.ERROR  # said once, clearly
    assert any("Redis is back" in r.getMessage() for r in caplog.records)


@pytest.mark.asyncio
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
async def test_two_gateway_processes_share_their_calls(redis_url: str) -> None:
    """Two ``python -m voice`` processes (no speech model: the line offers an operator
    on 0) with the same VOICE_REDIS_URL."""
    rasa = RasaDouble()
    rasa_url = await rasa.start()
    ports = free_ports(4)
    processes = []
    try:
        for index in range(2):
            env = {k: v for k, v in os.environ.items() if k != "VOSK_MODEL_PATH"}
            env.update(VOICE_AUDIOSOCKET_PORT=str(ports[2 * index]),
                       VOICE_CONTROL_PORT=str(ports[2 * index + 1]), VOICE_CONTROL_SECRET=SECRET,
                       RASA_URL=rasa_url, VOICE_NO_SPEECH_S="30", VOICE_REDIS_URL=redis_url,
                       PYTHONPATH=str(REPO))
            processes.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "voice", cwd=REPO, env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE))
        for process in processes:
            await ready(process)
        one_control = f"http://127.0.0.1:{ports[1]}"
        two_control = f"http://127.0.0.1:{ports[3]}"
        async with AudioSocketClient("127.0.0.1", ports[2], caller="13800009876",
                                     control_url=one_control, control_secret=SECRET) as client:
            await client.wait_audio(timeout=20)
            await client.press("0")
            await client.wait_closed(timeout=30)
        assert await client.next_action() == "transfer"  # asked of process one
        async with httpx.AsyncClient(headers=bearer(SECRET)) as http:
            on_two = await http.get(f"{two_control}/calls/{client.call_id}/next")
            health = (await http.get(f"{one_control}/health")).json()
        assert (on_two.status_code, on_two.text) == (200, "transfer")
        assert health["registry"] == "redis" and "registry_error" not in health
    finally:
        for process in processes:
            if process.returncode is None:
                process.terminate()
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()
        await rasa.stop()
    logs = [(await p.stderr.read()).decode() for p in processes]  # type: ignore[union-attr]
    await cleanup(redis_url, client.call_id)
    # process two served the call and found the caller process one registered (masked in logs)
    assert "caller 138****9876" in logs[1], logs[1][-2000:]
    assert all("13800009876" not in log for log in logs)
    assert all("call registry in Redis" in log for log in logs)


async def ready(process: asyncio.subprocess.Process, timeout: float = 90) -> None:
    assert process.stdout is not None

    async def wait() -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            if b"voice gateway ready" in line:
                return
        raise AssertionError("python -m voice exited before it was ready")
    await asyncio.wait_for(wait(), timeout)


@pytest.mark.asyncio
async def test_a_call_registered_and_never_ended_is_handed_to_a_person(redis_url: str) -> None:
    """Its gateway died mid-call (kill -9): the dialplan asking another gateway hears
    ``transfer``, not a dead line; a call that ended keeps its own ending."""
    one, two = registry(redis_url), registry(redis_url)
    cut, ended = uuid.uuid4(), uuid.uuid4()
    try:
        await one.register(cut, "13800001111")
        await one.register(ended, "13800002222")
        await one.finish(ended, NextAction.HANGUP)
        assert (await raw(redis_url, cut))[0]["next"] == "pending"
        assert await two.next_action(cut) is NextAction.TRANSFER
        assert await two.next_action(ended) is NextAction.HANGUP
    finally:
        await one.close()
        await two.close()
        await cleanup(redis_url, cut, ended)
