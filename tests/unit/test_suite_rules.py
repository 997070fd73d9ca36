"""The rule tests/fixtures/tasks.py enforces on every async test: no task left running."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.fixtures.tasks import no_leftover_tasks


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.close()


def test_a_task_left_running_fails_and_is_cancelled(loop: asyncio.AbstractEventLoop) -> None:
    async def forget() -> asyncio.Task[None]:
        return asyncio.create_task(asyncio.sleep(100), name="forgotten")

    leaked = pytest.raises(pytest.fail.Exception, match="1 asyncio task.* left running: forgotten")
    with leaked, no_leftover_tasks(loop):
        task = loop.run_until_complete(forget())
    assert task.cancelled()


def test_tasks_finished_or_cancelled_in_time_pass(loop: asyncio.AbstractEventLoop) -> None:
    async def tidy() -> None:
        asyncio.create_task(asyncio.sleep(100)).cancel()  # cancelled, not yet unwound
        asyncio.create_task(asyncio.sleep(0.05))  # ends well within the grace period
        await asyncio.create_task(asyncio.sleep(0))

    with no_leftover_tasks(loop):
        loop.run_until_complete(tidy())


def test_tasks_older_than_the_block_are_not_its_leak(loop: asyncio.AbstractEventLoop) -> None:
    older = loop.create_task(asyncio.sleep(100))
    with no_leftover_tasks(loop):
        pass
    older.cancel()
    loop.run_until_complete(asyncio.gather(older, return_exceptions=True))
