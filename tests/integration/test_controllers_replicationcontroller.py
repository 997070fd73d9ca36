"""ReplicationControllers against a real api-server, scheduler and hollow nodes:
`kubectl get/scale rc`, replaced pods, and a PodDisruptionBudget with
maxUnavailable counting the RC's replicas."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from minikube_py.api.resources import PODDISRUPTIONBUDGETS, PODS, REPLICATIONCONTROLLERS
from minikube_py.client import ApiClient
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.controlplane import ClusterEnv
from tests.helpers import eventually


@pytest.fixture
async def env(apiserver: ApiServer) -> AsyncIterator[ClusterEnv]:
    controllers = ("replicationcontroller", "disruption", "garbagecollector")
    async with ClusterEnv.running(apiserver.kubeconfig, "rc", controllers, nodes=2) as env:
        yield env


async def live(client: ApiClient, ns: str) -> list[dict[str, Any]]:
    pods = (await client.list(PODS, ns, label_selector="app=web"))["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


async def test_replication_controller_keeps_its_replicas(env: ClusterEnv) -> None:
    client, ns, kubectl = env.client, env.ns, env.kubectl
    await client.create(REPLICATIONCONTROLLERS, {
        "apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
            "containers": [{"name": "c", "image": "busybox"}]}}}}, ns)
    await client.create(PODDISRUPTIONBUDGETS, {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}}, ns)

    scaled = kubectl("scale", "rc/web", "--replicas=3")
    assert scaled.returncode == 0, scaled.stderr

    async def three_ready() -> bool:
        rc = await client.get(REPLICATIONCONTROLLERS, "web", ns)
        return len(await live(client, ns)) == 3 and (rc.get("status") or {}).get(
            "readyReplicas") == 3

    await eventually(three_ready, what="rc at 3 ready replicas")
    got = kubectl("get", "rc", "web")
    assert got.stdout.split()[:9] == ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "web", "3",
                                      "3", "3"], got.stdout

    async def budget() -> dict[str, Any] | None:
        status = (await client.get(PODDISRUPTIONBUDGETS, "web", ns)).get("status") or {}
        return status if status.get("expectedPods") == 3 else None

    status = await eventually(budget, what="budget counting the rc's replicas")
    assert (status["desiredHealthy"], status["disruptionsAllowed"]) == (2, 1)
    victim = (await live(client, ns))[0]["metadata"]["name"]
    await client.delete(PODS, victim, ns)

    async def replaced() -> bool:
        names = {p["metadata"]["name"] for p in await live(client, ns)}
        return len(names) == 3 and victim not in names

    await eventually(replaced, what="the deleted pod replaced")
