"""The VXLAN overlay: one device per node, and per remote node three entries.

Invariant (flannel's vxlan backend): for every other node with a pod subnet
S, its VTEP MAC M and underlay address U, this node holds exactly

  1. a permanent neighbour   S[0] lladdr M dev mkp.vxlan   (ARP for the remote VTEP)
  2. an FDB entry            M dst U dev mkp.vxlan          (where to send M's frames)
  3. an onlink route         S via S[0] dev mkp.vxlan       (which traffic goes there)

and nothing else on the device. They are added in that order, so the route
(which attracts traffic) exists only once the entries it needs do; a step that
fails undoes the earlier ones. Removal deletes all three and does not stop at
the first error. The local VTEP carries its own subnet's first address S[0]/32
(flannel's choice; the pods' gateway S[1] lives on the bridge). `reconcile`
computes desired minus actual both ways, so it restores an entry someone
deleted and drops entries of nodes that left or changed.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from cni_plugins.netlink import added, deleted
from cni_plugins.nsutil import new_iproute

log = logging.getLogger(__name__)

DEVICE = "mkp.vxlan"
VNI = 1
PORT = 8472
OVERHEAD = 50  # outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14
NUD_PERMANENT = 0x80
NTF_SELF = 0x02
RTNH_F_ONLINK = 0x04
MAIN_TABLE = 254


@dataclass(frozen=True)
class Underlay:
    """Where VXLAN packets leave this node: the address, its link and its MTU."""

    ip: ipaddress.IPv4Address
    ifindex: int
    mtu: int


@dataclass(frozen=True, order=True)
class Remote:
    """Another node as the overlay needs it (from its Node object)."""

    name: str
    subnet: ipaddress.IPv4Network
    vtep_mac: str
    underlay_ip: ipaddress.IPv4Address

    @property
    def vtep_ip(self) -> ipaddress.IPv4Address:
        return self.subnet[0]


@dataclass(frozen=True)
class Entries:
    """The three kinds of per-remote state, as comparable tuples."""

    neighbours: frozenset[tuple[str, str]]      # (vtep ip, mac)
    fdb: frozenset[tuple[str, str]]             # (mac, underlay ip)
    routes: frozenset[tuple[str, str]]          # (subnet, via)


def desired(remotes: list[Remote]) -> Entries:
    return Entries(
        frozenset((str(r.vtep_ip), r.vtep_mac.lower()) for r in remotes),
        frozenset((r.vtep_mac.lower(), str(r.underlay_ip)) for r in remotes),
        frozenset((str(r.subnet), str(r.vtep_ip)) for r in remotes))


def render(entries: Entries) -> str:
    """The state as `ip`/`bridge` command lines, sorted (for golden tests and logs)."""
    lines = [f"neigh {ip} lladdr {mac} dev {DEVICE} nud permanent"
             for ip, mac in entries.neighbours]
    lines += [f"fdb {mac} dev {DEVICE} dst {ip} self permanent" for mac, ip in entries.fdb]
    lines += [f"route {dst} via {via} dev {DEVICE} onlink" for dst, via in entries.routes]
    return "\n".join(sorted(lines))


def find_underlay(ipr: IPRoute, *, iface: str | None = None, address: str | None = None,
                  toward: str | None = None) -> Underlay:
    """The underlay: the first IPv4 address of `iface`, else the interface holding
    `address` (the node's own: the route toward a first control plane's api-server is
    loopback), else the route's source to `toward`."""
    if iface:
        index = ipr.link_lookup(ifname=iface)
        if not index:
            raise ValueError(f"underlay interface {iface!r} does not exist")
        addrs = ipr.get_addr(family=socket.AF_INET, index=index[0])
        if not addrs:
            raise ValueError(f"underlay interface {iface!r} has no IPv4 address")
        ip, ifindex = addrs[0].get_attr("IFA_ADDRESS"), index[0]
    elif address and (held := ipr.get_addr(family=socket.AF_INET, address=address)):
        ip, ifindex = address, held[0]["index"]
    else:
        route = ipr.route("get", dst=toward or "8.8.8.8")[0]
        ip, ifindex = route.get_attr("RTA_PREFSRC"), route.get_attr("RTA_OIF")
        if ip is None:
            raise ValueError(f"no source address on the route to {toward}")
    mtu = ipr.link("get", index=ifindex)[0].get_attr("IFLA_MTU")
    return Underlay(ipaddress.IPv4Address(ip), ifindex, mtu)


