"""The per-chat token bucket: a burst is refused, told once, and the allowance refills."""

from integrations.telegram.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refused_and_warned_once() -> None:
    clock = Clock()
    limiter = RateLimiter(burst=3, per_second=0.5, clock=clock)
    assert [limiter.check("a").allowed for _ in range(3)] == [True, True, True]
    first, second = limiter.check("a"), limiter.check("a")
    assert (first.allowed, first.warn) == (False, True)
    assert (second.allowed, second.warn) == (False, False)
    # another chat is not affected
    assert limiter.check("b").allowed


def test_allowance_refills_with_time_and_warns_again_after_recovery() -> None:
    clock = Clock()
    limiter = RateLimiter(burst=2, per_second=0.5, clock=clock)
    limiter.check("a"), limiter.check("a")
    assert not limiter.check("a").allowed
    clock.now = 1.9
    assert not limiter.check("a").allowed
    clock.now = 2.0
    assert limiter.check("a").allowed
    refused = limiter.check("a")
    assert not refused.allowed and refused.warn  # a new burst is told again


def test_idle_buckets_are_forgotten_when_full() -> None:
    clock = Clock()
    limiter = RateLimiter(burst=1, per_second=1.0, clock=clock, max_keys=2)
    limiter.check("a"), limiter.check("b")
    clock.now = 5.0
    limiter.check("c")
    assert len(limiter._buckets) == 1
