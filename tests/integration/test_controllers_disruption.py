"""PodDisruptionBudgets end to end against a real api-server, scheduler,
controllers and hollow nodes: the disruption controller's status, the
eviction subresource refusing with 429 while a budget allows nothing, and
`kubectl drain --ignore-daemonsets` blocking on a budget and proceeding once
the budget allows; cordon and uncordon."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from minikube_py.api.resources import (
    DAEMONSETS,
    NODES,
    PODDISRUPTIONBUDGETS,
    PODS,
    REPLICASETS,
)
from minikube_py.client import ApiClient
from minikube_py.client.errors import TooManyRequests
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.controlplane import ClusterEnv
from tests.helpers import eventually


def replicaset(replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                         "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "c", "image": "busybox"}]}}}}


def budget(min_available: int) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "web"},
            "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": "web"}}}}


class Env(ClusterEnv):
    async def web_pods(self) -> list[dict[str, Any]]:
        pods = (await self.client.list(PODS, self.ns, label_selector="app=web"))["items"]
        return [p for p in pods if not p["metadata"].get("deletionTimestamp")]

    async def allows(self, n: int, healthy: int) -> bool:
        pdb = await self.client.get(PODDISRUPTIONBUDGETS, "web", self.ns)
        status = pdb.get("status") or {}
        return status.get("disruptionsAllowed") == n and status.get("currentHealthy") == healthy

    async def observed(self, generation: int) -> bool:
        rs = await self.client.get(REPLICASETS, "web", self.ns)
        return bool((rs.get("status") or {}).get("observedGeneration", 0) >= generation)

    async def evict(self, name: str) -> dict[str, Any]:
        body = {"apiVersion": "policy/v1", "kind": "Eviction",
                "metadata": {"name": name, "namespace": self.ns}}
        return await self.client.create(PODS, body, self.ns, subresource="eviction", name=name)


@pytest.fixture
async def env(apiserver: ApiServer) -> AsyncIterator[Env]:
    controllers = ("replicaset", "daemonset", "disruption", "garbagecollector")
    async with Env.running(apiserver.kubeconfig, "pdb", controllers, nodes=2) as env:
        yield env


async def test_eviction_is_refused_while_the_budget_allows_nothing(env: Env) -> None:
    await env.client.create(REPLICASETS, replicaset(2), env.ns)
    await env.client.create(PODDISRUPTIONBUDGETS, budget(2), env.ns)
    await eventually(lambda: env.allows(0, 2), what="budget: 2 healthy, nothing allowed")
    victim = (await env.web_pods())[0]["metadata"]["name"]
    with pytest.raises(TooManyRequests) as refused:
        await env.evict(victim)
    assert refused.value.status["message"] == \
        "Cannot evict pod as it would violate the pod's disruption budget."
    assert refused.value.status["details"]["causes"][0] == {
        "reason": "DisruptionBudget", "field": "",
        "message": "The disruption budget web needs 2 healthy pods and has 2 currently"}
    await env.client.patch(REPLICASETS, "web", {"spec": {"replicas": 3}}, env.ns)
    await eventually(lambda: env.allows(1, 3), what="budget: 3 healthy, one allowed")
    # The victim's replacement must not run and give the budget its one disruption back
    # before the second eviction: pods made from now on fit no node (a ReplicaSet's template
    # change leaves its running pods alone; hollow nodes run no probes, so a failing
    # readiness probe would not do), once the controller has seen that template.
    rs = await env.client.get(REPLICASETS, "web", env.ns)
    rs["spec"]["template"]["spec"]["nodeSelector"] = {"pdb-test": "no-such-node"}
    updated = await env.client.update(REPLICASETS, rs)
    generation = updated["metadata"]["generation"]
    await eventually(lambda: env.observed(generation), what="the template change observed")
    before = (await env.client.get(PODDISRUPTIONBUDGETS, "web", env.ns))["metadata"][
        "resourceVersion"]
    await env.evict(victim)
    # The eviction's own status write records the victim; the controller drops the entry
    # once the pod is deleting (as Kubernetes' does), maybe before a GET here: the watch
    # from before the eviction sees that write whatever came after it.
    events = env.client.watch(PODDISRUPTIONBUDGETS, env.ns, resource_version=before,
                              field_selector="metadata.name=web", timeout_seconds=10)
    async with contextlib.aclosing(events):
        async for _, pdb in events:
            if victim in ((pdb.get("status") or {}).get("disruptedPods") or {}):
                break
        else:
            raise AssertionError(f"no status of the budget recorded {victim} as disrupted")
    # A running one: the Pending replacement (listed first when its name sorts first) may
    # go without asking, as Kubernetes lets it.
    others = [p["metadata"]["name"] for p in await env.web_pods()
              if p["metadata"]["name"] != victim and p["spec"].get("nodeName")]
    with pytest.raises(TooManyRequests):  # the one disruption is taken
        await env.evict(others[0])


async def test_kubectl_drain_waits_for_the_budget_then_proceeds(env: Env) -> None:
    await env.client.create(DAEMONSETS, {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {
            "metadata": {"labels": {"app": "agent"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}, env.ns)
    await env.client.create(REPLICASETS, replicaset(2), env.ns)
    await env.client.create(PODDISRUPTIONBUDGETS, budget(2), env.ns)
    await eventually(lambda: env.allows(0, 2), what="budget: nothing allowed")
    node = (await env.web_pods())[0]["spec"]["nodeName"]
    drain = asyncio.create_task(asyncio.to_thread(
        env.kubectl, "drain", node, "--ignore-daemonsets", "--timeout=90s",
        "--grace-period=1"))
    cordoned = await eventually(
        lambda: _unschedulable(env.client, node), what=f"{node} cordoned by drain")
    assert cordoned
    await asyncio.sleep(3)
    assert not drain.done()  # blocked on the budget
    assert node in {p["spec"]["nodeName"] for p in await env.web_pods()}
    await env.client.patch(REPLICASETS, "web", {"spec": {"replicas": 3}}, env.ns)
    done = await drain
    assert done.returncode == 0, done.stderr + done.stdout
    assert "evicting pod" in done.stdout + done.stderr and f"node/{node} drained" in done.stdout
    pods = (await env.client.list(PODS, env.ns))["items"]
    left = {p["metadata"]["labels"]["app"] for p in pods if p["spec"].get("nodeName") == node
            and not p["metadata"].get("deletionTimestamp")}
    assert left == {"agent"}  # the daemon pod stays (--ignore-daemonsets)
    undone = env.kubectl("uncordon", node)
    assert undone.returncode == 0, undone.stderr
    assert not await _unschedulable(env.client, node)


async def _unschedulable(client: ApiClient, node: str) -> bool:
    return bool(((await client.get(NODES, node)).get("spec") or {}).get("unschedulable"))
