"""Layer-2 announcement of LoadBalancer addresses (MetalLB's layer-2 mode, kube-vip's ARP).

The node that announces an address holds it as a /32 on its underlay interface, so the
kernel answers ARP for it and accepts its traffic (the proxy's PREROUTING DNAT turns it
into a pod address first), and sends gratuitous ARP when it takes the address over so
the LAN's neighbour caches move to its MAC at once instead of at their next timeout.

Our addresses carry the label "<iface>:lb", which is how they are told apart from the
administrator's: `held()`, `release()` and `release_all()` touch labelled /32s only.
Everything here acts in the network namespace at path `netns` if given (tests), else in
the calling thread's.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from cni_plugins.netlink import added, deleted
from cni_plugins.nsutil import entered, new_iproute, open_iproute

log = logging.getLogger(__name__)

LABEL_SUFFIX = ":lb"
IFNAMSIZ = 16
ETH_P_ARP = 0x0806
BROADCAST = b"\xff" * 6


class AnnounceError(Exception):
    """Claiming, releasing or announcing an address failed; says which and why."""


@contextmanager
def _iproute(what: str, netns: str | None) -> Iterator[IPRoute]:
    """A netlink socket whose failures (and the socket's) become AnnounceError."""
    try:
        with open_iproute(netns) if netns else new_iproute() as ipr:
            yield ipr
    except (NetlinkError, OSError) as e:
        raise AnnounceError(f"{what}: {e}") from e


def label(iface: str) -> str:
    """Our address label on `iface` (the kernel wants the device name first, < 16 bytes)."""
    text = iface + LABEL_SUFFIX
    if len(text) >= IFNAMSIZ:
        raise AnnounceError(f"interface name {iface!r} too long to label announced addresses")
    return text


def _index(ipr: IPRoute, iface: str) -> int:
    found = ipr.link_lookup(ifname=iface)
    if not found:
        raise AnnounceError(f"interface {iface!r} does not exist")
    return int(found[0])


def interface_of(ip: str, netns: str | None = None) -> str:
    """The name of the interface holding `ip` (the node's underlay, when none is given)."""
    with _iproute(f"finding the interface of {ip}", netns) as ipr:
        for a in ipr.get_addr(family=socket.AF_INET):
            if a.get_attr("IFA_ADDRESS") == ip:
                return str(ipr.link("get", index=a["index"])[0].get_attr("IFLA_IFNAME"))
    raise AnnounceError(f"no interface holds {ip}")


def claim(iface: str, ip: str, *, netns: str | None = None, garp_count: int = 3,
          garp_interval: float = 0.05) -> bool:
    """Hold `ip` on `iface` and announce it; True if it was not held before."""
    with _iproute(f"claiming {ip} on {iface}", netns) as ipr:
        index = _index(ipr, iface)
        new = added(ipr.addr, "add", index=index, address=ip, prefixlen=32, label=label(iface))
    gratuitous_arp(iface, ip, netns=netns, count=garp_count, interval=garp_interval)
    log.info("load balancer address claimed ip=%s iface=%s new=%s", ip, iface, new)
    return new


def held(iface: str, netns: str | None = None) -> list[str]:
    """The addresses we announce on `iface` (by our label)."""
    with _iproute(f"listing addresses of {iface}", netns) as ipr:
        index = _index(ipr, iface)
        return sorted(str(a.get_attr("IFA_ADDRESS"))
                      for a in ipr.get_addr(family=socket.AF_INET, index=index)
                      if a.get_attr("IFA_LABEL") == label(iface) and a["prefixlen"] == 32)


def release(iface: str, ip: str, netns: str | None = None) -> bool:
    """Stop holding `ip` on `iface` if we hold it; True if it was removed."""
    if ip not in held(iface, netns):
        return False
    with _iproute(f"releasing {ip} on {iface}", netns) as ipr:
        gone = deleted(ipr.addr, "del", index=_index(ipr, iface), address=ip, prefixlen=32)
    log.info("load balancer address released ip=%s iface=%s", ip, iface)
    return gone


def release_all(iface: str, netns: str | None = None) -> list[str]:
    """Remove every address we announce on `iface` (agent shutdown, cleanup)."""
    try:
        ours = held(iface, netns)
    except AnnounceError:
        return []  # the interface is gone, and our addresses with it
    return [ip for ip in ours if release(iface, ip, netns)]


def arp_packet(mac: bytes, ip: str) -> bytes:
    """A gratuitous ARP request: sender and target are `ip`, to broadcast (RFC 5227)."""
    addr = ipaddress.IPv4Address(ip).packed
    ether = BROADCAST + mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + addr + b"\x00" * 6 + addr
    return ether + arp


def _packet_socket(netns: str | None) -> socket.socket:
    """An ARP packet socket, made in `netns` (a socket stays in the namespace it was
    made in)."""
    if netns is None:
        return socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    with entered(netns):
        return _packet_socket(None)


def gratuitous_arp(iface: str, ip: str, *, netns: str | None = None, count: int = 3,
                   interval: float = 0.05) -> None:
    """Broadcast `count` gratuitous ARPs for `ip` from `iface`'s MAC."""
    try:
        with _packet_socket(netns) as s:
            s.bind((iface, ETH_P_ARP))
            mac = s.getsockname()[4][:6]
            packet = arp_packet(mac, ip)
            for i in range(count):
                if i:
                    time.sleep(interval)
                s.send(packet)
    except OSError as e:
        raise AnnounceError(f"gratuitous ARP for {ip} on {iface}: {e}") from e
