"""The floating API address of an HA control plane, as kube-vip's ARP mode keeps it.

One candidate per control-plane node campaigns for the Lease kube-system/<lease> through
its own node's api-server; the leader adds the address to its interface and announces it
with gratuitous ARP (cni_plugins.vip), and removes it the moment it stops leading
(renew deadline passed, process stopping). kube-vip's timings are the defaults: a 5 s
lease, renewed every 1 s, given up after 3 s without a renewal. A holder cut off from
its api-server (its link pulled) so drops the address before another node may take the
Lease, and two nodes never answer for the address at once.

Two steps beyond kube-vip: a holder whose own api-server is gone (connection refused on
its port: the process died) drops the address at once and hands the Lease back through a
peer api-server, then sits out a few seconds; and candidates follow the Lease by watch
(LeaderElector's `watch`), so a handed-back Lease is taken at once and a holder cut off
is replaced when its last renewal expires, not up to a poll later.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from cni_plugins import vip
from minikube_py.api.lease import VIP_LEASE
from minikube_py.client import ApiClient
from minikube_py.client.kubeconfig import load_kubeconfig
from minikube_py.client.leaderelection import LeaderElector

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VipSettings:
    """What `minikube-py vip` parses its flags into."""

    kubeconfig: str
    address: str
    interface: str = "eth0"
    identity: str = ""  # the node name: what `lab status` shows as the holder
    lease_name: str = VIP_LEASE  # kube-vip's, which RBAC lets system:kube-vip hold
    lease_duration: float = 5.0
    renew_deadline: float = 3.0
    retry_period: float = 1.0
    # While holding: re-announce this often, so a neighbour that missed the first
    # announcement (a cable plugged back in) still learns the holder's MAC.
    announce_every: float = 10.0
    # The other control-plane nodes' api-servers: where a holder whose own api-server died
    # hands the Lease back. Empty: it waits for the Lease to expire, as kube-vip.
    peers: tuple[str, ...] = ()
    health_every: float = 0.5
    sit_out: float = 3.0


async def api_server_gone(server: str) -> bool:
    """Nothing listens on the api-server's port (refused): the process is gone. A slow
    or busy server is not gone."""
    url = urlsplit(server)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(url.hostname, url.port or 443), 1.0)
    except ConnectionRefusedError:
        return True
    except (OSError, TimeoutError):
        return False
    writer.close()
    return False


async def hold(settings: VipSettings, server: str) -> None:
    """While leading: the address is ours and announced; released when this is cancelled
    or returns (the local api-server gone)."""
    loop = asyncio.get_running_loop()
    try:
        await asyncio.to_thread(vip.claim, settings.interface, settings.address)
        announced = loop.time()
        while True:
            await asyncio.sleep(settings.health_every)
            if settings.peers and await api_server_gone(server):
                log.warning("local api-server gone, handing the VIP over server=%s", server)
                return
            if loop.time() - announced >= settings.announce_every:
                await asyncio.to_thread(vip.claim, settings.interface, settings.address)
                announced = loop.time()
    finally:
        await asyncio.shield(asyncio.to_thread(vip.release, settings.interface,
                                               settings.address))


async def hand_over(settings: VipSettings, identity: str) -> None:
    """Clear our holder record through the first peer api-server that takes it."""
    config = load_kubeconfig(settings.kubeconfig)
    for peer in settings.peers:
        async with ApiClient(config=dataclasses.replace(config, server=peer),
                             timeout=settings.renew_deadline, retries=0) as client:
            if await _elector(client, settings, identity).release():
                log.info("VIP Lease handed back peer=%s", peer)
                return


def _elector(client: ApiClient, settings: VipSettings, identity: str | None) -> LeaderElector:
    return LeaderElector(client, name=settings.lease_name, identity=identity,
                         lease_duration=settings.lease_duration,
                         renew_deadline=settings.renew_deadline,
                         retry_period=settings.retry_period, watch=True)


async def run(settings: VipSettings) -> None:
    """Campaign forever (the address is never held on start: a stale one is dropped)."""
    await asyncio.to_thread(vip.release, settings.interface, settings.address)
    async with ApiClient.from_kubeconfig(settings.kubeconfig, timeout=settings.renew_deadline,
                                         retries=0) as client:
        elector = _elector(client, settings, settings.identity or None)
        while True:
            await elector.run(lambda: hold(settings, client.servers.primary))
            await hand_over(settings, elector.identity)
            await asyncio.sleep(settings.sit_out)
