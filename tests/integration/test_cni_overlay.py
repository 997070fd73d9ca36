"""The VXLAN overlay between two namespace "nodes" joined by an underlay veth.

node A (10.244.1.0/24) --u0 172.31.250.1 ==== 172.31.250.2 u0-- node B (10.244.2.0/24)
each node: cni0 bridge + one pod namespace from our CNI plugin, mkp.vxlan device.
"""

from __future__ import annotations

import errno
import ipaddress
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyroute2.netlink.exceptions import NetlinkError

from cni_plugins import forwarding, overlay
from cni_plugins.nsutil import open_iproute
from tests.fixtures.netns import CniNode, Netns
from tests.helpers import first_line, nc_listener

pytestmark = pytest.mark.root
CLUSTER = ipaddress.IPv4Network("10.244.0.0/16")


@dataclass
class Node:
    cni: CniNode
    underlay_ip: str
    pod: Netns
    pod_ip: str
    index: int = 0
    mac: str = ""

    @property
    def ns(self) -> Netns:
        return self.cni.ns

    def remote(self) -> overlay.Remote:
        return overlay.Remote(self.ns.name, ipaddress.IPv4Network(self.cni.subnet), self.mac,
                              ipaddress.IPv4Address(self.underlay_ip))


def make_node(netns: Callable[..., Netns], tmp_path: Path, name: str, subnet: str,
              underlay_ip: str) -> Node:
    cni = CniNode(netns(name), str(tmp_path / name), subnet=subnet)
    pod = netns(f"{name}pod")
    rc, res = cni.call("ADD", container_id=f"{name}-pod", netns=pod.path)
    assert rc == 0, res
    return Node(cni, underlay_ip, pod, res["ips"][0]["address"].split("/")[0])


@pytest.fixture
def nodes(netns: Callable[..., Netns], tmp_path: Path) -> tuple[Node, Node]:
    a = make_node(netns, tmp_path, "a", "10.244.1.0/24", "172.31.250.1")
    b = make_node(netns, tmp_path, "b", "10.244.2.0/24", "172.31.250.2")
    subprocess.run(["ip", "link", "add", "u0", "netns", a.ns.name, "type", "veth", "peer",
                    "name", "u0", "netns", b.ns.name], check=True)
    for node in (a, b):
        node.ns.run("ip", "addr", "add", f"{node.underlay_ip}/24", "dev", "u0")
        node.ns.run("ip", "link", "set", "u0", "up")
        with open_iproute(node.ns.path) as ipr:
            underlay = overlay.find_underlay(ipr, iface="u0")
            node.index, node.mac = overlay.ensure_device(
                ipr, underlay, ipaddress.IPv4Network(node.cni.subnet))
    for here, there in ((a, b), (b, a)):
        with open_iproute(here.ns.path) as ipr:
            overlay.reconcile(ipr, here.index, [there.remote()])
        with here.ns.entered():
            forwarding.ensure(CLUSTER)
    return a, b


def state(node: Node) -> str:
    with open_iproute(node.ns.path) as ipr:
        return overlay.render(overlay.actual(ipr, node.index))


def test_device_matches_the_design(nodes: tuple[Node, Node]) -> None:
    a, _ = nodes
    out = a.ns.run("ip", "-d", "addr", "show", overlay.DEVICE).stdout
    assert "vxlan id 1 local 172.31.250.1 dev u0" in out and "dstport 8472" in out
    assert "nolearning" in out and "mtu 1450" in out and "inet 10.244.1.0/32" in out
    assert a.mac == "0e:58:0a:f4:01:00" and f"link/ether {a.mac}" in out


def test_underlay_is_the_interface_holding_the_node_address(nodes: tuple[Node, Node]) -> None:
    """A first control plane's agent reaches its api-server on loopback: the route toward
    it would make `lo` the underlay (and 127.0.0.1 the VTEP every other node sends to)."""
    a, b = nodes
    with open_iproute(a.ns.path) as ipr:
        u0 = ipr.link_lookup(ifname="u0")[0]
        by_route = overlay.find_underlay(ipr, toward="127.0.0.1")
        by_address = overlay.find_underlay(ipr, address=a.underlay_ip, toward="127.0.0.1")
        not_held = overlay.find_underlay(ipr, address="192.0.2.77", toward=b.underlay_ip)
    assert str(by_route.ip) == "127.0.0.1"
    assert (str(by_address.ip), by_address.ifindex) == (a.underlay_ip, u0)
    assert (str(not_held.ip), not_held.ifindex) == (a.underlay_ip, u0)  # by the route


def test_device_is_kept_when_right_and_recreated_when_wrong(nodes: tuple[Node, Node]) -> None:
    a, _ = nodes
    subnet = ipaddress.IPv4Network(a.cni.subnet)
    with open_iproute(a.ns.path) as ipr:
        underlay = overlay.find_underlay(ipr, iface="u0")
        assert overlay.ensure_device(ipr, underlay, subnet) == (a.index, a.mac)
    a.ns.run("ip", "link", "set", overlay.DEVICE, "type", "vxlan", "learning")
    with open_iproute(a.ns.path) as ipr:
        index, mac = overlay.ensure_device(ipr, underlay, subnet)
    assert index != a.index and mac == a.mac
    assert "nolearning" in a.ns.run("ip", "-d", "link", "show", overlay.DEVICE).stdout


