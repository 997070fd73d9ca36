"""Node lifecycle against a real api-server: a node whose Lease lapses goes
Unknown and tainted, its pods' Ready turns False, they are evicted when their
toleration runs out (and recreated on another node), a pod tolerating longer
stays, the taints go when the node comes back, and once the Node is deleted
its remaining pods are too (also when it went before the controller started).
Short grace periods come through the settings, as `lab up
--node-monitor-grace-period` passes them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest

from minikube_py.api.resources import EVENTS, NODES, PODS, REPLICASETS
from minikube_py.client import ApiClient
from minikube_py.controllers.settings import ControllerManagerSettings
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.builders import replicaset
from tests.fixtures.controlplane import ControlPlane
from tests.helpers import eventually, scratch_namespace

SETTINGS = ControllerManagerSettings(leader_election=None, node_monitor_grace_period=2.0,
                                     node_monitor_period=0.5, pod_eviction_timeout=2.0)


@pytest.fixture
async def env(apiserver: ApiServer) -> AsyncIterator[tuple[ApiClient, ControlPlane, str]]:
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client, \
            scratch_namespace(client, "nlc") as namespace, \
            ControlPlane(client, SETTINGS, lease_interval=0.5) as cp:
        yield client, cp, namespace


def _condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or []
                 if c["type"] == type_), {})


async def test_lapsed_lease_moves_pods_to_other_nodes(
        env: tuple[ApiClient, ControlPlane, str]) -> None:
    client, cp, ns = env
    doomed = await cp.nodes.add("doomed")
    await client.create(REPLICASETS, replicaset("web", ns, replicas=3), ns)
    patient = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "patient"},
               "spec": {"containers": [{"name": "c", "image": "busybox"}],
                        "tolerations": [{"key": "node.kubernetes.io/unreachable",
                                         "operator": "Exists", "effect": "NoExecute",
                                         "tolerationSeconds": 3600}]}}
    await client.create(PODS, patient, ns)

    async def pods_on(node: str) -> list[dict[str, Any]]:
        pods = (await client.list(PODS, ns))["items"]
        return [p for p in pods if p["spec"].get("nodeName") == node
                and not p["metadata"].get("deletionTimestamp")
                and p["status"].get("phase") == "Running"]

    await eventually(lambda: _has(pods_on(doomed), 4))
    spare = await cp.nodes.add("spare")
    cp.nodes.stop(doomed)

    async def unknown_and_tainted() -> bool:
        node = await client.get(NODES, doomed)
        taints = {(t["key"], t["effect"]) for t in node["spec"].get("taints") or []}
        return _condition(node, "Ready").get("status") == "Unknown" and taints == {
            ("node.kubernetes.io/unreachable", "NoSchedule"),
            ("node.kubernetes.io/unreachable", "NoExecute")}

    await eventually(unknown_and_tainted, timeout=10)

    async def recreated_elsewhere() -> bool:
        return len(await pods_on(spare)) == 3

    await eventually(recreated_elsewhere, timeout=20)
    pods = {p["metadata"]["name"]: p for p in (await client.list(PODS, ns))["items"]}
    assert not pods["patient"]["metadata"].get("deletionTimestamp")  # tolerates for an hour
    assert _condition(pods["patient"], "Ready")["status"] == "False"
    events = (await client.list(EVENTS, "default"))["items"] + (await client.list(EVENTS, ns))[
        "items"]
    reasons = {e["reason"] for e in events}
    assert {"NodeNotReady", "TaintManagerEviction"} <= reasons

    await cp.nodes.resume(doomed)

    async def untainted() -> bool:
        node = await client.get(NODES, doomed)
        return not [t for t in node["spec"].get("taints") or []
                    if t["key"].startswith("node.kubernetes.io/")]

    await eventually(untainted, timeout=10)

    cp.nodes.stop(doomed)
    await client.delete(NODES, doomed)

    async def nothing_left_on_it() -> bool:
        pods = (await client.list(PODS, ns))["items"]
        return not [p for p in pods if p["spec"].get("nodeName") == doomed]

    await eventually(nothing_left_on_it, timeout=10)  # pod GC: no agent will finish them


async def _has(pods: Awaitable[list[dict[str, Any]]], n: int) -> bool:
    return len(await pods) == n


async def test_pods_of_a_node_deleted_while_nobody_watched_are_collected_at_start(
        apiserver: ApiServer) -> None:
    """The Node went away while no controller-manager ran: no delete event will come,
    so the periodic look must find its pods (Kubernetes' pod GC, gcOrphaned)."""
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client, \
            scratch_namespace(client, "nlc-orphan") as ns:
        ghost = f"ghost-{ns}"

        def pod(name: str, node: str) -> dict[str, Any]:
            return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                    "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x"}]}}

        await client.create(PODS, pod("orphan", ghost), ns)  # before any controller runs
        async with ControlPlane(client, SETTINGS, lease_interval=0.5) as cp:
            alive = await cp.nodes.add("alive")
            await client.create(PODS, pod("kept", alive), ns)

            async def orphan_gone() -> bool:
                names = {p["metadata"]["name"] for p in (await client.list(PODS, ns))["items"]}
                return names == {"kept"}

            await eventually(orphan_gone, timeout=10, what="the ghost node's pod deleted")


async def test_a_disrupted_zone_is_not_evicted_until_it_recovers(
        env: tuple[ApiClient, ControlPlane, str]) -> None:
    """Three of a zone's four nodes go silent at once (PartialDisruption of a small zone):
    they go Unknown and NoSchedule-tainted but none gets NoExecute and no pod goes, long
    past the eviction timeout; when two come back the zone is Normal again and the last
    silent node's pod is evicted. A zone of our own: other tests' nodes do not count."""
    client, cp, ns = env
    zone = {"topology.kubernetes.io/zone": f"z-{ns}"}
    names = [await cp.nodes.add(f"zone{i}", labels=zone) for i in range(4)]
    silent = names[:3]
    for name in silent:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"on-{name}"},
               "spec": {"nodeName": name, "containers": [{"name": "c", "image": "busybox"}]}}
        await client.create(PODS, pod, ns)
    for name in silent:
        cp.nodes.stop(name)

    async def taints(name: str) -> set[tuple[str, str]]:
        node = await client.get(NODES, name)
        return {(t["key"], t["effect"]) for t in node["spec"].get("taints") or []}

    async def all_unknown() -> bool:
        return [await taints(n) for n in silent] == [
            {("node.kubernetes.io/unreachable", "NoSchedule")}] * 3

    await eventually(all_unknown, timeout=10)

    async def alive_pods() -> set[str]:
        return {p["metadata"]["name"] for p in (await client.list(PODS, ns))["items"]
                if not p["metadata"].get("deletionTimestamp")}

    await asyncio.sleep(SETTINGS.pod_eviction_timeout + 2)
    assert await alive_pods() == {f"on-{n}" for n in silent}
    assert await all_unknown()

    for name in silent[:2]:
        await cp.nodes.resume(name)

    async def last_one_evicted() -> bool:
        return await alive_pods() == {f"on-{n}" for n in silent[:2]}

    await eventually(last_one_evicted, timeout=15)
