"""The floating address on a real kernel (cni_plugins/vip.py): two namespaces on a veth
"switch"; the one that claims the address holds it and its gratuitous ARP rewrites the
other's stale neighbour entry at once; release takes it away again."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cni_plugins import vip
from tests.fixtures.netns import Netns

pytestmark = pytest.mark.root

VIP, STALE_MAC = "192.168.232.250", "02:00:00:00:00:01"


def test_claim_announces_and_release_removes(netns: Callable[..., Netns]) -> None:
    holder, peer = netns("vipholder"), netns("vippeer")
    holder.run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
               "netns", peer.name)
    for ns, ip in ((holder, "192.168.232.1/24"), (peer, "192.168.232.2/24")):
        ns.run("ip", "addr", "add", ip, "dev", "eth0")
        ns.run("ip", "link", "set", "eth0", "up")
    mac = holder.run("cat", "/sys/class/net/eth0/address").stdout.strip()
    # The peer believes the address is at another machine (a previous holder).
    peer.run("ip", "neigh", "replace", VIP, "lladdr", STALE_MAC, "dev", "eth0", "nud", "stale")
    with holder.entered():
        vip.claim("eth0", VIP)
        vip.claim("eth0", VIP)  # again: held already, announced again, no error
        assert vip.holds("eth0", VIP)
    assert vip.holds("eth0", VIP, holder.name) and not vip.holds("eth0", VIP, peer.name)
    neigh = peer.run("ip", "neigh", "show", VIP, "dev", "eth0").stdout
    assert mac in neigh and STALE_MAC not in neigh, neigh  # the announcement, no ping
    assert peer.ping(VIP)
    with holder.entered():
        vip.release("eth0", VIP)
        vip.release("eth0", VIP)  # gone already: done
        vip.release("nosuchif", VIP)
        assert not vip.holds("eth0", VIP)
    assert not peer.ping(VIP, timeout=1)
