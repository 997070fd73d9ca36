"""Capped exponential backoff with jitter, for loops that retry a broken
connection (informer watches, request retries): many clients restarting at
once must not hammer a recovering api-server in lockstep."""

from __future__ import annotations

import random


class Backoff:
    """`next()` returns initial, 2*initial, ... up to `cap`, each jittered by ±`jitter`."""

    def __init__(self, initial: float = 0.2, cap: float = 30.0, factor: float = 2.0,
                 jitter: float = 0.2) -> None:
        self.initial, self.cap, self.factor, self.jitter = initial, cap, factor, jitter
        self._current = initial

    def next(self) -> float:
        delay = self._current
        self._current = min(self.cap, self._current * self.factor)
        return delay * (1 + random.uniform(-self.jitter, self.jitter))

    def reset(self) -> None:
        self._current = self.initial