def vtep_mac(subnet: ipaddress.IPv4Network) -> str:
    """A MAC fixed by the node's subnet (locally administered, 0e:58 + S[0]).

    A restarted agent that has to recreate the device then keeps its MAC, so
    the other nodes' FDB and neighbour entries stay right without waiting for
    the annotation to travel.
    """
    return "0e:58:" + ":".join(f"{b:02x}" for b in subnet[0].packed)


def _vxlan_attrs(msg: object) -> dict[str, object]:
    info = msg.get_attr("IFLA_LINKINFO")  # type: ignore[attr-defined]
    if not info or info.get_attr("IFLA_INFO_KIND") != "vxlan":
        return {}
    data = info.get_attr("IFLA_INFO_DATA")
    return {"vni": data.get_attr("IFLA_VXLAN_ID"), "port": data.get_attr("IFLA_VXLAN_PORT"),
            "local": data.get_attr("IFLA_VXLAN_LOCAL"),
            "learning": data.get_attr("IFLA_VXLAN_LEARNING"),
            "mac": msg.get_attr("IFLA_ADDRESS")}  # type: ignore[attr-defined]


def ensure_device(ipr: IPRoute, underlay: Underlay, subnet: ipaddress.IPv4Network) -> tuple[int, str]:
    """The VXLAN device, up, with S[0]/32; recreated only if its attributes are wrong.

    Returns (ifindex, VTEP MAC) -- the MAC is what other nodes put in their FDB.
    """
    want = {"vni": VNI, "port": PORT, "local": str(underlay.ip), "learning": 0,
            "mac": vtep_mac(subnet)}
    found = ipr.link_lookup(ifname=DEVICE)
    if found:
        msg = ipr.link("get", index=found[0])[0]
        if _vxlan_attrs(msg) != want:
            log.info("overlay recreating device=%s have=%s want=%s", DEVICE,
                     _vxlan_attrs(msg), want)
            ipr.link("del", index=found[0])
            found = []
    if not found:
        added(ipr.link, "add", ifname=DEVICE, kind="vxlan", vxlan_id=VNI, vxlan_port=PORT,
              vxlan_local=str(underlay.ip), vxlan_link=underlay.ifindex,
              vxlan_learning=0, mtu=underlay.mtu - OVERHEAD, address=want["mac"])
        found = ipr.link_lookup(ifname=DEVICE)
    index = found[0]
    ipr.link("set", index=index, state="up", mtu=underlay.mtu - OVERHEAD)
    wanted = f"{subnet[0]}/32"
    have = {f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
            for a in ipr.get_addr(family=socket.AF_INET, index=index)}
    for stale in have - {wanted}:
        ip, plen = stale.split("/")
        ipr.addr("del", index=index, address=ip, prefixlen=int(plen))
    if wanted not in have:
        ipr.addr("add", index=index, address=str(subnet[0]), prefixlen=32)
    return index, str(want["mac"])


def actual(ipr: IPRoute, index: int) -> Entries:
    """What the device holds now, in the same shape as `desired`."""
    neighbours = frozenset(
        (n.get_attr("NDA_DST"), n.get_attr("NDA_LLADDR"))
        for n in ipr.get_neighbours(family=socket.AF_INET, ifindex=index)
        if n["state"] & NUD_PERMANENT and n.get_attr("NDA_LLADDR"))
    fdb = frozenset(
        (n.get_attr("NDA_LLADDR"), n.get_attr("NDA_DST"))
        for n in ipr.get_neighbours(family=socket.AF_BRIDGE, ifindex=index)
        if n.get_attr("NDA_DST") and n.get_attr("NDA_LLADDR") != "00:00:00:00:00:00")
    routes = frozenset(
        (f"{r.get_attr('RTA_DST')}/{r['dst_len']}", r.get_attr("RTA_GATEWAY"))
        for r in ipr.get_routes(family=socket.AF_INET, table=MAIN_TABLE, oif=index)
        if r.get_attr("RTA_GATEWAY"))
    return Entries(neighbours, fdb, routes)


def _neigh(ipr: IPRoute, command: str, index: int, ip: str, mac: str) -> None:
    ipr.neigh(command, dst=ip, lladdr=mac, ifindex=index, state=NUD_PERMANENT)


