"""The agent's overlay loop: this node's VTEP and CNI setup, other nodes' routes.

Once this Node has a podCIDR (from the node-IPAM controller), the agent
makes the VXLAN device on the underlay (--iface, else the interface of the
route to the api-server), publishes its VTEP MAC and underlay address as
Node annotations, turns on forwarding/masquerade, writes the CNI config and
starts the resident netlink service for the CNI shim. Then, on every Node
event and at least every resync period, it reconciles the device's
neighbour/FDB/route entries with the other Nodes (cni_plugins.overlay), so an
entry someone deleted comes back and a node that left is removed.

It is the client's SyncLoop with one key, this node's name: Node handlers
only enqueue it, a failed pass is retried with back-off (given up after 15
with an Event on this Node) and every pass queues the next resync.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable, Hashable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlparse

from agent import cni_config
from agent.settings import AgentSettings
from cni_plugins import forwarding, overlay, service
from cni_plugins.service import NetlinkService
from minikube_py.api.node import PUBLIC_IP_ANNOTATION, VTEP_MAC_ANNOTATION
from minikube_py.api.resources import NODES
from minikube_py.api.types import Object
from minikube_py.client import Informer, run_tasks
from minikube_py.client.loop import SyncLoop, cached

log = logging.getLogger(__name__)

T = TypeVar("T")
VTEP_MAC = VTEP_MAC_ANNOTATION
PUBLIC_IP = PUBLIC_IP_ANNOTATION


def remotes_from(nodes: list[dict[str, Any]], me: str) -> list[overlay.Remote]:
    """Other nodes that have a podCIDR and published their VTEP; the rest are skipped."""
    out = []
    for node in nodes:
        meta = node.get("metadata") or {}
        ann = meta.get("annotations") or {}
        cidr = (node.get("spec") or {}).get("podCIDR")
        if meta.get("name") == me or not cidr or VTEP_MAC not in ann or PUBLIC_IP not in ann:
            continue
        try:
            out.append(overlay.Remote(meta["name"], ipaddress.IPv4Network(cidr),
                                      ann[VTEP_MAC], ipaddress.IPv4Address(ann[PUBLIC_IP])))
        except ValueError as e:
            log.warning("overlay skipping node node=%s error=%s", meta.get("name"), e)
    return sorted(out)


@dataclass
class _Local:
    subnet: ipaddress.IPv4Network
    underlay: overlay.Underlay
    index: int
    mac: str


class Overlay(SyncLoop):
    """Run with `await Overlay(client, settings).run()` (agent/main.py does)."""

    name = "overlay"

    def __init__(self, client: Any, settings: AgentSettings, *,
                 executor: Executor | None = None) -> None:
        super().__init__(client, host=settings.node_name)
        self.settings = settings
        # One thread does all host work (netlink, iptables, the CNI service start), in
        # order; it lives in the namespace of the thread that made it unless a test
        # hands in one whose initializer enters a node namespace.
        self.executor = executor or ThreadPoolExecutor(1, thread_name_prefix="overlay")
        self.nodes = Informer(client, NODES)
        self.nodes.add_handlers(on_add=self._kick, on_update=lambda _o, new: self._kick(new),
                                on_delete=self._kick)
        self.local: _Local | None = None
        self.service: NetlinkService | None = None

    def _kick(self, _node: object) -> None:
        """Any Node's change may change this node's entries: one key for all."""
        self.queue.add(self.settings.node_name)

    async def run(self) -> None:
        try:
            await run_tasks({"overlay-nodes": self.nodes.run(), "overlay-sync": self._work()})
        finally:
            if self.service is not None:
                await self._host(self.service.shutdown)
                self.service.server_close()

    async def _work(self) -> None:
        await self.nodes.wait_synced()
        self.queue.add(self.settings.node_name)
        await self.run_workers()

    def object_for(self, key: Hashable) -> Object | None:
        return cached(self.nodes, key)

    async def sync(self, key: Hashable) -> None:
        """One pass for this node, then the next one queued a resync period later."""
        try:
            me = self.nodes.get(self.settings.node_name)
            cidr = ((me or {}).get("spec") or {}).get("podCIDR")
            if cidr:
                await self.converge(ipaddress.IPv4Network(cidr))
            else:
                log.info("overlay waiting for podCIDR node=%s", self.settings.node_name)
        finally:
            self.queue.add_after(key, self.settings.resync_period)

    async def converge(self, subnet: ipaddress.IPv4Network) -> None:
        """One pass: this node's device, CNI config and annotations, then the entries.

        Every step is idempotent and cheap when nothing changed, so a deleted
        device, conflist or chain comes back within one resync period.
        """
        local = await self._host(self._setup, subnet)
        if local != self.local:
            log.info("overlay ready node=%s subnet=%s underlay=%s vtep_mac=%s device=%d",
                     self.settings.node_name, subnet, local.underlay.ip, local.mac, local.index)
        self.local = local
        ann = ((self.nodes.get(self.settings.node_name) or {}).get("metadata") or {}).get(
            "annotations") or {}
        if ann.get(VTEP_MAC) != local.mac or ann.get(PUBLIC_IP) != str(local.underlay.ip):
            await self._publish(local)
        remotes = remotes_from(self.nodes.list(), self.settings.node_name)
        removed, added = await self._host(overlay.sync_remotes, self.local.index, remotes)
        if await self._host(forwarding.ensure, ipaddress.IPv4Network(self.settings.cluster_cidr)):
            log.info("overlay restored forwarding rules cluster_cidr=%s",
                     self.settings.cluster_cidr)
        if any((removed.routes, removed.fdb, removed.neighbours, added.routes, added.fdb,
                added.neighbours)):
            log.info("overlay reconciled remotes=%d removed=%s added=%s", len(remotes),
                     overlay.render(removed).replace("\n", "; "),
                     overlay.render(added).replace("\n", "; "))

    async def _host(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def _apiserver_ip(self) -> str:
        host = urlparse(str(getattr(self.client, "server", ""))).hostname or "127.0.0.1"
        return socket.gethostbyname(host)

    def _setup(self, subnet: ipaddress.IPv4Network) -> _Local:
        underlay, index, mac = overlay.setup(subnet, iface=self.settings.iface or None,
                                             address=self.settings.node_ip or None,
                                             toward=self._apiserver_ip())
        cni_config.write(self.settings, subnet=str(subnet), mtu=underlay.mtu - overlay.OVERHEAD)
        if self.service is None:
            self.service, _ = service.start(cni_config.socket_path(self.settings))
        return _Local(subnet, underlay, index, mac)

    async def _publish(self, local: _Local) -> None:
        await self.client.patch(NODES, self.settings.node_name, {"metadata": {"annotations": {
            VTEP_MAC: local.mac, PUBLIC_IP: str(local.underlay.ip)}}})


def cleanup(settings: AgentSettings) -> None:
    """Remove what the overlay and the CNI plugin made on this node (`down` calls this)."""
    overlay.cleanup(cni_config.BRIDGE)
    forwarding.cleanup()
    cni_config.cleanup(settings)
