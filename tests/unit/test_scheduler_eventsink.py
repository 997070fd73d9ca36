"""Scheduler events wait while bindings queue up, and overflow is dropped."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from minikube_py.client import EventRecorder
from minikube_py.scheduler.eventsink import EventSink


class Recorder:
    def __init__(self) -> None:
        self.written: list[str] = []

    async def event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.written.append(message)


async def test_events_wait_while_busy_and_overflow_is_dropped() -> None:
    recorder = Recorder()
    busy = True
    sink = EventSink(cast(EventRecorder, recorder), backlog=2, busy=lambda: busy)
    for i in range(4):
        sink.emit({"metadata": {"name": "p"}}, "Normal", "Scheduled", f"e{i}")
    task = asyncio.create_task(sink.run(1))
    try:
        await asyncio.sleep(0.2)
        assert recorder.written == []  # held back while bindings queue up
        assert sink.dropped == 2
        busy = False
        for _ in range(50):
            if len(recorder.written) == 2:
                break
            await asyncio.sleep(0.02)
        assert recorder.written == ["e0", "e1"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
