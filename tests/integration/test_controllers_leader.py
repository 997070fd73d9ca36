"""Two `minikube-py controller-manager` processes at once: only the Lease
holder acts (a ReplicaSet gets exactly its replicas, never twice as many);
when the leader dies the other takes over and acts."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from minikube_py.api.resources import PODS, REPLICASETS
from minikube_py.client import ApiClient
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.builders import replicaset
from tests.fixtures.controlplane import components, lease_holder
from tests.helpers import eventually, scratch_namespace


@pytest.fixture
def managers(apiserver: ApiServer, tmp_path: Path) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    args = ["controller-manager", "--controllers", "replicaset"]
    with components(apiserver.kubeconfig, tmp_path, **{"cm-a": args, "cm-b": args}) as procs:
        yield procs


@pytest.fixture
async def client(apiserver: ApiServer) -> AsyncIterator[tuple[ApiClient, str]]:
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as c, \
            scratch_namespace(c, "leader") as namespace:
        yield c, namespace


async def test_only_the_leader_acts_and_the_other_takes_over(
        managers: dict[str, subprocess.Popen[bytes]], client: tuple[ApiClient, str]) -> None:
    c, ns = client

    def holder() -> Coroutine[Any, Any, str | None]:
        return lease_holder(c, "kube-controller-manager")

    leader_id = await eventually(holder, timeout=20)
    leader = next(n for n in managers if leader_id.startswith(n))
    follower = next(n for n in managers if n != leader)

    async def pod_count(app: str) -> int:
        return len((await c.list(PODS, ns, label_selector=f"app={app}"))["items"])

    await c.create(REPLICASETS, replicaset("first", ns, replicas=5), ns)
    await eventually(lambda: _equals(pod_count("first"), 5), timeout=20)
    await asyncio.sleep(2)  # a second actor would have doubled them by now
    assert await pod_count("first") == 5
    assert managers[leader].poll() is None and managers[follower].poll() is None

    managers[leader].send_signal(signal.SIGKILL)
    managers[leader].wait()
    new_id = await eventually(lambda: _other_than(holder(), leader_id), timeout=20)
    assert new_id.startswith(follower)
    await c.create(REPLICASETS, replicaset("second", ns, replicas=3), ns)
    await eventually(lambda: _equals(pod_count("second"), 3), timeout=20)
    assert await pod_count("first") == 5


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def _other_than(value: Awaitable[str | None], old: str) -> str | None:
    current = await value
    return current if current and current != old else None
