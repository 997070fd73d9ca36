"""A floating address on an interface, announced by gratuitous ARP (kube-vip's ARP mode).

The holder adds the address (a /32 beside the interface's own, so the kernel never
prefers it as a source) and broadcasts gratuitous ARP replies and requests for it, so the
switch and every neighbour replace their cached MAC for the address with ours at once
instead of waiting for their entries to go stale. Giving it up deletes the address; what
is already there (claim) or gone (release) is done (errno decides, cni_plugins.netlink).
Called in the holder's own network namespace.
"""

from __future__ import annotations

import logging
import socket
import struct

from pyroute2 import IPRoute

from cni_plugins.netlink import added, deleted
from cni_plugins.nsutil import new_iproute, open_iproute
from cni_plugins.underlay import NETNS_DIR

log = logging.getLogger(__name__)

ETH_P_ARP = 0x0806
BROADCAST = b"\xff" * 6


def arp_frame(mac: bytes, ip: str, *, op: int) -> bytes:
    """A broadcast gratuitous ARP (sender = target = `ip`; op 1 request, 2 reply)."""
    addr = socket.inet_aton(ip)
    target_mac = b"\x00" * 6 if op == 1 else BROADCAST
    return (BROADCAST + mac + struct.pack("!H", ETH_P_ARP)
            + struct.pack("!HHBBH", 1, 0x0800, 6, 4, op)
            + mac + addr + target_mac + addr)


def _index_and_mac(ipr: IPRoute, iface: str) -> tuple[int, bytes]:
    found = ipr.link_lookup(ifname=iface)
    if not found:
        raise LookupError(f"no interface {iface}")
    link = ipr.link("get", index=found[0])[0]
    mac = bytes.fromhex(str(link.get_attr("IFLA_ADDRESS")).replace(":", ""))
    return int(found[0]), mac


def announce(iface: str, ip: str, mac: bytes, count: int = 3) -> None:
    """Send `count` gratuitous ARP requests and replies for `ip` from `mac` on `iface`."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP)) as s:
        s.bind((iface, 0))
        for _ in range(count):
            s.send(arp_frame(mac, ip, op=1))
            s.send(arp_frame(mac, ip, op=2))


def claim(iface: str, ip: str) -> None:
    """Hold `ip` on `iface` and tell the segment."""
    with new_iproute() as ipr:
        index, mac = _index_and_mac(ipr, iface)
        added(ipr.addr, "add", index=index, address=ip, prefixlen=32)
    announce(iface, ip, mac)
    log.info("vip claimed address=%s iface=%s", ip, iface)


def release(iface: str, ip: str) -> None:
    """Stop holding `ip` (gone already, or no such interface: done)."""
    with new_iproute() as ipr:
        found = ipr.link_lookup(ifname=iface)
        if found:
            deleted(ipr.addr, "del", index=found[0], address=ip, prefixlen=32)
    log.info("vip released address=%s iface=%s", ip, iface)


def holds(iface: str, ip: str, netns: str | None = None) -> bool:
    """Whether `iface` (in `netns`, default ours) has `ip` now."""
    with (open_iproute(f"{NETNS_DIR}/{netns}") if netns else new_iproute()) as ipr:
        found = ipr.link_lookup(ifname=iface)
        if not found:
            return False
        return any(a.get_attr("IFA_ADDRESS") == ip
                   for a in ipr.get_addr(index=found[0], family=socket.AF_INET))
