"""The garbage collector and custom kinds, against a real api-server: a CRD defined after
the collector started is followed, custom objects own built-in ones and are owned by
them (a reference may name any served version), and a custom owner deleted in the
foreground waits for its dependents."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from minikube_py.api.customresourcedefinition import resources_of
from minikube_py.api.resources import CONFIGMAPS, CUSTOMRESOURCEDEFINITIONS, Resource
from minikube_py.client import ApiClient
from minikube_py.client.errors import ClientError, NotFound
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.controlplane import ClusterEnv
from tests.helpers import eventually


def gadget_crd(group: str) -> dict[str, Any]:
    schema = {"openAPIV3Schema": {"type": "object",
                                  "x-kubernetes-preserve-unknown-fields": True}}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"gadgets.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                     "versions": [
                         {"name": "v1", "served": True, "storage": True, "schema": schema},
                         {"name": "v1beta1", "served": True, "storage": False,
                          "schema": schema}]}}


@dataclass
class Env:
    client: ApiClient
    ns: str
    gadgets: Resource

    def ref(self, obj: dict[str, Any], api_version: str | None = None) -> dict[str, Any]:
        return {"apiVersion": api_version or obj["apiVersion"], "kind": obj["kind"],
                "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"]}

    async def gadget(self, name: str, owners: list[dict[str, Any]] | None = None
                     ) -> dict[str, Any]:
        return await self.client.create(self.gadgets, {
            "apiVersion": self.gadgets.api_version, "kind": "Gadget",
            "metadata": {"name": name, "ownerReferences": owners or []}}, self.ns)

    async def configmap(self, name: str, owners: list[dict[str, Any]] | None = None
                        ) -> dict[str, Any]:
        return await self.client.create(CONFIGMAPS, {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "ownerReferences": owners or []}}, self.ns)

    async def collector_has_seen_configmaps(self) -> None:
        """Return once the collector's ConfigMap cache holds every ConfigMap made so far: it
        collects a later one whose owner never existed, and one watch delivers in order.
        (A foreground owner with no dependent in the cache loses its finalizer at once, as
        in Kubernetes, whose collector also decides from its informers.)"""
        probe = f"probe-{uuid.uuid4().hex[:6]}"
        await self.configmap(probe, [{"apiVersion": "v1", "kind": "ConfigMap", "name": "never",
                                      "uid": str(uuid.uuid4())}])
        await eventually(lambda: self.gone(CONFIGMAPS, probe), what="the probe collected")

    async def gone(self, resource: Resource, name: str) -> bool:
        try:
            await self.client.get(resource, name, self.ns)
        except NotFound:
            return True
        return False


@pytest.fixture
async def env(apiserver: ApiServer) -> AsyncIterator[Env]:
    group = f"gc{uuid.uuid4().hex[:6]}.example.com"
    crd = gadget_crd(group)
    async with ClusterEnv.running(apiserver.kubeconfig, "gcc", ("garbagecollector",),
                                  nodes=0) as cluster:
        await cluster.client.create(CUSTOMRESOURCEDEFINITIONS, crd)
        try:
            gadgets = resources_of(crd)[0]

            async def served() -> bool:
                try:
                    await cluster.client.list(gadgets, cluster.ns)
                except ClientError:
                    return False
                return True
            await eventually(served, timeout=10, what="the Gadget kind served")
            yield Env(cluster.client, cluster.ns, gadgets)
        finally:
            await cluster.client.delete(CUSTOMRESOURCEDEFINITIONS, crd["metadata"]["name"])


async def test_custom_owners_and_custom_dependents_are_collected(env: Env) -> None:
    owner = await env.gadget("owner")
    # A reference may name any served version of the kind, not only the followed one.
    beta = env.ref(owner, api_version=owner["apiVersion"].replace("/v1", "/v1beta1"))
    await env.configmap("owned", [env.ref(owner)])
    await env.configmap("owned-beta", [beta])
    parent = await env.configmap("parent")
    await env.gadget("child", [env.ref(parent)])
    kept = await env.configmap("kept", [env.ref(parent)])
    await env.client.delete(env.gadgets, "owner", env.ns)
    await eventually(lambda: env.gone(CONFIGMAPS, "owned"), what="the Gadget's ConfigMap")
    await eventually(lambda: env.gone(CONFIGMAPS, "owned-beta"), what="the v1beta1 dependent")
    assert not await env.gone(env.gadgets, "child")  # its owner is still there
    await env.client.delete(CONFIGMAPS, "parent", env.ns)
    await eventually(lambda: env.gone(env.gadgets, "child"), what="the ConfigMap's Gadget")
    await eventually(lambda: env.gone(CONFIGMAPS, kept["metadata"]["name"]))


async def test_a_custom_owner_deleted_in_the_foreground_waits_for_its_dependents(
        env: Env) -> None:
    owner = await env.gadget("fg")
    await env.configmap("fg-dep", [{**env.ref(owner), "blockOwnerDeletion": True}])
    await env.collector_has_seen_configmaps()  # else it may find no dependent to wait for
    await env.client.delete(env.gadgets, "fg", env.ns, propagation_policy="Foreground")

    async def owner_gone_last() -> bool:
        if not await env.gone(env.gadgets, "fg"):
            return False
        assert await env.gone(CONFIGMAPS, "fg-dep")
        return True
    await eventually(owner_gone_last, what="the foreground deletion")
