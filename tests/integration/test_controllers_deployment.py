"""Deployment controller against a real api-server, scheduler and hollow nodes:
a rolling update of 10 stays within maxSurge/maxUnavailable at every moment,
kubectl rollout status/undo work, Recreate never overlaps, paused holds, the
progress deadline is reported, and old revisions are cleaned up."""

from __future__ import annotations

import asyncio
import functools
import os
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from minikube_py.api.resources import DEPLOYMENTS, PODS, REPLICASETS
from minikube_py.client import ApiClient, Informer
from minikube_py.controllers.pods import ready_since
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.builders import deployment
from tests.fixtures.controlplane import ControlPlane
from tests.helpers import eventually, scratch_namespace

REVISION = "deployment.kubernetes.io/revision"


class Env:
    def __init__(self, client: ApiClient, namespace: str, kubeconfig: str) -> None:
        self.client, self.ns, self.kubeconfig = client, namespace, kubeconfig

    async def set_image(self, name: str, image: str) -> None:
        await self.client.patch(DEPLOYMENTS, name, {"spec": {"template": {"spec": {
            "containers": [{"name": "c", "image": image}]}}}}, self.ns)

    async def rolled_out(self, name: str, image: str, replicas: int) -> bool:
        d = await self.client.get(DEPLOYMENTS, name, self.ns)
        status = d.get("status") or {}
        pods = await self.live_pods(name)
        return (status.get("observedGeneration") == d["metadata"]["generation"]
                and status.get("updatedReplicas") == replicas
                and status.get("availableReplicas") == replicas
                and status.get("replicas") == replicas
                and len(pods) == replicas
                and all(p["spec"]["containers"][0]["image"] == image for p in pods))

    async def live_pods(self, app: str) -> list[dict[str, Any]]:
        pods = (await self.client.list(PODS, self.ns, label_selector=f"app={app}"))["items"]
        return [p for p in pods if not p["metadata"].get("deletionTimestamp")]

    async def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = await asyncio.create_subprocess_exec(
            "kubectl", *args, "-n", self.ns, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "KUBECONFIG": self.kubeconfig})
        out, err = await proc.communicate()
        return subprocess.CompletedProcess(args, proc.returncode or 0, out.decode(),
                                           err.decode())


@pytest.fixture
async def env(apiserver: ApiServer) -> AsyncIterator[Env]:
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client, \
            scratch_namespace(client, "deploy") as namespace, ControlPlane(client) as cp:
        for i in range(3):
            await cp.nodes.add(f"n{i}", cpu="16", pods=200)
        yield Env(client, namespace, str(apiserver.kubeconfig))


def _ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


async def test_rolling_update_of_10_stays_within_surge_and_unavailable(env: Env) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "30%",
                                                           "maxUnavailable": 2}}
    await env.client.create(DEPLOYMENTS, deployment("web", env.ns, replicas=10, image="v1",
                                                    strategy=strategy), env.ns)
    await eventually(lambda: env.rolled_out("web", "v1", 10), timeout=60)
    seen = {"most": 0, "least_available": 10, "events": 0}
    watcher = Informer(env.client, PODS, env.ns, label_selector="app=web")

    def observe(*_: object) -> None:
        live = [p for p in watcher.list() if not p["metadata"].get("deletionTimestamp")]
        seen["most"] = max(seen["most"], len(live))
        seen["least_available"] = min(seen["least_available"], sum(map(_ready, live)))
        seen["events"] += 1

    task = asyncio.create_task(watcher.run())
    try:
        await watcher.wait_synced()  # handlers from here on: the initial list is not a moment
        watcher.add_handlers(observe, lambda old, new: observe(), observe)
        await env.set_image("web", "v2")
        status = await env.kubectl("rollout", "status", "deployment/web", "--timeout=60s")
        assert status.returncode == 0, status.stderr
        assert "successfully rolled out" in status.stdout
        await eventually(lambda: env.rolled_out("web", "v2", 10), timeout=60)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert seen["events"] > 20  # we did watch the whole rollout
    assert seen["most"] <= 13, seen  # replicas + maxSurge (30% of 10, rounded up)
    assert seen["least_available"] >= 8, seen  # replicas - maxUnavailable
    d = await env.client.get(DEPLOYMENTS, "web", env.ns)
    assert d["metadata"]["annotations"][REVISION] == "2"
    progressing = next(c for c in d["status"]["conditions"] if c["type"] == "Progressing")
    assert progressing["reason"] == "NewReplicaSetAvailable"
    available = next(c for c in d["status"]["conditions"] if c["type"] == "Available")
    assert available["status"] == "True"
    rss = (await env.client.list(REPLICASETS, env.ns))["items"]
    assert sorted((rs["metadata"]["annotations"][REVISION], rs["spec"]["replicas"])
                  for rs in rss) == [("1", 0), ("2", 10)]
    hashes = {rs["metadata"]["labels"]["pod-template-hash"] for rs in rss}
    assert len(hashes) == 2 and all(rs["metadata"]["name"].endswith(
        rs["metadata"]["labels"]["pod-template-hash"]) for rs in rss)


