"""Events off the hot path: the scheduler enqueues and a writer drains.

Binding is what users wait for; an Event is a report about it, and writing
one costs the api-server about as much as a binding. So the writer yields:
while the scheduler is busy (`busy()`, e.g. many bindings in flight) Events
wait in a bounded backlog, and are written when the burst is over. When the
backlog is full new Events are dropped (counted, logged once per burst), like
Kubernetes' event broadcaster under pressure, rather than slow binding down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from minikube_py.api.types import Object
from minikube_py.client import EventRecorder

log = logging.getLogger(__name__)

BUSY_POLL = 0.05


class EventSink:
    def __init__(self, recorder: EventRecorder, backlog: int,
                 busy: Callable[[], bool] = lambda: False) -> None:
        self.recorder = recorder
        self.busy = busy
        self._queue: asyncio.Queue[tuple[Object, str, str, str]] = asyncio.Queue(backlog)
        self.dropped = 0

    def emit(self, obj: Object, type_: str, reason: str, message: str) -> None:
        try:
            self._queue.put_nowait((obj, type_, reason, message))
        except asyncio.QueueFull:
            if not self.dropped:
                log.warning("event backlog full, dropping events backlog=%d",
                            self._queue.maxsize)
            self.dropped += 1

    async def run(self, workers: int) -> None:
        """Forever: `workers` writers draining the backlog when not busy."""
        await asyncio.gather(*(self._worker() for _ in range(workers)))

    async def _worker(self) -> None:
        while True:
            obj, type_, reason, message = await self._queue.get()
            while self.busy():
                await asyncio.sleep(BUSY_POLL)
            if self._queue.empty():
                self.dropped = 0  # a later overflow is a new burst: log it again
            await self.recorder.event(obj, type_, reason, message)  # never raises
