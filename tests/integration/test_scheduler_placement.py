"""The scheduler against a real api-server + etcd with hollow nodes: placement
honours requests, selectors, affinity and taints; a pod that fits nowhere gets
Kubernetes' message and is placed once a node that fits appears."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from agent.hollow import HollowNodes
from minikube_py.api.resources import EVENTS, PODS
from minikube_py.client import ApiClient
from minikube_py.controllers.settings import ControllerManagerSettings
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.controlplane import ControlPlane
from tests.helpers import eventually, scratch_namespace

NO_CONTROLLERS = ControllerManagerSettings(leader_election=None, controllers=())


class Env:
    def __init__(self, client: ApiClient, nodes: HollowNodes, namespace: str) -> None:
        self.client, self.nodes, self.namespace = client, nodes, namespace

    async def pod(self, name: str, *, cpu: str | None = None, **spec: object) -> dict[str, Any]:
        resources = {"requests": {"cpu": cpu}} if cpu else {}
        body = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": self.namespace},
                "spec": {"containers": [{"name": "c", "image": "busybox",
                                         "resources": resources}], **spec}}
        return await self.client.create(PODS, body, self.namespace)

    async def wait_for(
            self, name: str, ok: Callable[[dict[str, Any]], bool], timeout: float = 20
        ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            pod = await self.client.get(PODS, name, self.namespace)
            if ok(pod):
                return pod
            if time.monotonic() > deadline:
                raise AssertionError(f"pod {name} never got there: {pod.get('status')}")
            await asyncio.sleep(0.1)

    async def event(self, ok: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first Event `ok` accepts, once there is one: the scheduler writes its
        Events after the fact, through one writer (scheduler/eventsink.py)."""
        async def found() -> dict[str, Any] | None:
            items = (await self.client.list(EVENTS, self.namespace))["items"]
            return next((e for e in items if ok(e)), None)
        event: dict[str, Any] = await eventually(found, timeout=20, what="the Event")
        return event


def bound(pod: dict[str, Any]) -> bool:
    return bool(pod["spec"].get("nodeName"))


@pytest.fixture
async def env(apiserver: ApiServer) -> AsyncIterator[Env]:
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client, \
            scratch_namespace(client, "sched") as namespace, \
            ControlPlane(client, NO_CONTROLLERS) as cp:
        yield Env(client, cp.nodes, namespace)


async def test_placement_honours_requests_selectors_affinity_and_taints(env: Env) -> None:
    small = await env.nodes.add("small", cpu="1")
    big = await env.nodes.add("big", cpu="4", labels={"disk": "ssd"})
    tainted = await env.nodes.add("tainted", cpu="8", taints=[
        {"key": "dedicated", "value": "db", "effect": "NoSchedule"}])
    not_on = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{
        "matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "NotIn",
                              "values": [small, big]}]}]}}
    await env.pod("needs-2-cpu", cpu="2")
    await env.pod("wants-ssd", nodeSelector={"disk": "ssd"})
    await env.pod("tolerates", affinity={"nodeAffinity": not_on}, tolerations=[
        {"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}])
    placed = {name: (await env.wait_for(name, bound))["spec"]["nodeName"]
              for name in ("needs-2-cpu", "wants-ssd", "tolerates")}
    assert placed == {"needs-2-cpu": big, "wants-ssd": big, "tolerates": tainted}
    # the hollow node runs it; the scheduler reported the binding
    await env.wait_for("wants-ssd", lambda p: p["status"].get("phase") == "Running")
    await env.event(lambda e: e["reason"] == "Scheduled"
                    and e["involvedObject"]["name"] == "wants-ssd" and big in e["message"])


async def test_unschedulable_message_then_placed_when_a_node_fits(env: Env) -> None:
    await env.nodes.add("a1", cpu="1", labels={"zone": "a"})
    await env.nodes.add("a2", cpu="1", labels={"zone": "a"})
    await env.nodes.add("b", cpu="4", labels={"zone": "b"})
    await env.pod("picky", cpu="2", nodeSelector={"zone": "a"})
    expected = ("0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
                "2 Insufficient cpu.")

    def unschedulable(pod: dict[str, Any]) -> bool:
        return any(c["type"] == "PodScheduled" and c["status"] == "False"
                   and c.get("reason") == "Unschedulable" and c.get("message") == expected
                   for c in pod["status"].get("conditions") or [])

    await env.wait_for("picky", unschedulable)
    await env.event(lambda e: e["reason"] == "FailedScheduling" and e["message"] == expected
                    and e["type"] == "Warning")
    roomy = await env.nodes.add("a3", cpu="4", labels={"zone": "a"})
    pod = await env.wait_for("picky", bound)  # retried on the node event, long before 60 s
    assert pod["spec"]["nodeName"] == roomy


async def test_assumed_pods_count_so_a_burst_never_overcommits(env: Env) -> None:
    names = [await env.nodes.add(f"n{i}", cpu="1") for i in range(3)]
    await asyncio.gather(*(env.pod(f"burst-{i}", cpu="600m") for i in range(5)))
    await asyncio.sleep(0)
    # Unschedulable only counts once the scheduler weighed all three nodes: under load its
    # node informer may lag the pods', and "0/0 nodes" is not the overcommit this is about.
    pods = [await env.wait_for(f"burst-{i}", lambda p: bound(p) or unschedulable_on(p, 3))
            for i in range(5)]
    placed = [p["spec"].get("nodeName") for p in pods if bound(p)]
    assert sorted(placed) == sorted(names)  # one per node: 2 x 600m > 1 cpu


def unschedulable_on(pod: dict[str, Any], nodes: int) -> bool:
    return any(c["type"] == "PodScheduled" and c["status"] == "False"
               and c.get("message", "").startswith(f"0/{nodes} nodes are available")
               for c in pod["status"].get("conditions") or [])
