"""The lab's underlay on one host: a Linux bridge as the switch, one netns per machine.

Each machine is a named network namespace plugged into the switch by a veth (the
host end enslaved to the bridge, the other end `eth0` inside), with an address on
the switch's subnet and a default route via the host. Every step is idempotent and
decided by errno (cni_plugins.netlink): what exists is kept, what is gone is done.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyroute2 import netns

from cni_plugins.netlink import added, deleted
from cni_plugins.nsutil import new_iproute, open_iproute

log = logging.getLogger(__name__)

NETNS_DIR = "/var/run/netns"


@dataclass(frozen=True)
class Machine:
    """One machine on the switch: its namespace, its cable's host end and its address."""

    netns: str
    host_end: str
    ip: str


def ensure_switch(bridge: str, *, address: str, prefixlen: int) -> None:
    """The bridge, up, holding the host's address on the lab subnet."""
    with new_iproute() as ipr:
        added(ipr.link, "add", ifname=bridge, kind="bridge")
        index = ipr.link_lookup(ifname=bridge)[0]
        added(ipr.addr, "add", index=index, address=address, prefixlen=prefixlen)
        ipr.link("set", index=index, state="up")


def ensure_machine(bridge: str, machine: Machine, *, prefixlen: int, gateway: str) -> None:
    """The machine's namespace, its cable on the switch, `eth0` addressed and routed."""
    if machine.netns not in netns.listnetns():
        netns.create(machine.netns)
    with new_iproute() as ipr:
        if not ipr.link_lookup(ifname=machine.host_end):
            ipr.link("add", ifname=machine.host_end, kind="veth",
                     peer={"ifname": "eth0", "net_ns_fd": machine.netns})
        index = ipr.link_lookup(ifname=machine.host_end)[0]
        ipr.link("set", index=index, master=ipr.link_lookup(ifname=bridge)[0], state="up")
    with open_iproute(f"{NETNS_DIR}/{machine.netns}") as inner:
        eth0 = inner.link_lookup(ifname="eth0")[0]
        added(inner.addr, "add", index=eth0, address=machine.ip, prefixlen=prefixlen)
        inner.link("set", index=eth0, state="up")
        inner.link("set", index=inner.link_lookup(ifname="lo")[0], state="up")
        added(inner.route, "add", dst="0.0.0.0/0", gateway=gateway)


def set_cable(host_end: str, up: bool) -> None:
    """Plug or pull a machine's cable; LookupError if it has none."""
    with new_iproute() as ipr:
        found = ipr.link_lookup(ifname=host_end)
        if not found:
            raise LookupError(f"no link {host_end}")
        ipr.link("set", index=found[0], state="up" if up else "down")


def remove(namespaces: list[str], links: list[str]) -> None:
    """Delete the namespaces (their ends of the cables go with them), then the links."""
    existing = set(netns.listnetns())
    for name in namespaces:
        if name in existing:
            netns.remove(name)
    with new_iproute() as ipr:
        for name in links:
            for index in ipr.link_lookup(ifname=name):
                deleted(ipr.link, "del", index=index)


def present(namespaces: list[str], links: list[str]) -> list[str]:
    """Which of these namespaces and links exist ("netns X", "link Y")."""
    existing = set(netns.listnetns())
    found = [f"netns {name}" for name in namespaces if name in existing]
    with new_iproute() as ipr:
        found += [f"link {name}" for name in links if ipr.link_lookup(ifname=name)]
    return found
