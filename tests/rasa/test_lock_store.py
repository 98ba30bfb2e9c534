"""bot/lock_store.py against a real Redis: tickets of several Rasa instances never
collide, one conversation is served by one instance at a time, and a Redis outage
fails a turn clearly and leaves no stale ticket behind.

Redis: ``TEST_REDIS_URL`` (default redis://127.0.0.1:6379/15); every test uses
its own key prefix and deletes its keys. Without a server the tests skip (and
fail under CI=true).
"""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import redis
from rasa.core.lock_store import LockError
from rasa.utils.endpoints import EndpointConfig

from bot.lock_store import AtomicRedisLockStore, LockStoreUnavailable

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tools.tcp_proxy import TcpProxy  # noqa: E402

URL = os.environ.get("TEST_REDIS_URL", "").strip() or "redis://127.0.0.1:6379/15"
_parsed = urlparse(URL)
HOST, PORT = _parsed.hostname or "127.0.0.1", _parsed.port or 6379
DB = int((_parsed.path or "/15").lstrip("/") or 15)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.fixture
def prefix():
    client = redis.Redis(host=HOST, port=PORT, db=DB, socket_timeout=2)
    try:
        client.ping()
    except redis.exceptions.RedisError as error:
        reason = f"Redis not reachable at {HOST}:{PORT} (TEST_REDIS_URL): {error}"
        if _in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    name = "faultstest" + secrets.token_hex(4)
    yield name
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)


def store(prefix: str, port: int = PORT) -> AtomicRedisLockStore:
    return AtomicRedisLockStore(EndpointConfig(url=HOST, port=str(port), db=str(DB), password="",
                                               key_prefix=prefix, type="x"), socket_timeout=2)


def test_it_is_built_from_rasas_endpoint_settings(prefix):
    made = store(prefix)
    kwargs = made.red.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["password"]) == (HOST, PORT, DB, None)
    assert made.key_prefix == f"{prefix}:lock:"


def test_tickets_taken_at_once_by_several_instances_never_collide(prefix):
    stores = [store(prefix) for _ in range(4)]
    tickets: list[int] = []
    start = threading.Barrier(len(stores) * 2)

    def take(s: AtomicRedisLockStore) -> None:
        start.wait()
        for _ in range(25):
            tickets.append(s.issue_ticket("web:same"))

    threads = [threading.Thread(target=take, args=(s,)) for s in stores for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(tickets) == list(range(200)), "two instances got the same ticket"
    lock = stores[0].get_lock("web:same")
    assert lock is not None and len(lock.tickets) == 200


def test_one_conversation_is_served_by_one_instance_at_a_time(prefix):
    stores = [store(prefix), store(prefix)]
    inside: list[str] = []
    overlaps: list[str] = []
    served: list[int] = []

    async def turn(s: AtomicRedisLockStore, n: int) -> None:
        async with s.lock("web:busy", wait_time_in_seconds=0.02):
            if inside:
                overlaps.append(f"turn {n} began while {inside} was served")
            inside.append(str(n))
            await asyncio.sleep(0.01)
            inside.remove(str(n))
            served.append(n)

    async def main() -> None:
        await asyncio.gather(*(turn(stores[n % 2], n) for n in range(20)))

    asyncio.run(main())
    assert overlaps == []
    assert sorted(served) == list(range(20))
    assert stores[0].get_lock("web:busy") is None, "the lock outlived its last ticket"


def test_giving_a_ticket_back_keeps_the_tickets_taken_meanwhile(prefix):
    a, b = store(prefix), store(prefix)
    first = a.issue_ticket("web:x")
    second = b.issue_ticket("web:x")
    a.cleanup("web:x", first)
    lock = b.get_lock("web:x")
    assert lock is not None and [t.number for t in lock.tickets] == [second]
    assert not lock.is_locked(second)
    b.cleanup("web:x", second)
    assert b.get_lock("web:x") is None


def test_a_redis_outage_fails_the_turn_clearly_and_leaves_no_stale_ticket(prefix, caplog):
    caplog.set_level(logging.INFO, logger="bot.lock_store")
    with TcpProxy(HOST, PORT) as proxy:
        through = store(prefix, proxy.port)
        direct = store(prefix)

        async def main() -> None:
            # a turn under way when Redis goes: it is served, its ticket goes back later
            async with through.lock("web:cut"):
                proxy.cut()
            assert direct.get_lock("web:cut") is not None  # still held while Redis is away
            # a new turn while Redis is away: refused at once, with a clear reason
            started = time.monotonic()
            with pytest.raises(LockStoreUnavailable) as refused:
                async with through.lock("web:other"):
                    pass
            assert isinstance(refused.value, LockError)
            assert time.monotonic() - started < 1.0
            proxy.restore()
            for _ in range(50):
                if direct.get_lock("web:cut") is None:
                    break
                await asyncio.sleep(0.1)
            assert direct.get_lock("web:cut") is None, "the stale ticket was not given back"
            async with through.lock("web:cut") as lock:  # served again at once
                assert lock.conversation_id == "web:cut"

        asyncio.run(main())
    messages = [r.getMessage() for r in caplog.records]
    assert any("lock store (Redis) unavailable: no ticket" in m for m in messages), messages
    assert any("given back once Redis answers again" in m for m in messages), messages
    assert any("answers again: ticket" in m for m in messages), messages
