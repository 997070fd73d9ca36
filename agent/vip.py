"""The floating API address of an HA control plane, as kube-vip's ARP mode keeps it.

One candidate per control-plane node campaigns for the Lease kube-system/<lease> through
its own node's api-server; the leader adds the address to its interface and announces it
with gratuitous ARP (cni_plugins.vip), and removes it the moment it stops leading
(renew deadline passed, process stopping). kube-vip's timings are the defaults: a 5 s
lease, renewed every 1 s, given up after 3 s without a renewal. A holder cut off from
its api-server (killed, or its link pulled) so drops the address before another node may
take the Lease, and two nodes never answer for the address at once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from cni_plugins import vip
from minikube_py.client import ApiClient
from minikube_py.client.leaderelection import LeaderElector

log = logging.getLogger(__name__)

LEASE = "plndr-cp-lock"  # kube-vip's control-plane Lease name


@dataclass(frozen=True)
class VipSettings:
    """What `minikube-py vip` parses its flags into."""

    kubeconfig: str
    address: str
    interface: str = "eth0"
    identity: str = ""  # the node name: what `lab status` shows as the holder
    lease_name: str = LEASE
    lease_duration: float = 5.0
    renew_deadline: float = 3.0
    retry_period: float = 1.0
    # While holding: re-announce this often, so a neighbour that missed the first
    # announcement (a cable plugged back in) still learns the holder's MAC.
    announce_every: float = 10.0


async def hold(settings: VipSettings) -> None:
    """While leading: the address is ours and announced; released when this is cancelled."""
    try:
        await asyncio.to_thread(vip.claim, settings.interface, settings.address)
        while True:
            await asyncio.sleep(settings.announce_every)
            await asyncio.to_thread(vip.claim, settings.interface, settings.address)
    finally:
        await asyncio.shield(asyncio.to_thread(vip.release, settings.interface,
                                               settings.address))


async def run(settings: VipSettings) -> None:
    """Campaign forever (the address is never held on start: a stale one is dropped)."""
    await asyncio.to_thread(vip.release, settings.interface, settings.address)
    async with ApiClient.from_kubeconfig(settings.kubeconfig, timeout=settings.renew_deadline,
                                         retries=0) as client:
        elector = LeaderElector(
            client, name=settings.lease_name, identity=settings.identity or None,
            lease_duration=settings.lease_duration, renew_deadline=settings.renew_deadline,
            retry_period=settings.retry_period)
        await elector.run(lambda: hold(settings))