def _fdb(ipr: IPRoute, command: str, index: int, mac: str, dst: str) -> None:
    ipr.fdb(command, ifindex=index, lladdr=mac, dst=dst, state=NUD_PERMANENT, flags=NTF_SELF)


def _route(ipr: IPRoute, command: str, index: int, dst: str, via: str) -> None:
    ipr.route(command, dst=dst, gateway=via, oif=index, flags=RTNH_F_ONLINK)


def add_remote(ipr: IPRoute, index: int, remote: Remote) -> None:
    """Neighbour, then FDB, then route; a failure undoes the steps already done."""
    ip, mac, under = str(remote.vtep_ip), remote.vtep_mac.lower(), str(remote.underlay_ip)
    _neigh(ipr, "replace", index, ip, mac)
    try:
        _fdb(ipr, "replace", index, mac, under)
        try:
            _route(ipr, "replace", index, str(remote.subnet), ip)
        except Exception:
            _quietly(_fdb, ipr, "del", index, mac, under)
            raise
    except Exception:
        _quietly(_neigh, ipr, "del", index, ip, mac)
        raise


def _quietly(fn: Callable[..., None], *args: object) -> Exception | None:
    """Run a delete; already-gone is success, any other error is returned, not raised."""
    try:
        deleted(fn, *args)
    except NetlinkError as e:
        log.warning("overlay delete failed op=%s args=%s error=%s",
                    getattr(fn, "__name__", fn), args[2:], e)
        failure: Exception = e  # pyroute2 is untyped: name the type it has
        return failure
    return None


def remove(ipr: IPRoute, index: int, stale: Entries) -> list[Exception]:
    """Delete routes, FDB entries and neighbours, all of them, collecting errors."""
    errors = [_quietly(_route, ipr, "del", index, dst, via) for dst, via in stale.routes]
    errors += [_quietly(_fdb, ipr, "del", index, mac, dst) for mac, dst in stale.fdb]
    errors += [_quietly(_neigh, ipr, "del", index, ip, mac) for ip, mac in stale.neighbours]
    return [e for e in errors if e is not None]


def reconcile(ipr: IPRoute, index: int, remotes: list[Remote]) -> tuple[Entries, Entries]:
    """Make the device hold exactly `desired(remotes)`; returns (removed, missing-then-added)."""
    want, have = desired(remotes), actual(ipr, index)
    stale = Entries(have.neighbours - want.neighbours, have.fdb - want.fdb,
                    have.routes - want.routes)
    remove(ipr, index, stale)
    missing = Entries(want.neighbours - have.neighbours, want.fdb - have.fdb,
                      want.routes - have.routes)
    mac_of = {str(r.vtep_ip): r.vtep_mac.lower() for r in remotes}
    for remote in sorted(remotes):
        ip, mac = str(remote.vtep_ip), mac_of[str(remote.vtep_ip)]
        if ((ip, mac) in missing.neighbours or (mac, str(remote.underlay_ip)) in missing.fdb
                or (str(remote.subnet), ip) in missing.routes):
            try:
                add_remote(ipr, index, remote)
            except NetlinkError as e:
                log.warning("overlay add failed node=%s error=%s", remote.name, e)
    return stale, missing


def delete_device(ipr: IPRoute) -> bool:
    """Remove the device (its neighbours, FDB and routes go with it)."""
    found = ipr.link_lookup(ifname=DEVICE)
    for index in found:
        deleted(ipr.link, "del", index=index)
    return bool(found)


# The agent's entry points: each opens its own socket in the calling thread's namespace.

def setup(subnet: ipaddress.IPv4Network, *, iface: str | None, address: str | None,
          toward: str) -> tuple[Underlay, int, str]:
    """This node's underlay and VXLAN device: (underlay, device ifindex, VTEP MAC)."""
    with new_iproute() as ipr:
        underlay = find_underlay(ipr, iface=iface, address=address, toward=toward)
        index, mac = ensure_device(ipr, underlay, subnet)
    return underlay, index, mac


def sync_remotes(index: int, remotes: list[Remote]) -> tuple[Entries, Entries]:
    """`reconcile` on a socket of its own."""
    with new_iproute() as ipr:
        return reconcile(ipr, index, remotes)


def cleanup(bridge: str) -> None:
    """Remove the VXLAN device and the pod bridge `bridge`; what is gone is done."""
    with new_iproute() as ipr:
        delete_device(ipr)
        for index in ipr.link_lookup(ifname=bridge):
            deleted(ipr.link, "del", index=index)
