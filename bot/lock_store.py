"""Rasa's Redis lock store, made safe for several Rasa instances and for Redis outages.

bot/endpoints.scaled.yml names it (``lock_store: type: bot.lock_store.AtomicRedisLockStore``)
with the same settings as Rasa's ``redis`` lock store.

Rasa 3.6's ``RedisLockStore`` changes a conversation's ticket lock with a
GET, a change in Python and a SET. Two instances that take a ticket for one
sender at the same moment can both read "no lock" and both be served at
once, and an instance finishing its turn can write back a lock without the
ticket another instance took meanwhile (whose message then fails with
"Could not acquire lock"). Here every change of a lock is one optimistic
Redis transaction (WATCH the key, read, MULTI/SET or DEL, EXEC; retried when
another instance changed the key in between).

When Redis cannot be reached:

- taking a ticket fails with Rasa's ``LockError`` and one clear log line; the
  REST channel (bot/channels.py) answers 503 and the caller tries again;
- giving a ticket back after a turn that was served does not fail the turn:
  it is retried in the background until Redis answers again (or the ticket
  has expired anyway), so the conversation's next message does not wait for
  a stale ticket to expire (``TICKET_LOCK_LIFETIME``, 60 s).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import redis
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How often a ticket that could not be given back is tried again.
CLEANUP_RETRY_S = 0.5
#: Errors that mean "Redis cannot be reached now" (not a bug).
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class LockStoreUnavailable(LockError):
    """Redis could not be reached: no ticket was taken, the message was not handled."""


class AtomicRedisLockStore(RedisLockStore):
    """``RedisLockStore`` whose lock changes are Redis transactions (see the module)."""

    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs: Any) -> None:
        if endpoint_config is not None:
            kwargs = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs, **kwargs}
        for name in ("port", "db"):
            if isinstance(kwargs.get(name), str):
                kwargs[name] = int(kwargs[name])
        if kwargs.get("password") == "":
            kwargs["password"] = None
        super().__init__(**kwargs)
        self._cleanups: set[asyncio.Task[None]] = set()

    # -- one transaction per change --------------------------------------------------
    def _change(self, conversation_id: str, change: Callable[[TicketLock], T]) -> T:
        """Read the lock (an empty one if there is none), let ``change`` edit it, and
        write it back, or delete it when no ticket is left: all or nothing."""
        key = self.key_prefix + conversation_id
        result: list[T] = []

        def transaction(pipe: Any) -> None:
            raw = pipe.get(key)
            lock = TicketLock.from_dict(json.loads(raw)) if raw else TicketLock(conversation_id)
            outcome = change(lock)
            pipe.multi()
            if lock.tickets:
                pipe.set(key, lock.dumps())
            elif raw:
                pipe.delete(key)
            result[:] = [outcome]

        self.red.transaction(transaction, key)
        return result[0]

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """A new ticket for the conversation (the lock is created if there is none)."""
        try:
            return self._change(conversation_id, lambda lock: lock.issue_ticket(lock_lifetime))
        except REDIS_DOWN as error:
            log.error("lock store (Redis) unavailable: no ticket for conversation %s: %s: %s",
                      conversation_id, type(error).__name__, error)
            raise LockStoreUnavailable(f"lock store unavailable: {error}") from error
        except Exception as error:
            raise LockError(f"Error while acquiring lock. Error:\n{error}") from error

    def update_lock(self, conversation_id: str) -> None:
        """Drop the expired tickets."""

        self._change(conversation_id, lambda lock: lock.remove_expired_tickets())

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        self.cleanup(conversation_id, ticket_number)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Give the ticket back; the lock goes when no ticket is left."""

        self._change(conversation_id, lambda lock: lock.remove_ticket_for(ticket_number))

    # -- the lock around a turn -------------------------------------------------------
    @asynccontextmanager
    async def lock(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME,
                   wait_time_in_seconds: float = 1) -> AsyncGenerator[TicketLock, None]:
        ticket = self.issue_ticket(conversation_id, lock_lifetime)
        expires = time.time() + lock_lifetime
        try:
            try:
                acquired = await self._acquire_lock(conversation_id, ticket, wait_time_in_seconds)
            except REDIS_DOWN as error:
                log.error("lock store (Redis) unavailable while conversation %s waited for its "
                          "turn: %s: %s", conversation_id, type(error).__name__, error)
                raise LockStoreUnavailable(f"lock store unavailable: {error}") from error
            yield acquired
        finally:
            self._give_back(conversation_id, ticket, expires)

    def _give_back(self, conversation_id: str, ticket: int, expires: float) -> None:
        try:
            self.cleanup(conversation_id, ticket)
        except REDIS_DOWN as error:
            log.error("lock store (Redis) unavailable: ticket %s of conversation %s is given "
                      "back once Redis answers again (%s)", ticket, conversation_id,
                      type(error).__name__)
            task = asyncio.get_running_loop().create_task(
                self._give_back_later(conversation_id, ticket, expires))
            self._cleanups.add(task)
            task.add_done_callback(self._cleanups.discard)

    async def _give_back_later(self, conversation_id: str, ticket: int, expires: float) -> None:
        while time.time() < expires:
            await asyncio.sleep(CLEANUP_RETRY_S)
            try:
                self.cleanup(conversation_id, ticket)
            except REDIS_DOWN:
                continue
            except Exception:
                log.exception("giving back ticket %s of conversation %s failed", ticket,
                              conversation_id)
                return
            log.info("lock store (Redis) answers again: ticket %s of conversation %s given back",
                     ticket, conversation_id)
            return
