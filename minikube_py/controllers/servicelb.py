"""The LoadBalancer address controller: gives each `type: LoadBalancer` Service an address
in `status.loadBalancer.ingress`, as MetalLB's controller does in layer-2 mode.

Pools come from the controller-manager's --lb-address-pool flag (pool "default") and the
ConfigMap kube-system/lb-address-pools (data: pool name -> ranges), read live. A Service
gets `spec.loadBalancerIP` (or the `minikube-py.io/loadBalancerIPs` annotation) if asked
and allowed, else the address it already holds, else the first free one (of the pool named
by `minikube-py.io/address-pool`, or of any pool by name). Addresses are shared only as
lbpool.py says. What a Service cannot get is an Event (AllocationFailed), retried when an
address is freed or the pools change. Services with another `loadBalancerClass` are left
to their controller.

Without any pool, k3s's ServiceLB: the ingress is the addresses of the Ready nodes (those
with a ready endpoint when externalTrafficPolicy is Local), reached through the proxy.

Which node answers ARP for a pool address is the agents' business (agent/announce.py);
this controller only writes status. One worker: allocation decisions are sequential, and
the allocator is the truth between a status write and its arrival in the cache.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from typing import Any

from minikube_py.api.meta import get_condition, join_key
from minikube_py.api.resources import CONFIGMAPS, ENDPOINTS, NODES, SERVICES
from minikube_py.api.types import Object
from minikube_py.client import ApiClient
from minikube_py.client.errors import NotFound
from minikube_py.controllers.base import Controller, SharedInformers
from minikube_py.controllers.lbpool import (
    IPS_ANNOTATION,
    POOL_ANNOTATION,
    SHARING_ANNOTATION,
    AllocationError,
    Allocator,
    Claim,
    Pool,
    ip_text,
    ip_value,
    parse_pool,
    parse_pools,
)
from minikube_py.controllers.settings import ControllerManagerSettings

log = logging.getLogger(__name__)

LB_CLASS = "minikube-py.io/service-lb"
POOLS_CONFIGMAP = "kube-system/lb-address-pools"


def is_ours(svc: Object) -> bool:
    spec = svc.get("spec") or {}
    return spec.get("type") == "LoadBalancer" and spec.get("loadBalancerClass") in (
        None, LB_CLASS)


def claim_of(svc: Object) -> Claim:
    meta, spec = svc["metadata"], svc.get("spec") or {}
    local = spec.get("externalTrafficPolicy") == "Local"
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
    return Claim(service=join_key(meta.get("namespace"), meta["name"]),
                 sharing=(meta.get("annotations") or {}).get(SHARING_ANNOTATION, ""),
                 backend=selector if local else "",
                 ports=frozenset(f"{p.get('port')}/{p.get('protocol', 'TCP')}"
                                 for p in spec.get("ports") or []))


def requested_ip(svc: Object) -> str:
    """spec.loadBalancerIP, else the first of our loadBalancerIPs annotation, else ""."""
    spec_ip = (svc.get("spec") or {}).get("loadBalancerIP") or ""
    annotated = (svc["metadata"].get("annotations") or {}).get(IPS_ANNOTATION, "")
    return str(spec_ip or annotated.split(",")[0].strip())


def ingress_ips(svc: Object) -> list[str]:
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [i["ip"] for i in ingress if isinstance(i, dict) and i.get("ip")]


def node_address(node: Object) -> str | None:
    """A node's ExternalIP, else its InternalIP (what k3s's ServiceLB advertises)."""
    addresses = (node.get("status") or {}).get("addresses") or []
    for kind in ("ExternalIP", "InternalIP"):
        for a in addresses:
            if a.get("type") == kind and a.get("address"):
                return str(a["address"])
    return None


def endpoint_nodes(endpoints: Object | None) -> set[str]:
    return {a["nodeName"] for s in (endpoints or {}).get("subsets") or []
            for a in s.get("addresses") or [] if a.get("nodeName")}


class ServiceLBController(Controller):
    name = "service-lb-controller"
    workers = 1

    def __init__(self, client: ApiClient, settings: ControllerManagerSettings,
                 informers: SharedInformers | None = None) -> None:
        super().__init__(client, settings, informers)
        self.services = self.watch(SERVICES)
        self.services.add_handlers(self.enqueue, lambda old, new: self.enqueue(new),
                                   self.enqueue)
        self.configmaps = self.watch(CONFIGMAPS)
        self.configmaps.add_handlers(self._configmap, lambda old, new: self._configmap(new),
                                     self._configmap)
        self.nodes = self.watch(NODES)
        self.nodes.add_handlers(self._node, lambda old, new: self._node(new), self._node)
        self.endpoints = self.watch(ENDPOINTS)
        self.endpoints.add_handlers(self._endpoints, lambda old, new: self._endpoints(new),
                                    self._endpoints)
        self.allocator = Allocator()
        self._pools_text: tuple[str, tuple[tuple[str, str], ...]] | None = None
        self._primed = False
        self.pending: set[str] = set()  # Services without an address, retried on a release

    # -- handlers: only enqueue --------------------------------------------------------------

    def _configmap(self, cm: Object) -> None:
        if join_key(cm["metadata"].get("namespace"), cm["metadata"]["name"]) == POOLS_CONFIGMAP:
            self._enqueue_all()

    def _node(self, _node: Object) -> None:
        if not self.pools():
            self._enqueue_all()

    def _endpoints(self, ep: Object) -> None:
        svc = self.services.get(join_key(ep["metadata"].get("namespace"), ep["metadata"]["name"]))
        if svc is not None and not self.pools() and is_ours(svc):
            self.enqueue(svc)

    def _enqueue_all(self) -> None:
        for svc in self.services.list():
            if is_ours(svc) or ingress_ips(svc):
                self.enqueue(svc)

    # -- pools -------------------------------------------------------------------------------

    def pools(self) -> list[Pool]:
        """The configured pools (flag + ConfigMap); a bad ConfigMap counts as none of its
        pools, and is logged once per change."""
        cm = self.configmaps.get(POOLS_CONFIGMAP)
        data = {str(k): str(v) for k, v in ((cm or {}).get("data") or {}).items()}
        flag = " ".join(self.settings.lb_address_pools)
        text = (flag, tuple(sorted(data.items())))
        if text != self._pools_text:
            pools = [parse_pool("default", flag)] if flag else []
            try:
                pools += [p for p in parse_pools(data) if not (flag and p.name == "default")]
            except ValueError as e:
                log.error("bad address pools configmap=%s error=%s", POOLS_CONFIGMAP, e)
            self.allocator.pools, self._pools_text = pools, text
            log.info("lb address pools pools=%s",
                     ",".join(f"{p.name}:{p.size}" for p in pools) or "<none: node addresses>")
        return self.allocator.pools

    def _prime(self) -> None:
        """Learn the addresses Services already hold (as the cache last saw them)."""
        for svc in self.services.list():
            ips = [v for ip in ingress_ips(svc) if (v := ip_value(ip)) is not None]
            if is_ours(svc) and ips:
                try:
                    self.allocator.assign(claim_of(svc), ips[0])
                except AllocationError:
                    pass  # its own sync finds it a new one
        self._primed = True

    # -- sync --------------------------------------------------------------------------------

    def object_for(self, key: Hashable) -> Object | None:
        return self.services.get(str(key))

    async def sync(self, key: Hashable) -> None:
        key = str(key)
        pools = self.pools()
        if not self._primed:
            self._prime()
        svc = self.services.get(key)
        if svc is None or not is_ours(svc):
            self._release(key)
            self.pending.discard(key)
            foreign = svc is not None and (svc.get("spec") or {}).get("type") == "LoadBalancer"
            if svc is not None and not foreign and ingress_ips(svc):
                await self._write(svc, [])  # no longer a LoadBalancer: MetalLB clears it
            return
        if not pools:
            self._release(key)
            await self._write(svc, self._node_ingress(svc))
            return
        try:
            ip = self._allocate(svc)
        except AllocationError as e:
            self.pending.add(key)
            self._release(key)
            await self.recorder.event(svc, "Warning", "AllocationFailed",
                                      f'Failed to allocate IP for "{key}": {e}')
            if ingress_ips(svc):
                await self._write(svc, [])
            return
        self.pending.discard(key)
        address = ip_text(ip)
        if ingress_ips(svc) != [address]:
            await self._write(svc, [address])
            await self.recorder.event(svc, "Normal", "IPAllocated", f'Assigned IP ["{address}"]')

    def _allocate(self, svc: Object) -> int:
        claim = claim_of(svc)
        wanted = requested_ip(svc)
        if wanted:
            ip = ip_value(wanted)
            if ip is None:
                raise AllocationError(f"invalid loadBalancerIP {wanted!r}")
            self.allocator.assign(claim, ip)
            return ip
        pool = (svc["metadata"].get("annotations") or {}).get(POOL_ANNOTATION)
        held = self.allocator.ip_of(claim.service)
        held_pool = self.allocator.pool_of(held) if held is not None else None
        if held is not None and held_pool is not None and pool in (None, held_pool.name):
            try:
                self.allocator.assign(claim, held)  # ports or sharing may have changed
                return held
            except AllocationError:
                pass
        self._release(claim.service)
        return self.allocator.allocate(claim, pool)

    def _release(self, key: str) -> None:
        if self.allocator.release(key) is not None:
            for waiting in sorted(self.pending):
                self.queue.add(waiting)

    def _node_ingress(self, svc: Object) -> list[str]:
        """k3s ServiceLB: Ready nodes' addresses (with a local endpoint, for Local)."""
        wanted: set[str] | None = None
        if (svc.get("spec") or {}).get("externalTrafficPolicy") == "Local":
            wanted = endpoint_nodes(self.endpoints.get(join_key(
                svc["metadata"].get("namespace"), svc["metadata"]["name"])))
        found = set()
        for node in self.nodes.list():
            ready = get_condition(node, "Ready")
            if (wanted is None or node["metadata"]["name"] in wanted) and ready \
                    and ready.get("status") == "True" and (address := node_address(node)):
                found.add(address)
        return sorted(found, key=lambda ip: (ip_value(ip) or 0, ip))

    async def _write(self, svc: Object, ips: list[str]) -> None:
        if ingress_ips(svc) == ips:
            return
        ingress: list[dict[str, Any]] | None = [{"ip": ip, "ipMode": "VIP"} for ip in ips] or None
        meta = svc["metadata"]
        try:
            await self.client.patch(SERVICES, meta["name"],
                                    {"status": {"loadBalancer": {"ingress": ingress}}},
                                    meta.get("namespace"), subresource="status")
        except NotFound:
            return
        log.info("service load balancer status service=%s ingress=%s",
                 join_key(meta.get("namespace"), meta["name"]), ",".join(ips) or "<none>")
