"""Events off the hot path: the scheduler enqueues and a few workers write.

Binding is what users wait for; an Event is a report about it. When the
backlog is full new Events are dropped (logged), like Kubernetes' event
broadcaster, instead of slowing binding down.
"""

from __future__ import annotations

import asyncio
import logging

from minikube_py.client import EventRecorder

log = logging.getLogger(__name__)


class EventSink:
    def __init__(self, recorder: EventRecorder, backlog: int) -> None:
        self.recorder = recorder
        self._queue: asyncio.Queue[tuple[dict, str, str, str]] = asyncio.Queue(backlog)
        self.dropped = 0

    def emit(self, obj: dict, type_: str, reason: str, message: str) -> None:
        try:
            self._queue.put_nowait((obj, type_, reason, message))
        except asyncio.QueueFull:
            self.dropped += 1
            log.debug("event dropped reason=%s object=%s", reason, obj["metadata"].get("name"))

    async def run(self, workers: int) -> None:
        """Forever: `workers` writers draining the backlog."""
        await asyncio.gather(*(self._worker() for _ in range(workers)))

    async def _worker(self) -> None:
        while True:
            obj, type_, reason, message = await self._queue.get()
            await self.recorder.event(obj, type_, reason, message)  # never raises
