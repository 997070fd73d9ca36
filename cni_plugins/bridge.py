"""The netlink work of the bridge plugin: node bridge, veth pair, container side.

Host side = the namespace this process runs in (the node); container side =
the namespace at CNI_NETNS, reached through a socket opened there (nsutil).
Every step is idempotent where the spec wants it (bridge and gateway address
may exist, DEL of what is gone succeeds) and decided by errno, not by text.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from dataclasses import dataclass
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from cni_plugins.conf import NetConf
from cni_plugins.errors import (
    CHECK_FAILED,
    INTERFACE_EXISTS,
    INVALID_NETWORK_CONFIG,
    NETLINK_FAILURE,
    CniError,
)
from cni_plugins.netlink import added, deleted
from cni_plugins.nsutil import open_iproute

IPv4 = ipaddress.IPv4Address
Msg = Any  # a pyroute2 netlink message (dict-like, with get_attr)
MAIN_TABLE = 254


@dataclass(frozen=True)
class Link:
    index: int
    name: str
    mac: str


def find_link(ipr: IPRoute, name: str) -> Msg | None:
    try:
        return ipr.link("get", ifname=name)[0]
    except NetlinkError as e:
        if e.code == errno.ENODEV:
            return None
        raise


def _kind(msg: Msg) -> str | None:
    info = msg.get_attr("IFLA_LINKINFO")
    return info.get_attr("IFLA_INFO_KIND") if info else None


def _as_link(msg: Msg) -> Link:
    return Link(msg["index"], msg.get_attr("IFLA_IFNAME"), msg.get_attr("IFLA_ADDRESS"))


def gateway_mac(gateway: IPv4) -> str:
    """A fixed bridge MAC (0a:58 + the gateway IP, as OVN does).

    A bridge without an assigned MAC takes its lowest port's, so it would
    change as pods come and go and leave stale gateway entries in their ARP
    caches.
    """
    return "0a:58:" + ":".join(f"{b:02x}" for b in gateway.packed)


def ensure_bridge(ipr: IPRoute, conf: NetConf) -> Link:
    """The node bridge, up, holding the gateway address; made if missing."""
    msg = find_link(ipr, conf.bridge)
    if msg is None:
        added(ipr.link, "add", ifname=conf.bridge, kind="bridge",
                address=gateway_mac(conf.gateway))
        msg = find_link(ipr, conf.bridge)
        assert msg is not None
    if _kind(msg) != "bridge":
        raise CniError(INVALID_NETWORK_CONFIG, f"{conf.bridge!r} already exists but is not a bridge")
    if not msg["flags"] & 1:  # IFF_UP
        ipr.link("set", index=msg["index"], state="up")
    added(ipr.addr, "add", index=msg["index"], address=str(conf.gateway),
            prefixlen=conf.subnet.prefixlen)
    return _as_link(msg)


def random_mac() -> str:
    """A random locally administered unicast MAC (so we need not ask the kernel)."""
    b = bytearray(os.urandom(6))
    b[0] = (b[0] & 0xFE) | 0x02
    return ":".join(f"{x:02x}" for x in b)


def add_veth(ipr: IPRoute, cipr: IPRoute, conf: NetConf, *, bridge: Link, netns: str,
             ifname: str) -> tuple[Link, Link]:
    """The veth pair in one request: host end up on the bridge, container end `ifname`.

    An `ifname` that already exists in the container is the spec's "ADD of an
    existing interface" error; nothing has been changed at that point.
    """
    fd = os.open(netns, os.O_RDONLY)
    try:
        for _ in range(3):
            host = Link(0, "veth" + os.urandom(4).hex(), random_mac())
            try:
                ipr.link("add", ifname=host.name, kind="veth", mtu=conf.mtu, address=host.mac,
                         master=bridge.index, state="up",
                         peer={"ifname": ifname, "net_ns_fd": fd, "mtu": conf.mtu})
                break
            except NetlinkError as e:
                if e.code != errno.EEXIST:
                    raise
                if find_link(cipr, ifname) is not None:
                    raise CniError(INTERFACE_EXISTS, f"container interface {ifname!r} already "
                                   f"exists in {netns}") from e
        else:
            raise CniError(NETLINK_FAILURE, "could not find a free host veth name")
    finally:
        os.close(fd)
    try:
        if conf.hairpin:
            ipr.brport("set", ifname=host.name, mode=1)
        cont = find_link(cipr, ifname)
        if cont is None:
            raise CniError(NETLINK_FAILURE, f"veth peer {ifname!r} vanished from {netns}")
    except Exception:
        deleted(ipr.link, "del", ifname=host.name)
        raise
    return host, _as_link(cont)


def configure_container(cipr: IPRoute, conf: NetConf, *, index: int, ip: IPv4) -> None:
    """Address, link up and routes (via the bridge gateway) inside the container."""
    cipr.addr("add", index=index, address=str(ip), prefixlen=conf.subnet.prefixlen)
    cipr.link("set", index=index, state="up")
    for route in conf.routes:
        cipr.route("add", dst=str(route.dst), gateway=str(route.gw or conf.gateway), oif=index)


def delete_link(ipr: IPRoute, index: int) -> None:
    deleted(ipr.link, "del", index=index)


def delete_container_link(netns: str, ifname: str) -> bool:
    """Remove the container end (the kernel drops the host end); gone already is fine."""
    try:
        with open_iproute(netns) as cipr:
            msg = find_link(cipr, ifname)
            if msg is None:
                return False
            delete_link(cipr, msg["index"])
            return True
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as e:
        if e.errno in (errno.EINVAL, errno.ENOENT):  # not a netns / process gone
            return False
        raise


def check_container(cipr: IPRoute, *, ifname: str, mac: str | None,
                    addresses: list[str], routes: list[dict[str, Any]]) -> None:
    """CHECK: the container end has the MAC, addresses and routes the result promised."""
    msg = find_link(cipr, ifname)
    if msg is None:
        raise CniError(CHECK_FAILED, f"interface {ifname!r} not found in the container")
    if _kind(msg) != "veth":
        raise CniError(CHECK_FAILED, f"interface {ifname!r} is {_kind(msg)!r}, not veth")
    if mac and msg.get_attr("IFLA_ADDRESS") != mac.lower():
        raise CniError(CHECK_FAILED, f"interface {ifname!r} has MAC "
                       f"{msg.get_attr('IFLA_ADDRESS')}, result says {mac}")
    have = {f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
            for a in cipr.get_addr(family=socket.AF_INET, index=msg["index"])}
    for address in addresses:
        if address not in have:
            raise CniError(CHECK_FAILED, f"address {address} missing on {ifname!r}",
                           f"has {sorted(have)}")
    table = {(f"{r.get_attr('RTA_DST') or '0.0.0.0'}/{r['dst_len']}", r.get_attr("RTA_GATEWAY"))
             for r in cipr.get_routes(family=socket.AF_INET, table=MAIN_TABLE)}
    for route in routes:
        dst = str(ipaddress.IPv4Network(route["dst"]))
        if (dst, route.get("gw")) not in table:
            raise CniError(CHECK_FAILED, f"route {dst} via {route.get('gw')} missing in container")
