"""A token bucket per chat: a burst of messages is answered politely, not relayed."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float
    warned: bool = False


@dataclass(frozen=True)
class Decision:
    allowed: bool
    #: the first refusal of a burst (tell the sender once, not on every message)
    warn: bool = False


class RateLimiter:
    """``burst`` messages at once, refilled at ``per_second``; idle buckets are forgotten."""

    def __init__(self, burst: int, per_second: float,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        if burst < 1 or per_second <= 0:
            raise ValueError("burst must be >= 1 and per_second > 0")
        self._burst = float(burst)
        self._rate = per_second
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[Hashable, _Bucket] = {}

    def check(self, key: Hashable) -> Decision:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.warned = False
            return Decision(True)
        warn = not bucket.warned
        bucket.warned = True
        return Decision(False, warn)

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled completely: they hold no state worth keeping."""
        full_after = self._burst / self._rate
        for key in [k for k, b in self._buckets.items() if now - b.at >= full_after]:
            del self._buckets[key]
