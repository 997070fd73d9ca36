"""ReplicaSet controller against a real api-server, scheduler and hollow nodes:
replaces deleted pods, never overshoots under 50 concurrent deletions, adopts
and releases by labels, reports status."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from minikube_py.api.resources import EVENTS, PODS, REPLICASETS
from minikube_py.client import ApiClient, Informer
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.builders import replicaset
from tests.fixtures.controlplane import ControlPlane
from tests.helpers import eventually, scratch_namespace


@pytest.fixture
async def env(apiserver: ApiServer) -> AsyncIterator[tuple[ApiClient, ControlPlane, str]]:
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client, \
            scratch_namespace(client, "rs") as namespace, ControlPlane(client) as cp:
        for i in range(3):
            await cp.nodes.add(f"n{i}", cpu="8", pods=200)
        yield client, cp, namespace


async def active_pods(client: ApiClient, namespace: str, app: str) -> list[dict[str, Any]]:
    pods = (await client.list(PODS, namespace, label_selector=f"app={app}"))["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


async def test_replaces_deleted_pods_and_reports_status(
        env: tuple[ApiClient, ControlPlane, str]) -> None:
    client, _, ns = env
    await client.create(REPLICASETS, replicaset("web", ns, replicas=3), ns)

    async def status_ready() -> dict[str, Any] | None:
        rs = await client.get(REPLICASETS, "web", ns)
        status = rs.get("status") or {}
        done = (status.get("readyReplicas") == 3 and status.get("availableReplicas") == 3
                and status.get("fullyLabeledReplicas") == 3
                and status.get("observedGeneration") == rs["metadata"]["generation"])
        return rs if done else None

    await eventually(status_ready)
    pods = await active_pods(client, ns, "web")
    assert len(pods) == 3
    assert all(p["metadata"]["ownerReferences"][0]["name"] == "web" for p in pods)
    await client.delete(PODS, pods[0]["metadata"]["name"], ns)

    async def replaced() -> bool:
        now = await active_pods(client, ns, "web")
        names = {p["metadata"]["name"] for p in now}
        return len(now) == 3 and pods[0]["metadata"]["name"] not in names

    await eventually(replaced)
    events = (await client.list(EVENTS, ns))["items"]
    reasons = {e["reason"] for e in events if e["involvedObject"]["name"] == "web"}
    assert {"SuccessfulCreate"} <= reasons


async def test_never_overshoots_under_50_concurrent_deletions(
        env: tuple[ApiClient, ControlPlane, str]) -> None:
    client, _, ns = env
    await client.create(REPLICASETS, replicaset("burst", ns, replicas=50), ns)
    await eventually(lambda: _count_is(client, ns, "burst", 50), timeout=60)
    most = 0
    watcher = Informer(client, PODS, ns, label_selector="app=burst")

    def observe(*_: object) -> None:
        nonlocal most
        live = [p for p in watcher.list() if not p["metadata"].get("deletionTimestamp")]
        most = max(most, len(live))

    watcher.add_handlers(observe, lambda old, new: observe(), observe)
    watch_task = asyncio.create_task(watcher.run())
    try:
        await watcher.wait_synced()
        victims = await active_pods(client, ns, "burst")
        await asyncio.gather(*(client.delete(PODS, p["metadata"]["name"], ns)
                               for p in victims))
        await eventually(lambda: _count_is(client, ns, "burst", 50), timeout=60)
        await asyncio.sleep(1.0)  # a late overshoot would show up here
        assert len(await active_pods(client, ns, "burst")) == 50
        assert most <= 50
    finally:
        watch_task.cancel()
        await asyncio.gather(watch_task, return_exceptions=True)


async def _count_is(client: ApiClient, ns: str, app: str, n: int) -> bool:
    return len(await active_pods(client, ns, app)) == n


async def test_adopts_orphans_and_releases_relabelled_pods(
        env: tuple[ApiClient, ControlPlane, str]) -> None:
    client, _, ns = env
    orphan = {"apiVersion": "v1", "kind": "Pod",
              "metadata": {"name": "orphan", "labels": {"app": "adopt"}},
              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    await client.create(PODS, orphan, ns)
    await client.create(REPLICASETS, replicaset("adopter", ns, replicas=2,
                                                selector={"app": "adopt"}), ns)

    async def adopted() -> bool:
        pod = await client.get(PODS, "orphan", ns)
        refs = pod["metadata"].get("ownerReferences") or []
        return bool(refs) and refs[0]["name"] == "adopter" and await _count_is(
            client, ns, "adopt", 2)

    await eventually(adopted)
    await client.patch(PODS, "orphan", {"metadata": {"labels": {"app": "elsewhere"}}}, ns)

    async def released() -> bool:
        pod = await client.get(PODS, "orphan", ns)
        return not pod["metadata"].get("ownerReferences") and await _count_is(
            client, ns, "adopt", 2)

    await eventually(released)
