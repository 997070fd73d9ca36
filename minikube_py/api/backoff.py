"""Capped exponential back-off: the project's one implementation, at the bottom
layer so the store, the api-server, the clients, the agent and the supervisor
all wait the same way.

`Exponential` is the policy: the wait before retry `n` (0-based) is
`initial * factor**n`, capped at `cap`, then optionally jittered by ±`jitter`
of itself, so that many clients retrying at once do not hammer a recovering
server in lockstep. `Backoff` counts one loop's consecutive failures; per-key
users (the work-queue rate limiter, the scheduler queue, the kubelet's
crash-loop windows) keep their own counts and ask the policy.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Exponential:
    initial: float
    cap: float
    factor: float = 2.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if not (0 <= self.initial <= self.cap and self.factor >= 1 and 0 <= self.jitter < 1):
            raise ValueError(f"invalid back-off {self!r}: need 0 <= initial <= cap, "
                             "factor >= 1 and 0 <= jitter < 1")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (0 = the first retry)."""
        try:
            wait = min(self.cap, self.initial * self.factor ** max(0, attempt))
        except OverflowError:  # factor**attempt beyond a float: long past the cap
            wait = self.cap
        if self.jitter:
            wait *= 1 + random.uniform(-self.jitter, self.jitter)
        return float(wait)


class Backoff:
    """Consecutive failures of one loop: `next()` after a failure, `reset()` after a success."""

    def __init__(self, initial: float, cap: float, *, factor: float = 2.0,
                 jitter: float = 0.0) -> None:
        self.policy = Exponential(initial, cap, factor, jitter)
        self.failures = 0

    def __repr__(self) -> str:
        return f"Backoff({self.policy!r}, failures={self.failures})"

    def next(self) -> float:
        """The wait before the next try; each call counts one more failure."""
        wait = self.policy.delay(self.failures)
        self.failures += 1
        return wait

    def reset(self) -> None:
        self.failures = 0

    async def sleep(self) -> float:
        """Wait `next()` seconds; returns how long it waited."""
        wait = self.next()
        await asyncio.sleep(wait)
        return wait
