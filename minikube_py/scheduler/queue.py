"""The scheduling queue (Kubernetes' PriorityQueue, reduced to its essentials).

- active: a heap ordered by priority (high first), then creation time (old
  first); `pop` waits on it.
- backoff: pods that failed, waiting 1 s, 2 s, ... up to 10 s before retrying.
- unschedulable: pods no node fits. They wait for something that could
  change the answer (a node added or changed, a pod deleted), which moves
  them to backoff, and are retried anyway after `unschedulable_timeout`.

A pod being scheduled is "in flight"; updates that arrive meanwhile are kept
and re-queued if the attempt fails, so one pod is never scheduled twice at once.
A pod that failed while a move happened goes to backoff, not to the
unschedulable set, so the event that might have made it fit is not lost.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

from minikube_py.api.backoff import Exponential
from minikube_py.scheduler.podinfo import PodInfo


@dataclass(slots=True)
class _Entry:
    info: PodInfo
    attempts: int = 0
    parked_at: float = 0.0


class SchedulingQueue:
    """Pending pods, ordered; see the module docstring."""

    def __init__(
        self,
        *,
        unschedulable_timeout: float = 60.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.unschedulable_timeout = unschedulable_timeout
        self.backoff = Exponential(backoff_initial, backoff_max)
        self.clock = clock
        self._entries: dict[str, _Entry] = {}
        self._active: list[tuple[int, str, int, str]] = []
        self._in_active: set[str] = set()
        self._backoff: list[tuple[float, int, str]] = []
        self._in_backoff: set[str] = set()
        self._unschedulable: set[str] = set()
        self._in_flight: dict[str, int] = {}  # key -> move cycle when popped
        self._dirty: set[str] = set()
        self._move_cycle = 0
        self._seq = itertools.count()
        self._wakeup = asyncio.Event()

    def __len__(self) -> int:
        return len(self._entries)

    def _push_active(self, key: str) -> None:
        if key in self._in_active or key in self._in_flight:
            return
        info = self._entries[key].info
        self._in_backoff.discard(key)
        self._unschedulable.discard(key)
        heapq.heappush(self._active, (-info.priority, info.created, next(self._seq), key))
        self._in_active.add(key)
        self._wakeup.set()

    def _push_backoff(self, key: str) -> None:
        entry = self._entries[key]
        delay = self.backoff.delay(entry.attempts - 1)
        self._unschedulable.discard(key)
        heapq.heappush(self._backoff, (self.clock() + delay, next(self._seq), key))
        self._in_backoff.add(key)

    def add(self, info: PodInfo) -> None:
        """A new or updated pending pod: (re)try it now."""
        entry = self._entries.get(info.key)
        if entry is None:
            self._entries[info.key] = _Entry(info)
        else:
            entry.info = info
        if info.key in self._in_flight:
            self._dirty.add(info.key)
            return
        self._push_active(info.key)

    def delete(self, key: str) -> None:
        """The pod is gone or bound by someone else."""
        self._entries.pop(key, None)
        self._in_active.discard(key)
        self._in_backoff.discard(key)
        self._unschedulable.discard(key)
        self._dirty.discard(key)

    async def pop(self) -> PodInfo:
        """The next pod to schedule; it is in flight until `done`/`failed`."""
        while True:
            while self._active:
                _, _, _, key = heapq.heappop(self._active)
                if key not in self._in_active:
                    continue  # stale heap entry
                self._in_active.discard(key)
                entry = self._entries[key]
                entry.attempts += 1
                self._in_flight[key] = self._move_cycle
                return entry.info
            self._wakeup.clear()
            await self._wakeup.wait()

    def done(self, key: str) -> None:
        """Bound: nothing left to do for it, whatever changed meanwhile."""
        self._in_flight.pop(key, None)
        self._dirty.discard(key)
        self._entries.pop(key, None)

    def failed(self, key: str, *, unschedulable: bool) -> None:
        """Retry later: after backoff, or parked until the cluster changes."""
        popped_cycle = self._in_flight.pop(key, None)
        if key not in self._entries:
            return
        if key in self._dirty:
            self._dirty.discard(key)
            self._push_active(key)
        elif unschedulable and popped_cycle == self._move_cycle:
            self._entries[key].parked_at = self.clock()
            self._unschedulable.add(key)
        else:
            self._push_backoff(key)

    def move_all_to_backoff(self) -> None:
        """Something changed that might let unschedulable pods fit."""
        self._move_cycle += 1
        for key in list(self._unschedulable):
            self._push_backoff(key)

    def flush(self) -> None:
        """Move due backoff pods and long-parked unschedulable pods to active."""
        now = self.clock()
        while self._backoff and self._backoff[0][0] <= now:
            _, _, key = heapq.heappop(self._backoff)
            if key in self._in_backoff:
                self._in_backoff.discard(key)
                self._push_active(key)
        for key in [k for k in self._unschedulable
                    if now - self._entries[k].parked_at >= self.unschedulable_timeout]:
            self._push_active(key)

    async def run_flusher(self, period: float = 0.5) -> None:
        """Forever: flush every `period` seconds."""
        while True:
            await asyncio.sleep(period)
            self.flush()
