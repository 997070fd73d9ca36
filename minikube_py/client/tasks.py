"""Supervised tasks, kopf aiotasks-style: a component's loops (informers,
workers, leader election) run side by side; if any of them ends, for better
or worse, the others are stopped and the outcome of the first is the outcome
of the whole. No fire-and-forget task whose exception nobody sees.

Background loops that must outlive their own failures (the api-server's
namespace cache, endpoint leases and compactor) run `restarting`: a crash is
logged and the loop started again after a back-off."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from typing import Any

from minikube_py.api.backoff import Backoff

Loop = Callable[[], Coroutine[Any, Any, Any]]

log = logging.getLogger(__name__)


async def run_tasks(named: Mapping[str, Coroutine[Any, Any, Any]]) -> None:
    """Run coroutines as named tasks until the first ends; then cancel and await the rest.

    A failure of the first task(s) to end is re-raised (return values are
    dropped); failures of the others while stopping are logged. Cancelling
    `run_tasks` cancels all of them.
    """
    tasks = [asyncio.create_task(coro, name=name) for name, coro in named.items()]
    if not tasks:
        return
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        await stop_tasks(tasks)
        raise
    await stop_tasks(list(pending))
    finished = [t for t in tasks if t in done]
    failed = [(t, error) for t in finished
              if not t.cancelled() and (error := t.exception()) is not None]
    for task, error in failed[1:]:
        log.error("task failed task=%s error=%r", task.get_name(), error)
    if failed:
        first, error = failed[0]
        log.error("task failed, stopped the others task=%s error=%r", first.get_name(), error)
        raise error
    if any(t.cancelled() for t in finished):
        raise asyncio.CancelledError(f"task {finished[0].get_name()} was cancelled")
    log.info("task finished, stopped the others task=%s", finished[0].get_name())


async def stop_tasks(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel what still runs and wait for all, logging failures other than cancellation."""
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for task, result in zip(tasks, results):
        if isinstance(result, Exception):
            log.error("task failed while stopping task=%s error=%r", task.get_name(), result,
                      exc_info=result)


def log_failure(task: asyncio.Task[Any]) -> None:
    """Done-callback for tasks started one by one and never awaited individually (a
    binding per pod, a probe loop per container): their failure is logged when they end
    instead of surfacing, if ever, as "exception was never retrieved" at shutdown."""
    if not task.cancelled() and task.exception() is not None:
        log.error("task failed task=%s error=%r", task.get_name(), task.exception(),
                  exc_info=task.exception())


@contextlib.asynccontextmanager
async def background(coro: Coroutine[Any, Any, Any], name: str) -> AsyncIterator[asyncio.Task[Any]]:
    """Run `coro` as a task for the duration of a block; cancel and await it on exit.

    For loops that live exactly as long as some other work (an informer while
    a command runs, a watcher in a test); its failure is logged.
    """
    task = asyncio.create_task(coro, name=name)
    try:
        yield task
    finally:
        await stop_tasks([task])


async def restarting(name: str, loop: Loop, *, backoff: Backoff | None = None) -> None:
    """Run `loop()` until it returns or is cancelled; when it raises, log the crash and
    run it again after `backoff` (0.5 s doubling to 30 s, forgiven once a run lasted
    that long)."""
    backoff = backoff or Backoff(0.5, 30.0, jitter=0.2)
    clock = asyncio.get_running_loop().time
    while True:
        started = clock()
        try:
            await loop()
        except Exception as e:
            if clock() - started > backoff.policy.cap:
                backoff.reset()
            delay = backoff.next()
            log.error("task crashed, restarting task=%s restart_in=%.2fs crashes=%d error=%r",
                      name, delay, backoff.failures, e, exc_info=e)
            await asyncio.sleep(delay)
        else:
            log.info("task finished task=%s", name)
            return


@contextlib.asynccontextmanager
async def supervised(loops: Mapping[str, Loop]) -> AsyncIterator[list[asyncio.Task[Any]]]:
    """Run each of `loops` `restarting` for the duration of a block; stop them all on exit."""
    tasks = [asyncio.create_task(restarting(name, loop), name=name)
             for name, loop in loops.items()]
    try:
        yield tasks
    finally:
        await stop_tasks(tasks)