async def test_rollback_with_kubectl_rollout_undo(env: Env) -> None:
    await env.client.create(DEPLOYMENTS, deployment("app", env.ns, replicas=3, image="v1"),
                            env.ns)
    await eventually(lambda: env.rolled_out("app", "v1", 3), timeout=30)
    await env.set_image("app", "v2")
    await eventually(lambda: env.rolled_out("app", "v2", 3), timeout=30)
    undo = await env.kubectl("rollout", "undo", "deployment/app")
    assert undo.returncode == 0, undo.stderr
    await eventually(lambda: env.rolled_out("app", "v1", 3), timeout=30)
    d = await env.client.get(DEPLOYMENTS, "app", env.ns)
    assert d["metadata"]["annotations"][REVISION] == "3"
    rss = (await env.client.list(REPLICASETS, env.ns))["items"]
    assert len(rss) == 2  # the v1 ReplicaSet came back as revision 3, not a new one
    current = next(rs for rs in rss if rs["spec"]["replicas"] == 3)
    assert current["spec"]["template"]["spec"]["containers"][0]["image"] == "v1"
    assert current["metadata"]["annotations"][REVISION] == "3"


async def test_recreate_never_runs_old_and_new_together(env: Env) -> None:
    await env.client.create(DEPLOYMENTS, deployment("db", env.ns, replicas=3, image="v1",
                                                    strategy={"type": "Recreate"}), env.ns)
    await eventually(lambda: env.rolled_out("db", "v1", 3), timeout=30)
    mixed = []
    watcher = Informer(env.client, PODS, env.ns, label_selector="app=db")

    def observe(*_: object) -> None:
        images = {p["spec"]["containers"][0]["image"] for p in watcher.list()
                  if not p["metadata"].get("deletionTimestamp")}
        if len(images) > 1:
            mixed.append(images)

    watcher.add_handlers(observe, lambda old, new: observe(), observe)
    task = asyncio.create_task(watcher.run())
    try:
        await watcher.wait_synced()
        await env.set_image("db", "v2")
        await eventually(lambda: env.rolled_out("db", "v2", 3), timeout=30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert not mixed


async def test_paused_holds_the_rollout_until_resumed(env: Env) -> None:
    await env.client.create(DEPLOYMENTS, deployment("held", env.ns, replicas=2, image="v1"),
                            env.ns)
    await eventually(lambda: env.rolled_out("held", "v1", 2), timeout=30)
    await env.client.patch(DEPLOYMENTS, "held", {"spec": {"paused": True}}, env.ns)
    await env.set_image("held", "v2")

    async def paused_reported() -> bool:
        d = await env.client.get(DEPLOYMENTS, "held", env.ns)
        return any(c["type"] == "Progressing" and c["reason"] == "DeploymentPaused"
                   for c in d["status"].get("conditions", []))

    await eventually(paused_reported)
    assert len((await env.client.list(REPLICASETS, env.ns))["items"]) == 1
    await env.client.patch(DEPLOYMENTS, "held", {"spec": {"paused": False}}, env.ns)
    await eventually(lambda: env.rolled_out("held", "v2", 2), timeout=30)


async def test_progress_deadline_exceeded_is_reported(env: Env) -> None:
    stuck = deployment("stuck", env.ns, replicas=2, image="v1",
                       spec={"progressDeadlineSeconds": 2})
    stuck["spec"]["template"]["spec"]["nodeSelector"] = {"no-such": "node"}
    await env.client.create(DEPLOYMENTS, stuck, env.ns)

    async def timed_out() -> bool:
        d = await env.client.get(DEPLOYMENTS, "stuck", env.ns)
        return any(c["type"] == "Progressing" and c["status"] == "False"
                   and c["reason"] == "ProgressDeadlineExceeded"
                   for c in (d.get("status") or {}).get("conditions", []))

    await eventually(timed_out, timeout=20)
    status = await env.kubectl("rollout", "status", "deployment/stuck", "--timeout=10s")
    assert status.returncode != 0 and "exceeded its progress deadline" in status.stderr


async def test_revision_history_limit_cleans_old_replicasets(env: Env) -> None:
    await env.client.create(DEPLOYMENTS, deployment("hist", env.ns, replicas=1, image="v1",
                                                    spec={"revisionHistoryLimit": 1}),
                            env.ns)
    for image in ("v1", "v2", "v3", "v4"):
        if image != "v1":
            await env.set_image("hist", image)
        await eventually(functools.partial(env.rolled_out, "hist", image, 1), timeout=30)

    async def two_left() -> list[str] | None:
        rss = (await env.client.list(REPLICASETS, env.ns))["items"]
        revisions = sorted(rs["metadata"]["annotations"][REVISION] for rs in rss)
        return revisions if revisions == ["3", "4"] else None

    await eventually(two_left)


async def test_min_ready_seconds_delays_availability(env: Env) -> None:
    await env.client.create(DEPLOYMENTS, deployment("slow", env.ns, replicas=2, image="v1",
                                                    min_ready_seconds=3), env.ns)

    answered = 0.0

    async def status() -> dict[str, Any]:
        nonlocal answered
        got = (await env.client.get(DEPLOYMENTS, "slow", env.ns)).get("status") or {}
        answered = time.time()
        return got

    ready = await eventually(lambda: _when(status(), lambda s: s.get("readyReplicas") == 2))
    pods = (await env.client.list(PODS, env.ns, label_selector="app=slow"))["items"]
    # When both were Ready, as the controllers count it (whole seconds): the status comes
    # through two controllers, under load more than a second after that.
    since = max(ready_since(p) for p in pods)
    if answered < since + 3:
        assert ready.get("availableReplicas", 0) == 0  # ready, but not for 3 s yet
    await eventually(lambda: _when(status(), lambda s: s.get("availableReplicas") == 2))
    assert answered >= since + 3


async def _when(value: Awaitable[dict[str, Any]], ok: Callable[[dict[str, Any]], bool]
                ) -> dict[str, Any] | None:
    result = await value
    return result if ok(result) else None


async def test_deprecated_rollback_request(env: Env) -> None:
    await env.client.create(DEPLOYMENTS, deployment("old", env.ns, replicas=1, image="v1"),
                            env.ns)
    await eventually(lambda: env.rolled_out("old", "v1", 1), timeout=30)
    await env.set_image("old", "v2")
    await eventually(lambda: env.rolled_out("old", "v2", 1), timeout=30)
    await env.client.patch(DEPLOYMENTS, "old", {"metadata": {"annotations": {
        "deprecated.deployment.rollback.to": "0"}}}, env.ns)
    await eventually(lambda: env.rolled_out("old", "v1", 1), timeout=30)
    d = await env.client.get(DEPLOYMENTS, "old", env.ns)
    assert "deprecated.deployment.rollback.to" not in d["metadata"]["annotations"]
    assert d["metadata"]["annotations"][REVISION] == "3"
