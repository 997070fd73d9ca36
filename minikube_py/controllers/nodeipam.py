"""Node IPAM: every Node gets its own pod subnet in spec.podCIDR / spec.podCIDRs.

The cluster CIDR (--cluster-cidr, 10.244.0.0/16) is cut into /24s
(--node-cidr-mask-size). Which ones are taken is not stored anywhere but in
the Nodes themselves: at start the set is rebuilt from every Node's podCIDR
after the informer synced, and from then on kept in memory by this (single,
leader-elected) controller. A subnet is picked and marked in one synchronous
step, so two workers can never hand out the same one; it is freed when its
Node is deleted, or when writing it to the Node fails.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Hashable
from typing import TYPE_CHECKING

from minikube_py.api.resources import NODES
from minikube_py.api.types import Object
from minikube_py.client.errors import NotFound
from minikube_py.controllers.base import Controller

if TYPE_CHECKING:
    from minikube_py.client import ApiClient
    from minikube_py.controllers.base import SharedInformers
    from minikube_py.controllers.settings import ControllerManagerSettings

log = logging.getLogger(__name__)

Net = ipaddress.IPv4Network


class CidrSet:
    """The node subnets of one cluster CIDR; next-fit allocation."""

    def __init__(self, cluster: Net, mask: int) -> None:
        if not cluster.prefixlen <= mask <= 30:
            raise ValueError(f"node mask /{mask} does not fit in cluster CIDR {cluster}")
        self.cluster = cluster
        self.mask = mask
        self.size = 1 << (mask - cluster.prefixlen)
        self._used: set[int] = set()
        self._next = 0

    def _index(self, cidr: Net) -> int | None:
        if cidr.prefixlen != self.mask or not cidr.subnet_of(self.cluster):
            return None
        return (int(cidr.network_address) - int(self.cluster.network_address)) >> (32 - self.mask)

    def _cidr(self, index: int) -> Net:
        base = int(self.cluster.network_address) + (index << (32 - self.mask))
        return Net((base, self.mask))

    def occupy(self, cidr: Net) -> bool:
        """Mark a subnet found on a Node; False if it is not one of ours."""
        index = self._index(cidr)
        if index is None:
            return False
        self._used.add(index)
        return True

    def allocate(self) -> Net | None:
        for step in range(self.size):
            index = (self._next + step) % self.size
            if index not in self._used:
                self._used.add(index)
                self._next = (index + 1) % self.size
                return self._cidr(index)
        return None

    def release(self, cidr: Net) -> None:
        index = self._index(cidr)
        if index is not None:
            self._used.discard(index)

    def __len__(self) -> int:
        return len(self._used)


def pod_cidr(node: Object) -> Net | None:
    value = (node.get("spec") or {}).get("podCIDR")
    try:
        return Net(value) if value else None
    except ValueError:
        return None


class NodeIpamController(Controller):
    """Assigns and frees node pod subnets (Kubernetes' range allocator)."""

    name = "node-ipam-controller"
    workers = 2

    def __init__(self, client: ApiClient, settings: ControllerManagerSettings,
                 informers: SharedInformers | None = None) -> None:
        super().__init__(client, settings, informers)
        self.cidrs = CidrSet(Net(getattr(settings, "cluster_cidr", None) or "10.244.0.0/16"),
                             int(getattr(settings, "node_cidr_mask_size", None) or 24))
        self.assigned: dict[str, Net] = {}
        self.nodes = self.watch(NODES)
        self.nodes.add_handlers(on_add=self.enqueue, on_update=lambda _old, new: self.enqueue(new),
                                on_delete=self.enqueue)

    def rebuild(self) -> None:
        """Mark every subnet the Nodes already hold (start, or after leadership changed)."""
        for node in self.nodes.list():
            cidr = pod_cidr(node)
            if cidr is not None and self.cidrs.occupy(cidr):
                self.assigned[node["metadata"]["name"]] = cidr
        log.info("node ipam rebuilt nodes=%d assigned=%d cluster_cidr=%s",
                 len(self.nodes.list()), len(self.assigned), self.cidrs.cluster)

    async def _work(self) -> None:
        await self.nodes.wait_synced()
        self.rebuild()
        await super()._work()

    async def sync(self, key: Hashable) -> None:
        name = str(key)
        node = self.nodes.get(name)
        if node is None:
            cidr = self.assigned.pop(name, None)
            if cidr is not None:
                self.cidrs.release(cidr)
                log.info("node ipam released node=%s cidr=%s", name, cidr)
            return
        have = pod_cidr(node)
        if have is not None:
            if self.assigned.get(name) != have and self.cidrs.occupy(have):
                self.assigned[name] = have
            return
        cidr = self.assigned.get(name)  # written already, the cache has not seen it yet
        if cidr is None:
            cidr = self.cidrs.allocate()
            if cidr is None:
                await self.recorder.event(node, "Warning", "CIDRNotAvailable",
                                          f"no free /{self.cidrs.mask} left in "
                                          f"{self.cidrs.cluster} for node {name}")
                raise RuntimeError(f"cluster CIDR {self.cidrs.cluster} is exhausted")
            self.assigned[name] = cidr
        try:
            await self.client.patch(NODES, name, {"spec": {"podCIDR": str(cidr),
                                                           "podCIDRs": [str(cidr)]}})
        except Exception as e:
            self.assigned.pop(name, None)
            self.cidrs.release(cidr)
            if isinstance(e, NotFound):
                return  # deleted meanwhile: nothing to assign
            raise
        log.info("node ipam assigned node=%s cidr=%s", name, cidr)
