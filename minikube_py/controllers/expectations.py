"""Expectations (Kubernetes' ControllerExpectations + UIDTrackingExpectations):
what a controller has asked for and not yet seen in its informer.

Without them, a burst of events right after creating pods would show the old
pod count and the controller would create the same pods again. While a key
has outstanding creations or deletions it is not "satisfied" and the
controller only refreshes status. A record older than `ttl` counts as
satisfied, so a lost watch event cannot wedge a controller forever.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Record:
    adds: int
    deletes: set[str] = field(default_factory=set)
    at: float = 0.0


class Expectations:
    def __init__(self, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._records: dict[str, _Record] = {}

    def expect(self, key: str, *, adds: int = 0, deletes: set[str] | None = None) -> None:
        self._records[key] = _Record(adds, set(deletes or ()), self.clock())

    def satisfied(self, key: str) -> bool:
        record = self._records.get(key)
        if record is None:
            return True
        if record.adds <= 0 and not record.deletes:
            return True
        return self.clock() - record.at > self.ttl

    def creation_observed(self, key: str) -> None:
        """One expected pod appeared (or its creation failed: it never will)."""
        record = self._records.get(key)
        if record is not None:
            record.adds -= 1

    def deletion_observed(self, key: str, pod_key: str) -> None:
        record = self._records.get(key)
        if record is not None:
            record.deletes.discard(pod_key)

    def forget(self, key: str) -> None:
        self._records.pop(key, None)
