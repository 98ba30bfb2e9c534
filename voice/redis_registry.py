"""The call registry in Redis, shared by several gateways (``VOICE_REDIS_URL``).

One hash per call, ``voice:call:<uuid>``, with a TTL (``VOICE_NEXT_ACTION_TTL_S``,
renewed when the call ends):

- ``caller``: the caller's number as the gateway keeps it in memory, encrypted
  with the work-order service's key (``Vault``, context ``voice.registry``);
  empty when withheld. Nothing else personal is stored.
- ``next``: what the dialplan does after the call; ``pending`` until the
  gateway serving it records how it ended. A call still ``pending`` when the
  dialplan asks was cut without an ending (its gateway died, kill -9, or
  AudioSocket never reached one): the answer is ``transfer``, a person takes
  the caller rather than the line going dead.

Redis unreachable (each command gives up after ``timeout_s``): the gateway
logs it once, the dialplan API answers 503 with the reason, and a background
probe logs when Redis is back. Calls in progress go on: this gateway also
keeps in memory what it registered and how its own calls ended, answers the
dialplan from there, and writes endings Redis missed once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from integrations.shared.privacy import DecryptionError, Vault

from .control import CallRegistry, NextAction, RegistryUnavailable

log = logging.getLogger(__name__)

KEY_PREFIX = "voice:call:"
#: The vault context of the callers' numbers in Redis (a token from elsewhere does not decrypt).
CALLER_CONTEXT = "voice.registry"
#: ``next`` of a registered call that has not ended (yet).
PENDING = "pending"
#: How often a gateway that lost Redis tries it again.
PROBE_EVERY_S = 1.0


def _key(call_id: uuid.UUID) -> str:
    return f"{KEY_PREFIX}{call_id}"


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]


class RedisCallRegistry:
    """``Registry`` over Redis; ``url`` as redis-py takes it (``redis://host:port/db``)."""

    def __init__(self, url: str, vault: Vault, *, ttl_s: float = 600.0,
                 timeout_s: float = 1.0, client: aioredis.Redis | None = None) -> None:
        self._vault = vault
        self._ttl = max(1, round(ttl_s))
        self._redis = client if client is not None else aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0), decode_responses=True)
        #: callers this gateway registered, and how its own calls ended
        self._callers = CallRegistry(ttl_s=ttl_s)
        self._ended = CallRegistry(ttl_s=ttl_s)
        #: endings Redis missed, written when it is back
        self._unwritten: dict[uuid.UUID, NextAction] = {}
        self.down_reason: str | None = None
        self._probe: asyncio.Task[None] | None = None

    # ---------------------------------------------------------------- state

    def _down(self, exc: BaseException, doing: str) -> RegistryUnavailable:
        reason = f"Redis unreachable ({_reason(exc)})"
        if self.down_reason is None:
            log.error("call registry: %s while %s; the dialplan API answers 503 until it is "
                      "back, calls in progress go on", reason, doing)
        self.down_reason = reason
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(self._wait_until_back(),
                                                                 name="registry-probe")
        return RegistryUnavailable(reason)

    async def _up(self) -> None:
        if self.down_reason is not None:
            self.down_reason = None
            log.warning("call registry: Redis is back")
        if self._unwritten:
            unwritten, self._unwritten = self._unwritten, {}
            for call_id, action in unwritten.items():
                await self._write_next(call_id, action)

    async def _wait_until_back(self) -> None:
        while self.down_reason is not None:
            await asyncio.sleep(PROBE_EVERY_S)
            try:
                await self._redis.ping()
            except (RedisError, OSError):
                continue
            try:
                await self._up()
            except (RedisError, OSError):
                continue

    async def _write_next(self, call_id: uuid.UUID, action: NextAction) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(_key(call_id), "next", str(action))
            pipe.expire(_key(call_id), self._ttl)
            await pipe.execute()

    # ---------------------------------------------------------------- Registry

    async def register(self, call_id: uuid.UUID, caller: str | None) -> None:
        sealed = self._vault.encrypt(caller, context=CALLER_CONTEXT) if caller else ""
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(_key(call_id), mapping={"caller": sealed, "next": PENDING})
                pipe.expire(_key(call_id), self._ttl)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise self._down(exc, "registering a call") from exc
        self._callers.register_now(call_id, caller)
        await self._up()

    async def caller(self, call_id: uuid.UUID) -> str | None:
        try:
            sealed = await self._redis.hget(_key(call_id), "caller")
        except (RedisError, OSError) as exc:
            if self._callers.caller_now(call_id) is not None:
                self._down(exc, "looking up a caller")
                return self._callers.caller_now(call_id)
            raise self._down(exc, "looking up a caller") from exc
        await self._up()
        if not isinstance(sealed, str) or not sealed:
            return None
        try:
            return self._vault.decrypt(sealed, context=CALLER_CONTEXT)
        except DecryptionError:
            log.warning("call %s: the registered number does not decrypt with this gateway's "
                        "key (WORKORDERS_SECRET_KEY differs between gateways?)", str(call_id)[:8])
            return None

    async def finish(self, call_id: uuid.UUID, action: NextAction) -> None:
        self._ended.finish_now(call_id, action)
        try:
            await self._write_next(call_id, action)
        except (RedisError, OSError) as exc:
            self._unwritten[call_id] = action
            self._down(exc, "recording how a call ended")
            return
        await self._up()

    async def next_action(self, call_id: uuid.UUID) -> NextAction | None:
        try:
            value = await self._redis.hget(_key(call_id), "next")
        except (RedisError, OSError) as exc:
            unavailable = self._down(exc, "telling the dialplan what follows a call")
            ended_here = self._ended.next_action_now(call_id)
            if ended_here is not None:  # one of this gateway's calls: the answer is here
                return ended_here
            raise unavailable from exc
        await self._up()
        if not isinstance(value, str):
            return None
        if value == PENDING:  # asked after AudioSocket() returned: cut without an ending
            return NextAction.TRANSFER
        try:
            return NextAction(value)
        except ValueError:
            return NextAction.HANGUP

    def health(self) -> dict[str, Any]:
        if self.down_reason is None:
            return {"registry": "redis"}
        return {"registry": "redis", "registry_error": self.down_reason}

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        await self._redis.aclose()
