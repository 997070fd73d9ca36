"""Two `minikube-py scheduler` processes at once: one holds the Lease and
binds every pod exactly once; when it dies the other takes over."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from agent.hollow import HollowNodes
from minikube_py.api.resources import EVENTS, PODS
from minikube_py.client import ApiClient
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.controlplane import components, lease_holder
from tests.helpers import eventually, scratch_namespace


@pytest.fixture
def schedulers(
        apiserver: ApiServer, tmp_path: Path) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    with components(apiserver.kubeconfig, tmp_path, **{"sched-a": ["scheduler"],
                                                        "sched-b": ["scheduler"]}) as procs:
        yield procs


@pytest.fixture
async def env(apiserver: ApiServer) -> AsyncIterator[tuple[ApiClient, str, HollowNodes]]:
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client, \
            scratch_namespace(client, "sched-leader") as namespace:
        nodes = HollowNodes(client, run_pods=False)
        try:
            for i in range(3):
                await nodes.add(f"n{i}")
            yield client, namespace, nodes
        finally:
            await nodes.cleanup()


async def create_pods(client: ApiClient, ns: str, prefix: str, n: int) -> None:
    await asyncio.gather(*(client.create(PODS, {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{prefix}-{i}"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}, ns) for i in range(n)))


async def all_bound(client: ApiClient, ns: str, prefix: str, n: int) -> bool:
    pods = [p for p in (await client.list(PODS, ns))["items"]
            if p["metadata"]["name"].startswith(prefix)]
    return len(pods) == n and all(p["spec"].get("nodeName") for p in pods)


def identity(proc: subprocess.Popen[bytes]) -> str:
    args = list(cast(list[str], proc.args))
    return args[args.index("--identity") + 1]


async def leading(client: ApiClient, schedulers: dict[str, subprocess.Popen[bytes]],
                  among: tuple[str, ...] | None = None) -> str:
    """The name of the scheduler (of `among`, default any of this test's) holding the Lease:
    one an earlier test left on this module's api-server is not ours."""
    async def holder() -> str | None:
        held = await lease_holder(client, "kube-scheduler")
        return next((n for n in among or tuple(schedulers)
                     if identity(schedulers[n]) == held), None)
    name: str = await eventually(holder, timeout=20,
                                 what=f"one of {among or tuple(schedulers)} leading")
    return name


async def test_one_scheduler_binds_each_pod_once_and_the_other_takes_over(
        schedulers: dict[str, subprocess.Popen[bytes]], env: tuple[ApiClient, str, HollowNodes],
        tmp_path: Path) -> None:
    client, ns, _ = env
    leader = await leading(client, schedulers)
    await create_pods(client, ns, "first", 20)
    await eventually(lambda: all_bound(client, ns, "first", 20), timeout=30)

    async def scheduled() -> list[dict[str, Any]]:
        """The Scheduled Events, once there are 20: one writer sends them after the
        bindings (scheduler/eventsink.py), seconds later under load."""
        events = [e for e in (await client.list(EVENTS, ns))["items"]
                  if e["reason"] == "Scheduled"]
        return events if len(events) >= 20 else []

    events = await eventually(scheduled, timeout=30, what="20 Scheduled events")
    assert len(events) == 20 and all(e.get("count", 1) == 1 for e in events)
    follower = next(n for n in schedulers if n != leader)
    assert "scheduler synced" in (tmp_path / f"{leader}.log").read_text()
    assert "scheduler synced" not in (tmp_path / f"{follower}.log").read_text()  # only waits

    schedulers[leader].send_signal(signal.SIGKILL)
    schedulers[leader].wait()
    await leading(client, schedulers, among=(follower,))
    await create_pods(client, ns, "second", 10)
    await eventually(lambda: all_bound(client, ns, "second", 10), timeout=30)


async def test_sigterm_hands_the_lease_back(schedulers: dict[str, subprocess.Popen[bytes]],
                                           env: tuple[ApiClient, str, HollowNodes],
                                           tmp_path: Path) -> None:
    """A stopped leader (SIGTERM: an upgrade, `minikube-py down`) releases its Lease, so the
    standby takes over at its next retry instead of waiting out the lease."""
    client, _, _ = env
    leader = await leading(client, schedulers)
    schedulers[leader].send_signal(signal.SIGTERM)
    assert schedulers[leader].wait(timeout=10) == 0
    assert "released lease lease=kube-system/kube-scheduler identity=" \
        f"{identity(schedulers[leader])}" in (tmp_path / f"{leader}.log").read_text()
    await leading(client, schedulers, among=tuple(n for n in schedulers if n != leader))
