"""`minikube-py node remove`: a host leaves the cluster for good, as `kubectl delete node`
plus kubeadm reset's etcd step. A control-plane host's etcd member is removed first:
a member gone for good still counts for the quorum (three members with one dead tolerate
no further failure; removed, the two left are a whole cluster and a new third can join).
Then its Node, node Lease and node credentials go, so its token stops working and its name
may join again.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from minikube_py.api.resources import LEASES, NODES, SECRETS
from minikube_py.api.types import Object
from minikube_py.client import ApiClient
from minikube_py.client.errors import NotFound
from minikube_py.store import members
from minikube_py.store.etcdtls import EtcdTLS


@dataclass(frozen=True)
class Removed:
    node: bool  # the Node object existed
    member_id: int | None  # the etcd member removed, if the node had one


async def remove(client: ApiClient, name: str, etcd_servers: list[str],
                 tls: EtcdTLS | None) -> Removed:
    """Remove `name`'s etcd member (if `etcd_servers` are given and it has one), then its
    API objects. Raises members.MembershipError if etcd refuses; nothing else changes."""
    try:
        node: Object | None = await client.get(NODES, name)
    except NotFound:
        node = None
    member_id = None
    if etcd_servers:
        found = member_of(name, node, await members.members(etcd_servers, tls))
        if found is not None:
            member_id = found.member_id
            await members.remove_id(etcd_servers, tls, member_id)
    for resource, object_name, namespace in (
            (NODES, name, None),
            (LEASES, name, "kube-node-lease"),
            (SECRETS, f"node-credentials-{name}", "kube-system")):
        with contextlib.suppress(NotFound):
            await client.delete(resource, object_name, namespace)
    return Removed(node is not None, member_id)


def member_of(name: str, node: Object | None, listed: list[members.Member]
              ) -> members.Member | None:
    """The node's member: by name, else (never started, so unnamed) by a peer URL on one
    of the Node's InternalIPs."""
    ips = {a.get("address") for a in ((node or {}).get("status") or {}).get("addresses") or []
           if a.get("type") == "InternalIP"}
    for member in listed:
        if member.name == name or (not member.name and any(
                urlsplit(url).hostname in ips for url in member.peer_urls)):
            return member
    return None
