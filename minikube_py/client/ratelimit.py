"""Rate limiters for work-queue retries, as client-go's workqueue has them.

`when(key)` says how long to wait before the key may be retried and counts a
failure; `forget(key)` resets the key after a success. The default is
client-go's DefaultControllerRateLimiter: per-key exponential backoff (5 ms
doubling up to 1000 s) combined with an overall token bucket (10/s, burst
100), taking whichever asks for the longer wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Protocol

from minikube_py.api.backoff import Exponential

Clock = Callable[[], float]


class RateLimiter(Protocol):
    def when(self, key: Hashable) -> float: ...

    def forget(self, key: Hashable) -> None: ...

    def num_requeues(self, key: Hashable) -> int: ...


class ExponentialBackoff:
    """base * 2**failures, capped: a flapping object cannot spin a worker."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        self.policy = Exponential(base, cap)
        self._failures: dict[Hashable, int] = {}

    def when(self, key: Hashable) -> float:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        return self.policy.delay(failures)

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: Hashable) -> int:
        return self._failures.get(key, 0)


class TokenBucket:
    """An overall limit across keys: `qps` refill, `burst` capacity, reservations queue up."""

    def __init__(self, qps: float = 10.0, burst: int = 100, clock: Clock = time.monotonic) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError("TokenBucket needs qps > 0 and burst >= 1")
        self.qps, self.burst, self._clock = qps, burst, clock
        self._tokens = float(burst)
        self._last = clock()

    def when(self, key: Hashable) -> float:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def forget(self, key: Hashable) -> None:
        """A bucket does not track keys."""

    def num_requeues(self, key: Hashable) -> int:
        return 0


class MaxOf:
    """The longest wait any of the limiters asks for; counts from the first that counts."""

    def __init__(self, *limiters: RateLimiter) -> None:
        self.limiters = limiters

    def when(self, key: Hashable) -> float:
        return max(limiter.when(key) for limiter in self.limiters)

    def forget(self, key: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(key)

    def num_requeues(self, key: Hashable) -> int:
        return max(limiter.num_requeues(key) for limiter in self.limiters)


def default_rate_limiter() -> RateLimiter:
    return MaxOf(ExponentialBackoff(0.005, 1000.0), TokenBucket(10.0, 100))
