"""Which LoadBalancer addresses this node announces on the LAN (MetalLB's layer-2 speaker).

Every address in a LoadBalancer Service's status (ipMode VIP, not some node's own address:
those need no announcing) is announced by exactly one node, elected through the Lease
kube-system/lb-announce-<address>. A node campaigns for an address while it is eligible:
for a Service with externalTrafficPolicy Local, while it holds a ready endpoint of it (so
the traffic it attracts stays on it); for Cluster, while it is Ready. The holder claims the
address (cni_plugins.announce: a labelled /32 and gratuitous ARP); losing the Lease, or
no longer being eligible, gives it up, and another eligible node takes over once the Lease
expires (`lease_duration`), or at once when it was handed back.

The proxy does the rest: the address is DNATed like a ClusterIP (agent/proxy).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from cni_plugins import announce
from minikube_py.api.lease import LB_LEASE_NAMESPACE, lb_lease_name
from minikube_py.api.meta import get_condition
from minikube_py.api.meta import key as object_key
from minikube_py.api.resources import ENDPOINTS, NODES, SERVICES
from minikube_py.api.types import Object
from minikube_py.client import ApiClient, Informer
from minikube_py.client.leaderelection import LeaderElector
from minikube_py.client.tasks import log_failure

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnnounceSettings:
    node_name: str
    iface: str
    # Failover time after the holder vanishes is about lease_duration + retry_period.
    lease_duration: float = 4.0
    renew_deadline: float = 3.0
    retry_period: float = 1.0
    # Changes arriving within this window are looked at once.
    min_interval: float = 0.05
    # Claim addresses in the network namespace at this path (tests); None: our own.
    netns: str | None = None


def announced_ips(service: Object) -> list[str]:
    """The VIP-mode ingress addresses of a LoadBalancer Service."""
    if (service.get("spec") or {}).get("type") != "LoadBalancer":
        return []
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [i["ip"] for i in ingress if i.get("ip") and i.get("ipMode", "VIP") == "VIP"]


def node_addresses(nodes: list[Object]) -> set[str]:
    return {a["address"] for n in nodes for a in (n.get("status") or {}).get("addresses") or []
            if a.get("address")}


def has_local_endpoint(endpoints: Object | None, node: str) -> bool:
    return any(a.get("nodeName") == node for s in (endpoints or {}).get("subsets") or []
               for a in s.get("addresses") or [])


def eligible(services: list[Object], endpoints: dict[str, Object], nodes: list[Object],
             node: str) -> set[str]:
    """The addresses `node` should campaign for (pure: the informers' content in)."""
    own = next((n for n in nodes if n["metadata"]["name"] == node), None)
    condition = get_condition(own, "Ready") if own else None
    ready = bool(condition and condition.get("status") == "True")
    skip = node_addresses(nodes)
    out: set[str] = set()
    for svc in services:
        ips = [ip for ip in announced_ips(svc) if ip not in skip]
        if not ips:
            continue
        if (svc.get("spec") or {}).get("externalTrafficPolicy") == "Local":
            ok = has_local_endpoint(endpoints.get(object_key(svc)), node)
        else:
            ok = ready
        if ok:
            out.update(ips)
    return out


class Announcer:
    """Campaigns for, and announces, the LoadBalancer addresses this node is eligible for."""

    def __init__(self, client: ApiClient, settings: AnnounceSettings) -> None:
        self.client = client
        self.settings = settings
        self.services, self.endpoints, self.nodes = (
            Informer(client, r)
            for r in (SERVICES, ENDPOINTS, NODES))
        self._wake = asyncio.Event()
        for informer in (self.services, self.endpoints, self.nodes):
            informer.add_handlers(lambda _o: self._wake.set(),
                                  lambda _o, _n: self._wake.set(),
                                  lambda _o: self._wake.set())
        self.campaigns: dict[str, asyncio.Task[None]] = {}
        self.holding: set[str] = set()

    def desired(self) -> set[str]:
        lbs = [s for s in self.services.list() if announced_ips(s)]
        endpoints = {key: ep for s in lbs if (ep := self.endpoints.get(key := object_key(s)))}
        return eligible(lbs, endpoints, self.nodes.list(), self.settings.node_name)

    async def run(self) -> None:
        """Forever; on the way out every campaign ends and every address is given back."""
        informers = (self.services, self.endpoints, self.nodes)
        tasks = [asyncio.create_task(i.run(), name=f"announcer-{i.resource.plural}")
                 for i in informers]
        try:
            for informer in informers:
                await informer.wait_synced()
            while True:
                self._wake.clear()
                await self.reconcile(self.desired())
                await self._wake.wait()
                await asyncio.sleep(self.settings.min_interval)
        finally:
            for task in tasks:
                task.cancel()
            await self.reconcile(set())
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.to_thread(announce.release_all, self.settings.iface,
                                    self.settings.netns)

    async def reconcile(self, wanted: set[str]) -> None:
        """Start campaigns for `wanted` addresses, end the others (releasing their Lease)."""
        for ip in sorted(wanted - self.campaigns.keys()):
            task = asyncio.create_task(self._campaign(ip), name=f"announce-{ip}")
            task.add_done_callback(log_failure)
            self.campaigns[ip] = task
        stopping = [self.campaigns.pop(ip) for ip in sorted(self.campaigns.keys() - wanted)]
        for task in stopping:
            task.cancel()
        await asyncio.gather(*stopping, return_exceptions=True)

    async def _campaign(self, ip: str) -> None:
        """Campaign for `ip` until cancelled; a failure to claim it is retried."""
        s = self.settings
        elector = LeaderElector(self.client, name=lb_lease_name(ip),
                                namespace=LB_LEASE_NAMESPACE, identity=s.node_name,
                                lease_duration=s.lease_duration,
                                renew_deadline=s.renew_deadline, retry_period=s.retry_period)
        log.info("campaigning to announce ip=%s node=%s", ip, s.node_name)
        while True:
            try:
                await elector.run(lambda: self._announce(ip))
            except announce.AnnounceError as e:
                log.error("announcing failed, retrying ip=%s error=%s", ip, e)
            await asyncio.sleep(s.lease_duration)

    async def _announce(self, ip: str) -> None:
        """Hold the address until cancelled (leadership lost, or no longer eligible)."""
        try:
            await asyncio.to_thread(announce.claim, self.settings.iface, ip,
                                    netns=self.settings.netns)
            self.holding.add(ip)
            await asyncio.Event().wait()
        finally:
            self.holding.discard(ip)
            try:
                await asyncio.to_thread(announce.release, self.settings.iface, ip,
                                        self.settings.netns)
            except announce.AnnounceError as e:  # the link may be gone, and the address too
                log.warning("cannot release announced address ip=%s error=%s", ip, e)
