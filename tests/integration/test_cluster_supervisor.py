"""The cluster supervisor with real processes: start order, restart with back-off,
stop in reverse order, and no orphan when the supervisor itself is killed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from minikube_py.cluster import supervisor
from minikube_py.cluster.components import Component, save_plan
from minikube_py.cluster.paths import ClusterPaths
from minikube_py.cluster.processes import pid_alive
from minikube_py.cluster.supervisor import Backoff, Supervisor

FAST = Backoff(first=0.1, cap=0.4, reset_after=60.0, stop_grace=2.0)


def sleeper(name: str, log: Path) -> Component:
    """A child that records its start and, on SIGTERM, its stop, in `log`; its handler is
    set before the start is written, so a test that saw the start may stop it."""
    code = (f"import signal,sys,time\n"
            f"def bye(*_):\n open({str(log)!r},'a').write('stop {name}\\n'); sys.exit(0)\n"
            f"signal.signal(signal.SIGTERM, bye)\nopen({str(log)!r},'a').write('start {name}\\n')\n"
            "while True: time.sleep(0.05)\n")
    return Component(name, [sys.executable, "-c", code])


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


def status(paths: ClusterPaths) -> dict[str, Any]:
    components: dict[str, Any] = json.loads(paths.status_file.read_text())["components"]
    return components


async def test_prerequisites_restarts_and_reverse_stop(tmp_path: Path) -> None:
    paths = ClusterPaths.under(tmp_path)
    paths.state_dir.mkdir(parents=True)
    events = tmp_path / "events"
    gate = tmp_path / "gate"
    first, second = sleeper("first", events), sleeper("second", events)
    second.wait_files = [str(gate)]
    sup = Supervisor(paths, [first, second], FAST)
    task = asyncio.create_task(sup.run())
    try:
        await until(lambda: events.exists() and "start first" in events.read_text())
        await asyncio.sleep(0.5)
        assert "start second" not in events.read_text()  # its file does not exist yet
        gate.touch()
        await until(lambda: "start second" in events.read_text())
        victim = status(paths)["first"]["pid"]
        os.kill(victim, signal.SIGKILL)
        await until(lambda: status(paths)["first"]["restarts"] == 1
                    and status(paths)["first"]["state"] == "running")
        assert status(paths)["first"]["pid"] != victim
        assert status(paths)["first"]["last_exit"] == -signal.SIGKILL
        await until(lambda: events.read_text().count("start first") == 2)  # handler installed
    finally:
        sup.stop()
        await asyncio.wait_for(task, 10)
    stops = [line for line in events.read_text().splitlines() if line.startswith("stop")]
    assert stops == ["stop second", "stop first"]
    assert not paths.supervisor_pid.exists()
    assert {s["state"] for s in status(paths).values()} == {"stopped"}


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [Backoff(first=1, cap=30).delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


@pytest.mark.timeout(60)
def test_children_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    paths = ClusterPaths.under(tmp_path)
    save_plan(paths, [sleeper("only", tmp_path / "events")])
    pid = supervisor.spawn(paths)
    try:
        deadline = time.monotonic() + 10
        while not (paths.status_file.exists() and status(paths)["only"]["pid"]):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        child = status(paths)["only"]["pid"]
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while pid_alive(child):
            assert time.monotonic() < deadline, "child outlived its supervisor"
            time.sleep(0.05)
    finally:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
