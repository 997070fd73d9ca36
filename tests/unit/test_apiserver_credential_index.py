"""The credential index: accounts, pods and credential Secrets from memory, etcd read
only for what it does not hold (yet) as asked."""

from __future__ import annotations

from typing import Any, cast

import pytest

from minikube_py.api import errors
from minikube_py.api.resources import Resource
from minikube_py.api.types import Object
from minikube_py.apiserver.credential_index import Account, CredentialIndex
from minikube_py.apiserver.node_graph import NodeGraph
from minikube_py.apiserver.objects import ObjectStore
from minikube_py.store import WatchHub


class Etcd:
    """What the index's fallback reads: objects by (plural, namespace, name), counted."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Object] = {}
        self.reads = 0

    async def get(self, resource: Resource, namespace: str | None, name: str) -> Object:
        self.reads += 1
        found = self.objects.get((resource.plural, namespace or "", name))
        if found is None:
            raise errors.not_found(resource, name)
        return found


def obj(name: str, uid: str, **fields: Any) -> Object:
    return {"metadata": {"namespace": "ns", "name": name, "uid": uid}, **fields}


def index() -> tuple[CredentialIndex, Etcd]:
    etcd = Etcd()
    store = cast(ObjectStore, etcd)
    hub = cast(WatchHub, None)
    return CredentialIndex(store, hub, NodeGraph(store, hub)), etcd


async def test_accounts_come_from_memory_and_follow_their_watch() -> None:
    idx, etcd = index()
    await idx._accounts_listed([obj("a", "u1"), obj("quiet", "u2",
                                                    automountServiceAccountToken=False)])
    assert await idx.account("ns", "a") == Account("u1", None)
    assert await idx.account("ns", "a", uid="u1") == Account("u1", None)
    assert await idx.account("ns", "quiet") == Account("u2", False)
    assert etcd.reads == 0
    await idx._account_changed("PUT", obj("a", "u1", automountServiceAccountToken=True))
    assert await idx.account("ns", "a") == Account("u1", True)
    await idx._account_changed("DELETE", obj("a", "u1"))
    assert await idx.account("ns", "a") is None
    assert etcd.reads == 1  # gone from the index: confirmed with etcd


@pytest.mark.parametrize("held", [
    pytest.param(None, id="made a moment ago: not held yet"),
    pytest.param(obj("a", "old"), id="made again a moment ago: held with its old uid"),
])
async def test_what_the_index_has_not_seen_yet_is_read_from_etcd(held: Object | None) -> None:
    idx, etcd = index()
    await idx._accounts_listed([held] if held else [])
    etcd.objects[("serviceaccounts", "ns", "a")] = obj("a", "new")
    assert await idx.account("ns", "a", uid="new") == Account("new", None)
    assert await idx.account("ns", "a", uid="older") is None  # its tokens died with it
    assert etcd.reads == 2


async def test_pods_come_from_the_node_graph() -> None:
    idx, etcd = index()
    await idx.graph._listed([obj("web", "p1", spec={"serviceAccountName": "robot"})])
    pod = await idx.pod("ns", "web", uid="p1")
    assert pod is not None and (pod.uid, pod.account, pod.node) == ("p1", "robot", "")
    assert etcd.reads == 0
    assert await idx.pod("ns", "web", uid="p0") is None  # another pod of that name: gone
    etcd.objects[("pods", "ns", "new")] = obj("new", "p2", spec={"nodeName": "n1"})
    new = await idx.pod("ns", "new")
    assert new is not None and (new.uid, new.account, new.node) == ("p2", "default", "n1")
    assert etcd.reads == 2


async def test_only_credential_secrets_are_held() -> None:
    idx, etcd = index()
    token = obj("bootstrap-token-abcdef", "s1", type="bootstrap.kubernetes.io/token")
    opaque = obj("db", "s2", type="Opaque")
    await idx._secrets_listed([token, opaque])
    assert list(idx.secrets) == [("ns", "bootstrap-token-abcdef")]
    assert await idx.secret("ns", "bootstrap-token-abcdef") is token
    assert etcd.reads == 0
    etcd.objects[("secrets", "ns", "db")] = opaque
    assert await idx.secret("ns", "db") is None  # read, but not a credential
    await idx._secret_changed("DELETE", token)
    assert await idx.secret("ns", "bootstrap-token-abcdef") is None
    assert etcd.reads == 2
