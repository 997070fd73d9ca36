"""Garbage collection and namespace deletion against a real api-server: each
propagation policy, dangling owners, and a deleted namespace emptied then
removed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from minikube_py.api.resources import (
    CONFIGMAPS,
    DEPLOYMENTS,
    NAMESPACES,
    PODS,
    REPLICASETS,
    Resource,
)
from minikube_py.client import ApiClient
from minikube_py.client.errors import NotFound
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.builders import deployment
from tests.fixtures.controlplane import ControlPlane
from tests.helpers import eventually, scratch_namespace


class Env:
    def __init__(self, client: ApiClient, namespace: str) -> None:
        self.client, self.ns = client, namespace

    async def gone(self, resource: Resource, name: str) -> bool:
        try:
            await self.client.get(resource, name, self.ns)
        except NotFound:
            return True
        return False

    async def delete_deployment(self, name: str, policy: str) -> None:
        await self.client.delete(DEPLOYMENTS, name, self.ns,
                                 propagation_policy=policy)

    async def count(self, resource: Resource, selector: str) -> int:
        items = (await self.client.list(resource, self.ns, label_selector=selector))["items"]
        return len(items)

    async def running_deployment(self, name: str, replicas: int) -> None:
        body = deployment(name, self.ns, replicas=replicas, image="v1")
        await self.client.create(DEPLOYMENTS, body, self.ns)

        async def up() -> bool:
            return await self.count(PODS, f"app={name}") == replicas

        await eventually(up, timeout=30)


@pytest.fixture
async def env(apiserver: ApiServer) -> AsyncIterator[Env]:
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client, \
            scratch_namespace(client, "gc") as namespace, ControlPlane(client) as cp:
        await cp.nodes.add("n0", cpu="16", pods=200)
        yield Env(client, namespace)


async def test_background_deletes_dependents_after_the_owner(env: Env) -> None:
    await env.running_deployment("bg", 2)
    await env.delete_deployment("bg", "Background")
    assert await env.gone(DEPLOYMENTS, "bg")  # the owner goes at once

    async def all_gone() -> bool:
        return (await env.count(REPLICASETS, "app=bg") == 0
                and await env.count(PODS, "app=bg") == 0)

    await eventually(all_gone)


async def test_foreground_deletes_dependents_before_the_owner(env: Env) -> None:
    await env.running_deployment("fg", 2)
    await env.delete_deployment("fg", "Foreground")
    d = await env.client.get(DEPLOYMENTS, "fg", env.ns)  # still there, waiting
    assert d["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in d["metadata"]["finalizers"]

    async def owner_gone_last() -> bool:
        if not await env.gone(DEPLOYMENTS, "fg"):
            return False
        assert await env.count(REPLICASETS, "app=fg") == 0
        assert await env.count(PODS, "app=fg") == 0
        return True

    await eventually(owner_gone_last)


async def test_orphan_keeps_dependents_without_the_owner_reference(env: Env) -> None:
    await env.running_deployment("orph", 2)
    await env.delete_deployment("orph", "Orphan")
    await eventually(lambda: env.gone(DEPLOYMENTS, "orph"))
    rss = (await env.client.list(REPLICASETS, env.ns, label_selector="app=orph"))["items"]
    assert len(rss) == 1 and not rss[0]["metadata"].get("ownerReferences")
    assert await env.count(PODS, "app=orph") == 2  # the orphaned ReplicaSet keeps its pods


async def test_dependent_of_a_vanished_owner_is_collected(env: Env) -> None:
    owner = await env.client.create(CONFIGMAPS, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}, env.ns)
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
           "uid": owner["metadata"]["uid"]}
    ghost = {**ref, "name": "ghost", "uid": str(uuid.uuid4())}
    for name, refs in (("kept", [ref]), ("dangling", [ghost]), ("mixed", [ref, ghost])):
        await env.client.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                             "metadata": {"name": name,
                                                          "ownerReferences": refs}}, env.ns)
    await eventually(lambda: env.gone(CONFIGMAPS, "dangling"))

    async def mixed_trimmed() -> bool:
        cm = await env.client.get(CONFIGMAPS, "mixed", env.ns)
        return [r["name"] for r in cm["metadata"]["ownerReferences"]] == ["owner"]

    await eventually(mixed_trimmed)
    assert not await env.gone(CONFIGMAPS, "kept")


@pytest.mark.parametrize("policy", [None, "Background", "Foreground", "Orphan"])
async def test_namespace_deletion_empties_it_then_removes_it(env: Env, policy: str | None
                                                             ) -> None:
    ns = f"doomed-{uuid.uuid4().hex[:6]}"
    await env.client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": ns}})
    doomed = Env(env.client, ns)
    await doomed.running_deployment("web", 2)
    await env.client.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                         "metadata": {"name": "cfg"}}, ns)
    await env.client.delete(NAMESPACES, ns, propagation_policy=policy)
    terminating = await env.client.get(NAMESPACES, ns)
    assert terminating["status"]["phase"] == "Terminating"

    async def removed() -> bool:
        try:
            await env.client.get(NAMESPACES, ns)
        except NotFound:
            return True
        return False

    await eventually(removed, timeout=30)
    for resource in (PODS, REPLICASETS, DEPLOYMENTS, CONFIGMAPS):
        assert (await env.client.list(resource, ns))["items"] == []
