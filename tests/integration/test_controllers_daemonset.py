"""DaemonSet controller against a real api-server, scheduler and hollow nodes:
a pod lands on every node (placed by the scheduler through node affinity),
follows a node added, stays on a cordoned one, leaves a removed one; a rolling
update replaces every pod within maxUnavailable, and kubectl rollout
status/history/undo/restart work for `ds`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from minikube_py.api.resources import CONTROLLERREVISIONS, DAEMONSETS, NODES, PODS
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.controlplane import ClusterEnv
from tests.helpers import eventually

HASH = "controller-revision-hash"


def daemonset(name: str, image: str = "busybox:1") -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


class Env(ClusterEnv):
    async def placement(self, name: str) -> dict[str, str]:
        """node -> image of the live, scheduled daemon pods."""
        pods = (await self.client.list(PODS, self.ns, label_selector=f"app={name}"))["items"]
        return {p["spec"]["nodeName"]: p["spec"]["containers"][0]["image"] for p in pods
                if p["spec"].get("nodeName") and not p["metadata"].get("deletionTimestamp")}

    async def settled(self, name: str, image: str) -> bool:
        ds = await self.client.get(DAEMONSETS, name, self.ns)
        status = ds.get("status") or {}
        nodes = set(self.cp.nodes.names)
        placed = await self.placement(name)
        return (set(placed) == nodes and set(placed.values()) == {image}
                and status.get("observedGeneration") == ds["metadata"]["generation"]
                and status.get("desiredNumberScheduled") == len(nodes)
                and status.get("updatedNumberScheduled") == len(nodes)
                and status.get("numberAvailable") == len(nodes))


@pytest.fixture
async def env(apiserver: ApiServer) -> AsyncIterator[Env]:
    async with Env.running(apiserver.kubeconfig, "ds", ("daemonset", "garbagecollector"),
                           nodes=3) as env:
        yield env


async def test_follows_nodes_added_cordoned_and_removed(env: Env) -> None:
    await env.client.create(DAEMONSETS, daemonset("agent"), env.ns)
    await eventually(lambda: env.settled("agent", "busybox:1"), timeout=60,
                     what="a pod on every node")
    cordoned = env.cp.nodes.names[0]
    await env.client.patch(NODES, cordoned, {"spec": {"unschedulable": True}})
    added = await env.cp.nodes.add("late", cpu="8", pods=50)
    await eventually(lambda: env.settled("agent", "busybox:1"), timeout=60,
                     what="the added node's pod (and the cordoned node's kept)")
    pods = (await env.client.list(PODS, env.ns, label_selector="app=agent"))["items"]
    pod = next(p for p in pods if p["spec"]["nodeName"] == added)
    assert pod["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0][
        "matchFields"] == [{"key": "metadata.name", "operator": "In", "values": [added]}]
    await env.client.delete(NODES, added)
    env.cp.nodes.names.remove(added)
    await eventually(lambda: env.settled("agent", "busybox:1"), timeout=60,
                     what="the removed node's pod gone")


async def test_rolling_update_and_kubectl_rollout(env: Env) -> None:
    await env.client.create(DAEMONSETS, daemonset("roll"), env.ns)
    await eventually(lambda: env.settled("roll", "busybox:1"), timeout=60, what="first rollout")
    most_down = 0
    stop = asyncio.Event()

    async def watch_unavailable() -> None:
        nonlocal most_down
        while not stop.is_set():
            placed = await env.placement("roll")
            most_down = max(most_down, len(env.cp.nodes.names) - len(placed))
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch_unavailable())
    try:
        done = env.kubectl("set", "image", "ds/roll", "c=busybox:2")
        assert done.returncode == 0, done.stderr
        status = await asyncio.to_thread(env.kubectl, "rollout", "status", "ds/roll",
                                         "--timeout=90s")
        assert status.returncode == 0, status.stderr
        assert "successfully rolled out" in status.stdout
        await eventually(lambda: env.settled("roll", "busybox:2"), timeout=60,
                         what="every pod updated")
    finally:
        stop.set()
        await watcher
    assert most_down <= 1  # maxUnavailable 1
    revisions = (await env.client.list(CONTROLLERREVISIONS, env.ns))["items"]
    assert sorted(r["revision"] for r in revisions) == [1, 2]
    listed = env.kubectl("rollout", "history", "ds/roll")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()[2:] if line.strip()] \
        == ["1", "2"]
    undone = env.kubectl("rollout", "undo", "ds/roll")
    assert undone.returncode == 0, undone.stderr
    await eventually(lambda: env.settled("roll", "busybox:1"), timeout=60, what="undo")
    restarted = env.kubectl("rollout", "restart", "ds/roll")
    assert restarted.returncode == 0, restarted.stderr

    async def restarted_everywhere() -> bool:
        pods = (await env.client.list(PODS, env.ns, label_selector="app=roll"))["items"]
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        return len(live) == 3 and all(
            "kubectl.kubernetes.io/restartedAt" in (p["metadata"].get("annotations") or {})
            for p in live) and await env.settled("roll", "busybox:1")

    await eventually(restarted_everywhere, timeout=60, what="restart rolled out")
