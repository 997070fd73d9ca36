"""Supervised tasks: the first to end decides, the rest are stopped, nothing is lost."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest

from minikube_py.api.backoff import Backoff
from minikube_py.api.meta import micro_time
from minikube_py.client.leaderelection import LeaderElector
from minikube_py.client.tasks import log_failure, restarting, run_tasks, supervised


async def forever(stopped: list[str], name: str) -> None:
    try:
        await asyncio.sleep(3600)
    finally:
        stopped.append(name)


async def test_first_failure_stops_the_rest_and_is_raised() -> None:
    stopped: list[str] = []

    async def fails() -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("informer broke")

    with pytest.raises(RuntimeError, match="informer broke"):
        await asyncio.wait_for(run_tasks({"a": forever(stopped, "a"), "bad": fails(),
                                          "b": forever(stopped, "b")}), 5)
    assert sorted(stopped) == ["a", "b"]


async def test_clean_end_stops_the_rest_and_returns() -> None:
    stopped: list[str] = []

    async def finishes() -> str:
        return "done"

    await asyncio.wait_for(run_tasks({"ok": finishes(), "a": forever(stopped, "a")}), 5)
    assert stopped == ["a"]


async def test_cancelling_supervisor_cancels_all() -> None:
    stopped: list[str] = []
    supervisor = asyncio.create_task(run_tasks({"a": forever(stopped, "a"),
                                                "b": forever(stopped, "b")}))
    await asyncio.sleep(0.01)
    supervisor.cancel()
    with pytest.raises(asyncio.CancelledError):
        await supervisor
    assert sorted(stopped) == ["a", "b"]


async def test_failure_while_stopping_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def bad_cleanup() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            raise OSError("cleanup failed")

    async def finishes() -> None:
        await asyncio.sleep(0.01)

    await asyncio.wait_for(run_tasks({"ok": finishes(), "messy": bad_cleanup()}), 5)
    assert "task=messy" in caplog.text and "cleanup failed" in caplog.text


def test_micro_time_format() -> None:
    at = datetime(2026, 1, 2, 15, 4, 5, 7, tzinfo=UTC)
    assert micro_time(at) == "2026-01-02T15:04:05.000007Z"


def test_elector_rejects_inconsistent_timing() -> None:
    with pytest.raises(ValueError, match="lease_duration > renew_deadline"):
        # refused before it would use a client
        LeaderElector(None, name="x", lease_duration=5, renew_deadline=10)  # type: ignore[arg-type]


async def test_log_failure_reports_a_task_nobody_awaits(caplog: pytest.LogCaptureFixture) -> None:
    async def boom() -> None:
        raise RuntimeError("bind exploded")

    async def fine() -> None:
        pass

    tasks = [asyncio.create_task(boom(), name="bind-x"), asyncio.create_task(fine(), name="ok")]
    for task in tasks:
        task.add_done_callback(log_failure)
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(0)  # done-callbacks run on the next loop iteration
    assert "task=bind-x" in caplog.text and "bind exploded" in caplog.text
    assert "task=ok" not in caplog.text


async def test_a_crashing_loop_is_logged_and_restarted_with_backoff(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "minikube_py.client.tasks")
    runs = 0

    async def crashes_twice() -> None:
        nonlocal runs
        runs += 1
        if runs <= 2:
            raise RuntimeError(f"crash {runs}")

    backoff = Backoff(0.001, 0.01)
    await asyncio.wait_for(restarting("cache", crashes_twice, backoff=backoff), 5)
    assert runs == 3, "restarted after each crash, finished on the clean return"
    assert caplog.text.count("task crashed, restarting task=cache") == 2
    assert "crash 2" in caplog.text and "task finished task=cache" in caplog.text
    assert backoff.failures == 2, "each restart waited the next back-off"


async def test_supervised_loops_keep_running_until_the_block_ends() -> None:
    runs: list[str] = []
    stopped: list[str] = []

    async def flaky() -> None:
        runs.append("flaky")
        if len(runs) == 1:
            raise RuntimeError("first run breaks")
        await forever(stopped, "flaky")

    async with supervised({"flaky": flaky}) as tasks:
        while len(runs) < 2:
            await asyncio.sleep(0.05)
        assert not tasks[0].done(), "a crash is not the end of a supervised loop"
    assert stopped == ["flaky"] and tasks[0].cancelled()
