"""A keyed work queue with client-go's guarantees, for level-triggered controllers.

- A key waiting in the queue is stored once, however often it is added.
- A key is never handed to two workers at once: added while being processed,
  it is queued again when that worker calls `done`.
- `add_after` delays (keeping the earliest time if added again); failures go
  through a rate limiter (`add_rate_limited`) until `forget` resets it.
- `shutdown` stops new adds; workers drain what is queued and then stop.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable

from minikube_py.client.ratelimit import RateLimiter, default_rate_limiter

log = logging.getLogger(__name__)

GiveUp = Callable[[Hashable, Exception], Awaitable[None]]


class ShutDown(Exception):
    """`get()` on a queue that is shut down and empty."""


class WorkQueue:
    """Dedup + no-concurrent-processing + delays + rate-limited retries."""

    def __init__(self, name: str = "", *, rate_limiter: RateLimiter | None = None) -> None:
        self.name = name
        self.rate_limiter = rate_limiter or default_rate_limiter()
        self._queue: deque[Hashable] = deque()
        self._dirty: set[Hashable] = set()
        self._processing: set[Hashable] = set()
        self._waiting: dict[Hashable, tuple[float, asyncio.TimerHandle]] = {}
        self._getters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False

    def __len__(self) -> int:
        return len(self._queue)

    def __repr__(self) -> str:
        return (f"WorkQueue({self.name!r}, queued={len(self._queue)}, "
                f"processing={len(self._processing)}, waiting={len(self._waiting)})")

    def add(self, key: Hashable) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # requeued by done()
        self._queue.append(key)
        self._wake_one()

    def add_after(self, key: Hashable, seconds: float) -> None:
        """Add `key` after a delay; an earlier pending time for the same key wins."""
        if self._shutting_down:
            return
        if seconds <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        ready_at = loop.time() + seconds
        pending = self._waiting.get(key)
        if pending is not None:
            if pending[0] <= ready_at:
                return
            pending[1].cancel()
        self._waiting[key] = (ready_at, loop.call_at(ready_at, self._ready, key))

    def _ready(self, key: Hashable) -> None:
        self._waiting.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: Hashable) -> None:
        """Retry `key` after the rate limiter's backoff for it."""
        self.add_after(key, self.rate_limiter.when(key))

    def forget(self, key: Hashable) -> None:
        """The key succeeded: its next failure starts from the shortest backoff."""
        self.rate_limiter.forget(key)

    def num_requeues(self, key: Hashable) -> int:
        return self.rate_limiter.num_requeues(key)

    async def get(self) -> Hashable:
        """The next key, now owned by the caller until `done(key)`."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown(self.name)
            waiter = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # pass the wake-up we consumed to someone else
                raise
            finally:
                if not waiter.done():
                    waiter.cancel()
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: Hashable) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake_one()

    def shutdown(self) -> None:
        """No more adds or delayed adds; getters drain the queue, then get ShutDown."""
        self._shutting_down = True
        for _, handle in self._waiting.values():
            handle.cancel()
        self._waiting.clear()
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _wake_one(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def run_workers(self, fn: Callable[[Hashable], Awaitable[object]], workers: int = 1,
                          *, max_retries: int | None = None,
                          on_give_up: GiveUp | None = None) -> None:
        """`workers` loops of get -> fn(key) -> forget, or add_rate_limited on error.

        Returns once the queue is shut down and drained; cancelling it cancels
        the workers. After `max_retries` failures in a row a key is dropped
        (logged, then `on_give_up(key, error)`) until something adds it again.
        """
        async with asyncio.TaskGroup() as group:
            for i in range(workers):
                group.create_task(self._worker(fn, max_retries, on_give_up),
                                  name=f"{self.name}-worker-{i}")

    async def _worker(self, fn: Callable[[Hashable], Awaitable[object]],
                      max_retries: int | None, on_give_up: GiveUp | None) -> None:
        while True:
            try:
                key = await self.get()
            except ShutDown:
                return
            try:
                await fn(key)
            except Exception as e:
                if max_retries is not None and self.num_requeues(key) >= max_retries:
                    log.exception("dropping key after retries, given up queue=%s key=%s "
                                  "retries=%d", self.name, key, max_retries)
                    self.forget(key)
                    if on_give_up is not None:
                        await self._give_up(on_give_up, key, e)
                else:
                    log.warning("sync failed, will retry queue=%s key=%s requeues=%d",
                                self.name, key, self.num_requeues(key), exc_info=True)
                    self.add_rate_limited(key)
            else:
                self.forget(key)
            finally:
                self.done(key)

    async def _give_up(self, on_give_up: GiveUp, key: Hashable, error: Exception) -> None:
        try:
            await on_give_up(key, error)
        except Exception:
            log.exception("give-up handler failed queue=%s key=%s", self.name, key)
