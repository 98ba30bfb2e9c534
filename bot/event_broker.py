"""Rasa's Pika event broker, made to survive RabbitMQ being away
(``type: bot.event_broker.BufferedPikaEventBroker`` in bot/endpoints.scaled.yml).

What Rasa 3.6's own ``PikaEventBroker`` does (rasa/core/brokers/pika.py, tried
through a TCP proxy that cuts RabbitMQ away, tests/rasa/test_event_broker.py):

- RabbitMQ down while Rasa *runs*: nothing is lost. aio-pika's robust
  connection reconnects every 5 s; a publish that fails goes to an in-memory
  deque that is published again on reconnect. But the deque has no bound (a
  long outage grows the process without limit), and every failed publish is
  logged at ERROR *with the event*, i.e. the resident's message text.
- RabbitMQ down when Rasa *starts*: ``connect`` tries ``connection_attempts``
  (20) times ``retry_delay_in_seconds`` (5 s) apart and then raises
  ``ConnectionException``: the Rasa server exits (status 1) after 100 s. So an
  instance (re)started during an outage does not serve residents at all.
- Events still in the deque when the process ends are lost (memory only).

This subclass:

- returns at once from ``from_endpoint_config`` and connects in the background,
  retrying forever with backoff (1 s doubling to 30 s), one log line per attempt
  without credentials; Rasa starts and converses without RabbitMQ;
- keeps events published while not connected (or whose publish failed) in a
  bounded buffer (``max_unpublished``, default 100 000 events, the oldest
  dropped first, counted and logged), and republishes them on (re)connection
  and, should a republish fail, every ``flush_interval_s`` while connected;
- logs a failed publish once per outage, without the event (no resident text).

Events lost anyway (buffer overflow, the process killed during an outage) are
still in the tracker store; the analytics consumer stores each event once, so
replaying them is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from asyncio import AbstractEventLoop
from collections import deque
from typing import Any

from rasa.core.brokers.pika import PikaEventBroker
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

DEFAULT_MAX_UNPUBLISHED = 100_000
BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 30.0


class _Buffer(deque):
    """A bounded deque that counts what it had to drop (the oldest first)."""

    def __init__(self, limit: int) -> None:
        super().__init__(maxlen=max(1, limit))
        self.dropped = 0

    def append(self, item: Any) -> None:
        if len(self) == self.maxlen:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.warning("event buffer full (%d events): %d oldest events dropped "
                               "(they remain in the tracker store)", self.maxlen, self.dropped)
        super().append(item)


class BufferedPikaEventBroker(PikaEventBroker):
    """See the module docstring."""

    def __init__(self, *args: Any, max_unpublished: int | str = DEFAULT_MAX_UNPUBLISHED,
                 flush_interval_s: float | str = 5.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unpublished_events = _Buffer(int(max_unpublished))
        self.should_keep_unpublished_messages = True
        self.raise_on_failure = False
        self._flush_interval_s = float(flush_interval_s)
        self._failing = False
        self._closing = False
        self._runner: asyncio.Task | None = None

    @classmethod
    async def from_endpoint_config(
        cls,
        broker_config: EndpointConfig | None,
        event_loop: AbstractEventLoop | None = None,
    ) -> BufferedPikaEventBroker | None:
        """The broker, at once; it connects in the background (RabbitMQ may be down)."""
        if broker_config is None:
            return None
        broker = cls(broker_config.url, **broker_config.kwargs, event_loop=event_loop)
        broker.start()
        return broker

    def start(self) -> None:
        """Connect in the background, then keep the buffer flushed."""
        if self._runner is None:
            self._runner = self._loop.create_task(self._run())

    async def wait_connected(self, timeout: float) -> bool:
        """For tests and tools: whether a connection was made within ``timeout`` s."""
        deadline = self._loop.time() + timeout
        while self._loop.time() < deadline:
            if self._up():
                return True
            await asyncio.sleep(0.05)
        return False

    def _up(self) -> bool:
        """Connected now (aio-pika's robust connection clears ``connected`` while away)."""
        connection = self._connection
        if connection is None or self._exchange is None or connection.is_closed:
            return False
        connected = getattr(connection, "connected", None)
        return connected.is_set() if isinstance(connected, asyncio.Event) else True

    @property
    def unpublished(self) -> int:
        return len(self._unpublished_events)

    @property
    def dropped(self) -> int:
        return self._unpublished_events.dropped

    async def _run(self) -> None:
        delay = BACKOFF_MIN_S
        attempt = 0
        # one try per connect(); the backoff is ours
        self._connection_attempts, self._retry_delay_in_seconds = 1, 0
        while not self._closing:
            attempt += 1
            try:
                await self.connect()
                break
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - anything: RabbitMQ not there (yet)
                logger.warning("RabbitMQ not reachable at %s:%s (attempt %d: %s); %d events "
                               "kept; retrying in %.0f s", self.host, self.port, attempt,
                               type(error).__name__, self.unpublished, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
        if self._closing:
            return
        logger.info("RabbitMQ connected at %s:%s; publishing %d kept events",
                    self.host, self.port, self.unpublished)
        self._publish_unpublished_messages()
        while not self._closing:  # a republish that failed waits for the next round
            await asyncio.sleep(self._flush_interval_s)
            if self._unpublished_events and self._up():
                self._publish_unpublished_messages()

    def _publish_unpublished_messages(self, *_: Any, **__: Any) -> None:
        count = len(self._unpublished_events)
        if count:
            logger.info("republishing %d events kept while RabbitMQ was away", count)
        for _ in range(count):
            self.publish(self._unpublished_events.popleft())

    async def _publish(self, event: dict[str, Any], headers: dict[str, str] | None = None
                       ) -> None:
        if self._exchange is None or not self._up():
            self._keep(event, None)
            return
        try:
            await self._exchange.publish(self._message(event, headers), "")  # confirmed
        except Exception as error:  # noqa: BLE001 - kept, published again later
            self._keep(event, error)
            return
        if self._failing:
            self._failing = False
            logger.info("publishing to RabbitMQ again")

    def _keep(self, event: dict[str, Any], error: Exception | None) -> None:
        self._unpublished_events.append(event)
        if not self._failing:
            self._failing = True
            logger.warning("RabbitMQ unavailable (%s): keeping events in memory (at most %d) "
                           "until it is back", type(error).__name__ if error else "not connected",
                           self._unpublished_events.maxlen)

    async def close(self) -> None:
        self._closing = True
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        if self._background_tasks:  # publishes in flight
            await asyncio.wait(list(self._background_tasks), timeout=5)
        if self.unpublished:
            logger.warning("closing with %d events not published to RabbitMQ "
                           "(they remain in the tracker store)", self.unpublished)
        await super().close()
