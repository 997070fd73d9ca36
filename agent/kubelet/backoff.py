"""Crash-loop back-off, with Kubernetes' arithmetic.

The first restart is immediate and arms a 10 s window; a container that dies again
inside the window waits until it closes, and each restart doubles the window up to
5 min. An entry untouched for 10 min (the container kept running) starts over.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Entry:
    delay: float
    last: float


class Backoff:
    """Per-key exponential back-off; keys are e.g. "<pod uid>/<container>"."""

    def __init__(self, initial: float = 10.0, maximum: float = 300.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.initial, self.maximum, self.clock = initial, maximum, clock
        self._entries: dict[str, _Entry] = {}

    def remaining(self, key: str, event_time: float | None = None) -> float:
        """Seconds left before `key` may restart; 0 when it may restart now.

        `event_time` is when the container died: a death after the window closed is not
        in back-off, as in kubelet's IsInBackOffSince.
        """
        e = self._entries.get(key)
        if e is None:
            return 0.0
        if event_time is not None and event_time - e.last >= e.delay:
            return 0.0
        return max(0.0, e.last + e.delay - self.clock())

    def next(self, key: str) -> None:
        """Record a restart now: arm (or double) the window."""
        now = self.clock()
        e = self._entries.get(key)
        if e is None or now - e.last >= 2 * self.maximum:
            self._entries[key] = _Entry(self.initial, now)
        else:
            e.delay, e.last = min(e.delay * 2, self.maximum), now

    def delay(self, key: str) -> float:
        """The current window of `key` (0 when it has none)."""
        e = self._entries.get(key)
        return e.delay if e else 0.0

    def forget_prefix(self, prefix: str) -> None:
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]