def test_entries_for_the_remote_node(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    assert state(a) == "\n".join([
        f"fdb {b.mac} dev mkp.vxlan dst 172.31.250.2 self permanent",
        f"neigh 10.244.2.0 lladdr {b.mac} dev mkp.vxlan nud permanent",
        "route 10.244.2.0/24 via 10.244.2.0 dev mkp.vxlan onlink"])
    assert "10.244.2.0/24 via 10.244.2.0 dev mkp.vxlan proto static onlink" in \
        a.ns.run("ip", "route").stdout


def test_pod_on_a_talks_tcp_to_pod_on_b_without_nat(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    server = b.pod.popen("python3", "-c", PEER_ECHO, "7000", stdout=subprocess.PIPE, text=True)
    b.pod.wait_listening(7000)
    got = a.pod.run("python3", "-c", CLIENT, b.pod_ip, "7000").stdout.strip()
    assert got == f"hello from {a.pod_ip}"  # pod-to-pod keeps the source address
    server.communicate(timeout=10)


def test_pod_traffic_leaving_the_cluster_is_masqueraded(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    b.ns.popen("python3", "-c", PEER_ECHO, "7001", stdout=subprocess.DEVNULL)
    b.ns.wait_listening(7001)
    got = a.pod.run("python3", "-c", CLIENT, b.underlay_ip, "7001").stdout.strip()
    assert got == f"hello from {a.underlay_ip}"


def test_1400_byte_ping_with_df_crosses_the_overlay(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    # 1372 bytes of payload + 8 ICMP + 20 IP = a 1400-byte packet, do-not-fragment;
    # 1450 is the pod MTU (underlay 1500 - 50 of VXLAN), the largest that fits
    assert a.pod.ping(b.pod_ip, size=1372, df=True)
    assert a.pod.ping(b.pod_ip, size=1450 - 28, df=True)
    assert not a.pod.ping(b.pod_ip, size=1500 - 28, df=True, timeout=1)



def tx_counters(node: Node, ifname: str) -> tuple[int, int]:
    with open_iproute(node.ns.path) as ipr:
        stats = ipr.link("get", ifname=ifname)[0].get_attr("IFLA_STATS64")
    return stats["tx_bytes"], stats["tx_packets"]


def test_bulk_tcp_crosses_the_underlay_in_gso_packets(nodes: tuple[Node, Node]) -> None:
    """Throughput depends on the tunnel keeping segmentation offload end to end.

    If the VXLAN device lost TX checksum offload (the widely copied workaround
    `ethtool -K flannel.1 tx-checksum-ip-generic off` does that, and TSO goes
    with it), the kernel would split every 64 KiB send into MTU-sized UDP
    packets before the underlay: the mean frame size on u0 then drops under
    1,500 bytes, and throughput to about a third (bench/cni.py).
    """
    a, b = nodes
    server = b.pod.popen("python3", "-c", SINK, "7002", stdout=subprocess.PIPE, text=True)
    b.pod.wait_listening(7002)
    (bytes0, packets0), (vx0, _) = tx_counters(a, "u0"), tx_counters(a, overlay.DEVICE)
    a.pod.run("python3", "-c", BULK, b.pod_ip, "7002", str(32 << 20))
    assert server.communicate(timeout=20)[0].strip() == str(32 << 20)
    (bytes1, packets1), (vx1, _) = tx_counters(a, "u0"), tx_counters(a, overlay.DEVICE)
    assert vx1 - vx0 >= 32 << 20  # it did go through the tunnel
    assert (bytes1 - bytes0) / (packets1 - packets0) > 4 * 1500

def test_reconcile_restores_a_deleted_route(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    before = state(a)
    a.ns.run("ip", "route", "del", "10.244.2.0/24")
    a.ns.run("ip", "neigh", "del", "10.244.2.0", "dev", overlay.DEVICE)
    assert state(a) != before
    with open_iproute(a.ns.path) as ipr:
        overlay.reconcile(ipr, a.index, [b.remote()])
    assert state(a) == before
    assert a.pod.ping(b.pod_ip)


def test_removing_node_b_removes_route_fdb_and_neighbour(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    with open_iproute(a.ns.path) as ipr:
        removed, _ = overlay.reconcile(ipr, a.index, [])
    assert len(removed.routes) == len(removed.fdb) == len(removed.neighbours) == 1
    assert state(a) == ""
    assert "10.244.2.0" not in a.ns.run("ip", "route").stdout
    assert b.mac not in a.ns.run("bridge", "fdb", "show", "dev", overlay.DEVICE).stdout
    assert not a.pod.ping(b.pod_ip, timeout=1)


def test_changed_node_is_rewired(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    moved = overlay.Remote(b.ns.name, ipaddress.IPv4Network("10.244.9.0/24"), b.mac,
                           ipaddress.IPv4Address(b.underlay_ip))
    with open_iproute(a.ns.path) as ipr:
        overlay.reconcile(ipr, a.index, [moved])
    assert "route 10.244.9.0/24 via 10.244.9.0" in state(a)
    assert "10.244.2.0" not in state(a)


def test_failed_add_undoes_neighbour_and_fdb(
        nodes: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch) -> None:
    a, _ = nodes
    before = state(a)
    bad = overlay.Remote("bad", ipaddress.IPv4Network("10.244.5.0/24"), "02:00:00:00:00:05",
                         ipaddress.IPv4Address("172.31.250.9"))

    def route_fails(*args: object) -> None:
        raise NetlinkError(errno.EPERM, "route refused")

    monkeypatch.setattr(overlay, "_route", route_fails)  # our own seam: the last step fails
    with open_iproute(a.ns.path) as ipr, pytest.raises(NetlinkError):
        overlay.add_remote(ipr, a.index, bad)
    assert state(a) == before
    assert "02:00:00:00:00:05" not in a.ns.run("bridge", "fdb", "show").stdout
    assert "10.244.5.0" not in a.ns.run("ip", "neigh", "show", "dev", overlay.DEVICE).stdout


def test_forwarding_rules_and_cleanup(nodes: tuple[Node, Node]) -> None:
    a, _ = nodes
    with a.ns.entered():
        assert not forwarding.ensure(CLUSTER)  # a second time: nothing to write
        a.ns.run("iptables", "-t", "nat", "-F", "MKP-POSTROUTING")
        assert forwarding.ensure(CLUSTER)  # a flushed chain comes back
    filt = a.ns.run("iptables-save", "-t", "filter").stdout
    nat = a.ns.run("iptables-save", "-t", "nat").stdout
    assert filt.count("-A FORWARD -j MKP-FORWARD") == 1
    assert nat.count("-A POSTROUTING -j MKP-POSTROUTING") == 1
    with a.ns.entered():
        forwarding.cleanup()
    assert "MKP-" not in a.ns.run("iptables-save").stdout
    with open_iproute(a.ns.path) as ipr:
        assert overlay.delete_device(ipr)
    assert overlay.DEVICE not in a.ns.run("ip", "link").stdout


PEER_ECHO = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(1); s.settimeout(20)
c, peer = s.accept(); c.sendall(f"hello from {peer[0]}".encode()); c.close()
"""
SINK = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(1); s.settimeout(20)
c, _ = s.accept(); total = 0
while data := c.recv(1 << 20):
    total += len(data)
print(total)
"""
BULK = """
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
c.sendall(bytes(int(sys.argv[3]))); c.close()
"""
CLIENT = """
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
print(c.recv(100).decode())
"""


@pytest.fixture
def containers(busybox_image: str) -> Iterator[Callable[[], tuple[str, str]]]:
    """Real Docker containers without a network, removed at teardown."""
    made: list[str] = []

    def run() -> tuple[str, str]:
        name = f"mkpt-ovl-{uuid.uuid4().hex[:8]}"
        subprocess.run(["docker", "run", "-d", "--name", name, "--network", "none",
                        busybox_image, "sleep", "300"], check=True, capture_output=True)
        made.append(name)
        pid = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", name], check=True,
                             capture_output=True, text=True).stdout.strip()
        return name, f"/proc/{pid}/ns/net"

    yield run
    if made:
        subprocess.run(["docker", "rm", "-f", *made], capture_output=True, check=False)


@pytest.mark.docker
def test_docker_container_on_a_talks_tcp_to_one_on_b(
        nodes: tuple[Node, Node], containers: Callable[[], tuple[str, str]]) -> None:
    a, b = nodes
    ips = {}
    for node, label in ((a, "a"), (b, "b")):
        name, netns_path = containers()
        rc, res = node.cni.call("ADD", container_id=name, netns=netns_path)
        assert rc == 0, res
        ips[label] = (name, res["ips"][0]["address"].split("/")[0])
    with subprocess.Popen(["docker", "exec", ips["b"][0], *nc_listener(7200, "nc")],
                          stdout=subprocess.PIPE) as server:
        try:
            # retried until the server's `docker exec` has started listening
            client = ("for i in $(seq 50); do echo container-to-container | "
                      f"nc -w 3 {ips['b'][1]} 7200 && exit 0; sleep 0.2; done; exit 1")
            subprocess.run(["docker", "exec", ips["a"][0], "sh", "-c", client],
                           check=True, capture_output=True, timeout=60)
            assert first_line(server) == "container-to-container"
        finally:
            server.kill()
    for node, label in ((a, "a"), (b, "b")):
        assert node.cni.call("DEL", container_id=ips[label][0])[0] == 0
