"""The lab's underlay: N worker "machines" on one host, each a network namespace.

    host (control plane)  mkp-lab0 192.168.77.1/24  (a Linux bridge = the lab's switch)
      |-- vmkp-lab-1 <veth> eth0 192.168.77.11  in netns mkp-lab-1  (agent, cni0, mkp.vxlan)
      |-- vmkp-lab-2 <veth> eth0 192.168.77.12  in netns mkp-lab-2
      ...

Each node's agent runs inside its netns, so its bridge, VXLAN device and iptables rules
are that node's own and pod traffic between nodes really crosses the underlay (VXLAN in
UDP 8472 over the lab bridge). Docker's FORWARD policy is DROP and bridged frames pass
through iptables (br_netfilter), so one chain of ours accepts traffic within the bridge.
Taking a node's host-side veth down cuts it off like a pulled cable. This module says
what the lab looks like; the links and the rule are made by cni_plugins (underlay,
forwarding), the only owner of netlink and iptables.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging

from cni_plugins import forwarding, underlay
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
    # 0: the control plane runs on the host; else that many control-plane nodes (cluster/ha.py)
    control_planes: int = 0

    def __post_init__(self) -> None:
        net = ipaddress.ip_network(self.cidr)
        if not 1 <= self.nodes <= min(50, net.num_addresses - 12):
            raise ValueError(f"--nodes must be between 1 and {min(50, net.num_addresses - 12)}")
        if self.control_planes not in (0, 1, 3, 5, 7) or (
                self.control_planes and net.num_addresses < 256):
            raise ValueError("--control-planes must be 1, 3, 5 or 7 (an etcd quorum is a "
                             "majority: an even count tolerates no more failures than one "
                             "fewer) and needs a /24 lab network")

    @property
    def vip(self) -> str | None:
        """The floating API address of an HA lab."""
        return str(ipaddress.ip_network(self.cidr)[250]) if self.control_planes else None

    @property
    def gateway(self) -> str:
        """The host's address on the lab bridge: where nodes reach the api-server."""
        return str(ipaddress.ip_network(self.cidr)[1])

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.cidr).prefixlen

    def records(self) -> list[NodeRecord]:
        net = ipaddress.ip_network(self.cidr)
        control = [NodeRecord(name=f"{self.prefix}-cp{i}", ip=str(net[200 + i]),
                              netns=f"{self.prefix}-cp{i}", iface="eth0", control_plane=True)
                   for i in range(1, self.control_planes + 1)]
        return control + [NodeRecord(name=f"{self.prefix}-{i}", ip=str(net[10 + i]),
                                     netns=f"{self.prefix}-{i}", iface="eth0")
                          for i in range(1, self.nodes + 1)]


def host_veth(node: str) -> str:
    """The node's cable end on the host side (<= 15 chars, as IFNAMSIZ demands)."""
    return f"v{node}"[:15]


def create(spec: LabSpec) -> list[NodeRecord]:
    """Build the bridge, one netns + veth per node and the forwarding rule; idempotent."""
    nodes = spec.records()
    underlay.ensure_switch(spec.bridge, address=spec.gateway, prefixlen=spec.prefixlen)
    for node in nodes:
        underlay.ensure_machine(spec.bridge, _machine(node), prefixlen=spec.prefixlen,
                                gateway=spec.gateway)
    forwarding.accept_bridged(spec.bridge, FORWARD_CHAIN)
    log.debug("lab created bridge=%s nodes=%d", spec.bridge, len(nodes))
    return nodes


def _machine(node: NodeRecord) -> underlay.Machine:
    assert node.netns is not None
    return underlay.Machine(node.netns, host_veth(node.name), node.ip)


def set_link(node: str, up: bool) -> None:
    """Plug or pull a node's cable (its host-side veth)."""
    try:
        underlay.set_cable(host_veth(node), up)
    except LookupError:
        raise LookupError(f"no link for node {node}") from None


def destroy(bridge: str, nodes: list[NodeRecord]) -> None:
    """Remove every node netns, cable, the bridge and the rule; what is gone is done."""
    underlay.remove([n.netns for n in nodes if n.netns],
                    [*(host_veth(n.name) for n in nodes), bridge])
    forwarding.remove_chains([("filter", "FORWARD", FORWARD_CHAIN)])
    log.debug("lab destroyed bridge=%s nodes=%d", bridge, len(nodes))


def leftovers(bridge: str, nodes: list[NodeRecord]) -> list[str]:
    """What of a lab still exists on the host (empty after a clean `lab down`)."""
    found = underlay.present([n.netns for n in nodes if n.netns],
                             [bridge, *(host_veth(n.name) for n in nodes)])
    if forwarding.has_chain("filter", FORWARD_CHAIN):
        found.append(f"iptables chain {FORWARD_CHAIN}")
    return found
