"""Layer-2 announcement in throwaway namespaces: a "node" and a "lan" namespace on one
veth cable. A claimed address answers from the LAN, a take-over's gratuitous ARP moves
the LAN's neighbour entry to the new MAC, and release touches only our labelled addresses.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cni_plugins import announce
from tests.fixtures.netns import Netns

pytestmark = pytest.mark.root

VIP = "192.168.88.100"


@pytest.fixture
def cable(netns: Callable[..., Netns]) -> tuple[Netns, Netns]:
    node, lan = netns("node"), netns("lan")
    node.run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns",
             lan.name)
    for ns, ip in ((node, "192.168.88.11"), (lan, "192.168.88.1")):
        ns.run("ip", "addr", "add", f"{ip}/24", "dev", "eth0")
        ns.run("ip", "link", "set", "eth0", "up")
    return node, lan


def lan_neighbour(lan: Netns) -> str:
    out = lan.run("ip", "-4", "neigh", "show", VIP, "dev", "eth0").stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else ""


def test_claimed_address_answers_and_release_leaves_the_rest(
        cable: tuple[Netns, Netns]) -> None:
    node, lan = cable
    node.run("ip", "addr", "add", "192.168.88.50/32", "dev", "eth0")  # the admin's: not ours
    assert not lan.ping(VIP, timeout=1)
    with node.entered():
        assert announce.claim("eth0", VIP) is True
        assert announce.claim("eth0", VIP) is False  # idempotent
        assert announce.held("eth0") == [VIP]
    assert lan.ping(VIP)
    with node.entered():
        assert announce.release_all("eth0") == [VIP]
        assert announce.release("eth0", "192.168.88.50") is False
        assert announce.held("eth0") == []
    addresses = node.run("ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout
    assert "192.168.88.50/32" in addresses and VIP not in addresses


def test_gratuitous_arp_moves_the_lan_to_the_new_holder(cable: tuple[Netns, Netns]) -> None:
    node, lan = cable
    stale = "02:00:00:00:00:99"  # the previous holder's MAC, still in the LAN's cache
    lan.run("ip", "neigh", "add", VIP, "lladdr", stale, "dev", "eth0", "nud", "stale")
    mac = node.run("cat", "/sys/class/net/eth0/address").stdout.strip()
    with node.entered():
        announce.claim("eth0", VIP)
    try:
        assert lan_neighbour(lan) == mac
    finally:
        with node.entered():
            announce.release_all("eth0")


def test_a_name_too_long_to_label_is_refused() -> None:
    with pytest.raises(announce.AnnounceError, match="too long"):
        announce.label("a-very-long-if0")
