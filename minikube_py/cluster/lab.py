"""The lab's underlay: N worker "machines" on one host, each a network namespace.

    host (control plane)  mkp-lab0 192.168.77.1/24  (a Linux bridge = the lab's switch)
      |-- vmkp-lab-1 <veth> eth0 192.168.77.11  in netns mkp-lab-1  (agent, cni0, mkp.vxlan)
      |-- vmkp-lab-2 <veth> eth0 192.168.77.12  in netns mkp-lab-2
      ...

Each node's agent runs inside its netns, so its bridge, VXLAN device and iptables rules
are that node's own and pod traffic between nodes really crosses the underlay (VXLAN in
UDP 8472 over the lab bridge). Docker's FORWARD policy is DROP and bridged frames pass
through iptables (br_netfilter), so one chain of ours accepts traffic within the bridge.
Taking a node's host-side veth down cuts it off like a pulled cable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import logging
import subprocess

from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

from minikube_py.cluster.state import NodeRecord

log = logging.getLogger(__name__)

FORWARD_CHAIN = "MKP-LAB-FORWARD"


@dataclasses.dataclass(frozen=True)
class LabSpec:
    """The lab's shape: how many nodes, on which bridge and subnet."""

    nodes: int
    bridge: str = "mkp-lab0"
    cidr: str = "192.168.77.0/24"
    prefix: str = "mkp-lab"

    def __post_init__(self) -> None:
        net = ipaddress.ip_network(self.cidr)
        if not 1 <= self.nodes <= min(50, net.num_addresses - 12):
            raise ValueError(f"--nodes must be between 1 and {min(50, net.num_addresses - 12)}")

    @property
    def gateway(self) -> str:
        """The host's address on the lab bridge: where nodes reach the api-server."""
        return str(ipaddress.ip_network(self.cidr)[1])

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.cidr).prefixlen

    def records(self) -> list[NodeRecord]:
        net = ipaddress.ip_network(self.cidr)
        return [NodeRecord(name=f"{self.prefix}-{i}", ip=str(net[10 + i]),
                           netns=f"{self.prefix}-{i}", iface="eth0")
                for i in range(1, self.nodes + 1)]


def host_veth(node: str) -> str:
    """The node's cable end on the host side (<= 15 chars, as IFNAMSIZ demands)."""
    return f"v{node}"[:15]


def create(spec: LabSpec) -> list[NodeRecord]:
    """Build the bridge, one netns + veth per node and the forwarding rule; idempotent."""
    nodes = spec.records()
    with IPRoute() as ipr:
        bridge = _ensure_link(ipr, spec.bridge, kind="bridge")
        with contextlib.suppress(NetlinkError):  # EEXIST: address already there
            ipr.addr("add", index=bridge, address=spec.gateway, prefixlen=spec.prefixlen)
        ipr.link("set", index=bridge, state="up")
        for node in nodes:
            _create_node(ipr, spec, node, bridge)
    _accept_forwarding(spec.bridge)
    log.debug("lab created bridge=%s nodes=%d", spec.bridge, len(nodes))
    return nodes


def _ensure_link(ipr: IPRoute, name: str, **kwargs: object) -> int:
    found = ipr.link_lookup(ifname=name)
    if found:
        return int(found[0])
    ipr.link("add", ifname=name, **kwargs)
    return int(ipr.link_lookup(ifname=name)[0])


def _create_node(ipr: IPRoute, spec: LabSpec, node: NodeRecord, bridge: int) -> None:
    assert node.netns is not None
    if node.netns not in netns.listnetns():
        netns.create(node.netns)
    host = host_veth(node.name)
    if not ipr.link_lookup(ifname=host):
        ipr.link("add", ifname=host, kind="veth", peer={"ifname": "eth0", "net_ns_fd": node.netns})
    index = ipr.link_lookup(ifname=host)[0]
    ipr.link("set", index=index, master=bridge, state="up")
    with IPRoute(netns=node.netns) as inner:
        eth0 = inner.link_lookup(ifname="eth0")[0]
        with contextlib.suppress(NetlinkError):
            inner.addr("add", index=eth0, address=node.ip, prefixlen=spec.prefixlen)
        inner.link("set", index=eth0, state="up")
        inner.link("set", index=inner.link_lookup(ifname="lo")[0], state="up")
        with contextlib.suppress(NetlinkError):
            inner.route("add", dst="0.0.0.0/0", gateway=spec.gateway)


def set_link(node: str, up: bool) -> None:
    """Plug or pull a node's cable (its host-side veth)."""
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=host_veth(node))
        if not found:
            raise LookupError(f"no link for node {node}")
        ipr.link("set", index=found[0], state="up" if up else "down")


def destroy(bridge: str, nodes: list[NodeRecord]) -> None:
    """Remove every node netns, cable, the bridge and the rule; what is gone is done."""
    existing = set(netns.listnetns())
    for node in nodes:
        if node.netns and node.netns in existing:
            netns.remove(node.netns)
    with IPRoute() as ipr:
        for name in [*(host_veth(n.name) for n in nodes), bridge]:
            for index in ipr.link_lookup(ifname=name):
                with contextlib.suppress(NetlinkError):
                    ipr.link("del", index=index)
    _drop_forwarding()
    log.debug("lab destroyed bridge=%s nodes=%d", bridge, len(nodes))


def _iptables_restore(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["iptables-restore", "-w", "5", "--noflush"], input=text, text=True,
                          capture_output=True, check=False)


def _accept_forwarding(bridge: str) -> None:
    """One chain, jumped to first from FORWARD, accepting frames that stay on the bridge."""
    _drop_forwarding()
    done = _iptables_restore(
        f"*filter\n:{FORWARD_CHAIN} - [0:0]\n-I FORWARD 1 -j {FORWARD_CHAIN}\n"
        f"-A {FORWARD_CHAIN} -i {bridge} -o {bridge} -j ACCEPT\nCOMMIT\n")
    if done.returncode != 0:
        raise RuntimeError(f"iptables-restore failed: {done.stderr.strip()}")


def _drop_forwarding() -> None:
    """Remove our jump and chain (also from an earlier, interrupted run)."""
    while subprocess.run(["iptables", "-w", "5", "-D", "FORWARD", "-j", FORWARD_CHAIN],
                         capture_output=True, check=False).returncode == 0:
        pass
    for flag in ("-F", "-X"):
        subprocess.run(["iptables", "-w", "5", flag, FORWARD_CHAIN], capture_output=True,
                       check=False)


def leftovers(bridge: str, nodes: list[NodeRecord]) -> list[str]:
    """What of a lab still exists on the host (empty after a clean `lab down`)."""
    found: list[str] = []
    names = set(netns.listnetns())
    found += [f"netns {n.netns}" for n in nodes if n.netns in names]
    with IPRoute() as ipr:
        for name in [bridge, *(host_veth(n.name) for n in nodes)]:
            if ipr.link_lookup(ifname=name):
                found.append(f"link {name}")
    chains = subprocess.run(["iptables", "-w", "5", "-S"], capture_output=True, text=True,
                            check=False).stdout
    if FORWARD_CHAIN in chains:
        found.append(f"iptables chain {FORWARD_CHAIN}")
    return found
