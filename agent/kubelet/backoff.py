"""Crash-loop back-off, with Kubernetes' arithmetic.

The first restart is immediate and arms a 10 s window; a container that dies again
inside the window waits until it closes, and each restart doubles the window up to
5 min. An entry untouched for 10 min (the container kept running) starts over.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from minikube_py.api.backoff import Exponential


@dataclass
class _Entry:
    doublings: int  # of the window since it was armed
    last: float


class Backoff:
    """Per-key exponential back-off; keys are e.g. "<pod uid>/<container>"."""

    def __init__(self, initial: float = 10.0, maximum: float = 300.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.policy, self.clock = Exponential(initial, maximum), clock
        self._entries: dict[str, _Entry] = {}

    def remaining(self, key: str, event_time: float | None = None) -> float:
        """Seconds left before `key` may restart; 0 when it may restart now.

        `event_time` is when the container died: a death after the window closed is not
        in back-off, as in kubelet's IsInBackOffSince.
        """
        e = self._entries.get(key)
        if e is None:
            return 0.0
        window = self.policy.delay(e.doublings)
        if event_time is not None and event_time - e.last >= window:
            return 0.0
        return max(0.0, e.last + window - self.clock())

    def next(self, key: str) -> None:
        """Record a restart now: arm (or double) the window."""
        now = self.clock()
        e = self._entries.get(key)
        if e is None or now - e.last >= 2 * self.policy.cap:
            self._entries[key] = _Entry(0, now)
        else:
            e.doublings, e.last = e.doublings + 1, now

    def delay(self, key: str) -> float:
        """The current window of `key` (0 when it has none)."""
        e = self._entries.get(key)
        return self.policy.delay(e.doublings) if e else 0.0

    def forget_prefix(self, prefix: str) -> None:
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]
