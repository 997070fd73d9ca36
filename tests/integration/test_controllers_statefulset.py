"""StatefulSet controller against a real api-server, scheduler and hollow nodes:
scaling 0 -> 3 -> 1 creates and removes pods strictly in ordinal order,
identities are stable, and kubectl scale / rollout status / history / undo /
restart work for `sts`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from minikube_py.api.resources import PODS, STATEFULSETS
from minikube_py.client import Informer
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.controlplane import ClusterEnv
from tests.helpers import eventually


def statefulset(name: str, replicas: int, image: str = "busybox:1") -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "serviceName": name,
                     "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


class Env(ClusterEnv):
    async def members(self, name: str) -> dict[str, dict[str, Any]]:
        pods = (await self.client.list(PODS, self.ns, label_selector=f"app={name}"))["items"]
        return {p["metadata"]["name"]: p for p in pods
                if not p["metadata"].get("deletionTimestamp")}

    async def ready(self, name: str, replicas: int, image: str = "busybox:1") -> bool:
        sts = await self.client.get(STATEFULSETS, name, self.ns)
        status = sts.get("status") or {}
        members = await self.members(name)
        return (sorted(members) == [f"{name}-{i}" for i in range(replicas)]
                and all(p["spec"]["containers"][0]["image"] == image for p in members.values())
                and status.get("readyReplicas", 0) == replicas
                and status.get("replicas", 0) == replicas
                and status.get("observedGeneration") == sts["metadata"]["generation"]
                and status.get("currentRevision") == status.get("updateRevision"))


@pytest.fixture
async def env(apiserver: ApiServer) -> AsyncIterator[Env]:
    async with Env.running(apiserver.kubeconfig, "sts", ("statefulset", "garbagecollector"),
                           nodes=2) as env:
        yield env


async def test_scales_0_3_1_in_order(env: Env) -> None:
    events: list[tuple[str, str]] = []  # (what, pod) in the order the API saw them
    watcher = Informer(env.client, PODS, env.ns, label_selector="app=db")
    watcher.add_handlers(lambda p: events.append(("add", p["metadata"]["name"])),
                         lambda old, new: events.append(("delete", new["metadata"]["name"]))
                         if new["metadata"].get("deletionTimestamp")
                         and not old["metadata"].get("deletionTimestamp") else None)
    task = asyncio.create_task(watcher.run())
    try:
        await watcher.wait_synced()
        await env.client.create(STATEFULSETS, statefulset("db", 0), env.ns)
        scaled = env.kubectl("scale", "sts/db", "--replicas=3")
        assert scaled.returncode == 0, scaled.stderr
        await eventually(lambda: env.ready("db", 3), timeout=60, what="db scaled to 3")
        members = await env.members("db")
        pod = members["db-1"]
        assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == ("db-1", "db")
        await env.client.patch(STATEFULSETS, "db", {"spec": {"replicas": 1}}, env.ns)
        await eventually(lambda: env.ready("db", 1), timeout=60, what="db scaled to 1")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [e for e in events if e[0] == "add"] == [("add", f"db-{i}") for i in range(3)]
    assert [e for e in events if e[0] == "delete"] == [("delete", "db-2"), ("delete", "db-1")]


async def test_rolling_update_and_kubectl_rollout(env: Env) -> None:
    await env.client.create(STATEFULSETS, statefulset("web", 3), env.ns)
    await eventually(lambda: env.ready("web", 3), timeout=60, what="web ready")
    done = env.kubectl("set", "image", "sts/web", "c=busybox:2")
    assert done.returncode == 0, done.stderr
    status = await asyncio.to_thread(env.kubectl, "rollout", "status", "sts/web",
                                     "--timeout=90s")
    assert status.returncode == 0, status.stderr + status.stdout
    await eventually(lambda: env.ready("web", 3, "busybox:2"), timeout=60, what="updated")
    listed = env.kubectl("rollout", "history", "sts/web")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()[2:] if line.strip()] \
        == ["1", "2"]
    undone = env.kubectl("rollout", "undo", "sts/web")
    assert undone.returncode == 0, undone.stderr
    await eventually(lambda: env.ready("web", 3, "busybox:1"), timeout=60, what="undone")
    restarted = env.kubectl("rollout", "restart", "sts/web")
    assert restarted.returncode == 0, restarted.stderr

    async def restarted_everywhere() -> bool:
        members = await env.members("web")
        return len(members) == 3 and all(
            "kubectl.kubernetes.io/restartedAt" in (p["metadata"].get("annotations") or {})
            for p in members.values()) and await env.ready("web", 3, "busybox:1")

    await eventually(restarted_everywhere, timeout=60, what="restart rolled out")


async def test_required_anti_affinity_puts_each_replica_on_its_own_node(env: Env) -> None:
    """Two nodes, three replicas that refuse to share a host: two run apart, the third
    waits with the scheduler's reason, and scaling down to two settles it."""
    body = statefulset("spread", 3)
    body["spec"]["template"]["spec"]["affinity"] = {"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": {"app": "spread"}},
            "topologyKey": "kubernetes.io/hostname"}]}}
    await env.client.create(STATEFULSETS, body, env.ns)

    async def third_waits() -> str | None:
        members = await env.members("spread")
        pod = members.get("spread-2")
        if pod is None or len(members) != 3:
            return None
        for cond in (pod.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                return str(cond.get("message"))
        return None

    message = await eventually(third_waits, timeout=60, what="spread-2 unschedulable")
    assert message == ("0/2 nodes are available: "
                       "2 node(s) didn't match pod anti-affinity rules.")
    members = await env.members("spread")
    placed = {members[f"spread-{i}"]["spec"].get("nodeName") for i in range(2)}
    assert len(placed) == 2 and None not in placed
    await env.client.patch(STATEFULSETS, "spread", {"spec": {"replicas": 2}}, env.ns)
    await eventually(lambda: env.ready("spread", 2), timeout=60, what="spread settled at 2")
