"""The Node authorizer's graph: which node each pod is bound to, and what it uses.

kube-apiserver's Node authorizer decides from a graph its informers keep, not from etcd
reads on each kubelet request; every kubelet GETs its pods' Secrets and claims and
writes their status, so reading (and decoding) a namespace's pods per request grows
with the cluster. This graph follows pods (following.follow) and answers "is this pod
bound to that node" and "does a pod on that node use this Secret, ConfigMap, claim or
service account" from memory. It may lag a write by the time its watch event takes: the
authorizer allows from the graph and confirms a refusal with etcd (authz.py), so a
pod bound a moment ago is never refused. It follows nodes too, for their podCIDR
(NodeRestriction checks every pod address a kubelet reports against it). Unscheduled
pods are kept too (they let no node read anything): the token authenticator and
TokenRequest ask it whether a pod still exists with a given uid (credential_index.py).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from minikube_py.api.resources import NODES, PODS
from minikube_py.api.types import Object
from minikube_py.apiserver.following import follow
from minikube_py.apiserver.objects import ObjectStore
from minikube_py.store import WatchHub


def _refs(spec: dict[str, Any], kind: str, name_key: str) -> set[str]:
    """Names of the `kind` ("secret", "configMap") objects a pod spec uses: volumes
    (projected too; `name_key` names them in a volume), env and envFrom."""
    names = set()
    for volume in spec.get("volumes") or []:
        names.add((volume.get(kind) or {}).get(name_key))
        for source in (volume.get("projected") or {}).get("sources") or []:
            names.add((source.get(kind) or {}).get("name"))
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        names.update((ref.get(f"{kind}Ref") or {}).get("name")
                     for ref in container.get("envFrom") or [])
        names.update(((env.get("valueFrom") or {}).get(f"{kind}KeyRef") or {}).get("name")
                     for env in container.get("env") or [])
    return {n for n in names if isinstance(n, str)}


def secret_refs(spec: dict[str, Any]) -> set[str]:
    """Names of the Secrets a pod spec uses: volumes (projected too), env, envFrom and
    image pull secrets."""
    pulls = {ref.get("name") for ref in spec.get("imagePullSecrets") or []}
    return _refs(spec, "secret", "secretName") | {n for n in pulls if isinstance(n, str)}


def configmap_refs(spec: dict[str, Any]) -> set[str]:
    """Names of the ConfigMaps a pod spec uses: volumes (projected too: the service
    account's kube-root-ca.crt), env and envFrom."""
    return _refs(spec, "configMap", "name")


def claim_refs(spec: dict[str, Any]) -> set[str]:
    """Names of the PersistentVolumeClaims a pod spec mounts."""
    return {name for v in spec.get("volumes") or []
            if isinstance(name := (v.get("persistentVolumeClaim") or {}).get("claimName"), str)}


@dataclass(frozen=True, slots=True)
class PodUses:
    """Who one pod is (uid, account) and, once bound to a node, what it lets that node
    read."""

    node: str
    secrets: frozenset[str]
    configmaps: frozenset[str]
    claims: frozenset[str]
    account: str
    uid: str

    @classmethod
    def of(cls, pod: Object) -> PodUses:
        spec = pod.get("spec") or {}
        return cls(str(spec.get("nodeName") or ""), frozenset(secret_refs(spec)),
                   frozenset(configmap_refs(spec)), frozenset(claim_refs(spec)),
                   str(spec.get("serviceAccountName") or "default"),
                   str((pod.get("metadata") or {}).get("uid") or ""))


class NodeGraph:
    """(namespace, pod) -> what it uses, (namespace, node) -> its pods there, and
    node -> its podCIDR."""

    def __init__(self, store: ObjectStore, hub: WatchHub) -> None:
        self.store = store
        self.hub = hub
        self.pods: dict[tuple[str, str], PodUses] = {}
        self.on_node: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
        self.pod_cidrs: dict[str, str] = {}

    async def run(self) -> None:
        await asyncio.gather(
            follow(self.store, self.hub, PODS, listed=self._listed, changed=self._changed),
            follow(self.store, self.hub, NODES, listed=self._nodes_listed,
                   changed=self._node_changed))

    async def _nodes_listed(self, nodes: list[Object]) -> None:
        self.pod_cidrs.clear()
        for node in nodes:
            await self._node_changed("PUT", node)

    async def _node_changed(self, change: str, node: Object) -> None:
        name = str((node.get("metadata") or {}).get("name") or "")
        cidr = (node.get("spec") or {}).get("podCIDR")
        if change == "DELETE" or not isinstance(cidr, str):
            self.pod_cidrs.pop(name, None)
        else:
            self.pod_cidrs[name] = cidr

    async def _listed(self, pods: list[Object]) -> None:
        self.pods.clear()
        self.on_node.clear()
        for pod in pods:
            self._put(pod)

    async def _changed(self, change: str, pod: Object) -> None:
        if change == "DELETE":
            self._forget(pod)
        else:
            self._put(pod)

    @staticmethod
    def _key(pod: Object) -> tuple[str, str]:
        meta = pod.get("metadata") or {}
        return str(meta.get("namespace") or ""), str(meta.get("name") or "")

    def _forget(self, pod: Object) -> None:
        key = self._key(pod)
        old = self.pods.pop(key, None)
        if old is not None and old.node:
            pods = self.on_node[(key[0], old.node)]
            pods.discard(key[1])
            if not pods:
                del self.on_node[(key[0], old.node)]

    def _put(self, pod: Object) -> None:
        self._forget(pod)
        uses = PodUses.of(pod)
        key = self._key(pod)
        self.pods[key] = uses
        if uses.node:  # an unscheduled pod lets no node read anything
            self.on_node[(key[0], uses.node)].add(key[1])

    def bound(self, namespace: str, name: str, node: str) -> bool:
        uses = self.pods.get((namespace, name))
        return uses is not None and bool(uses.node) and uses.node == node

    def _uses(self, namespace: str, node: str) -> list[PodUses]:
        return [self.pods[(namespace, name)] for name in self.on_node.get((namespace, node), ())]

    def uses_secret(self, namespace: str, node: str, name: str) -> bool:
        return any(name in u.secrets for u in self._uses(namespace, node))

    def uses_configmap(self, namespace: str, node: str, name: str) -> bool:
        return any(name in u.configmaps for u in self._uses(namespace, node))

    def uses_claim(self, namespace: str, node: str, name: str) -> bool:
        return any(name in u.claims for u in self._uses(namespace, node))

    def runs_as(self, namespace: str, node: str, account: str) -> bool:
        return any(u.account == account for u in self._uses(namespace, node))
