"""Which Nodes the agent's overlay wires, from their spec and annotations."""

from __future__ import annotations

from agent.overlay import PUBLIC_IP, VTEP_MAC, remotes_from
from cni_plugins import overlay


def node(name: str, cidr: str | None, mac: str | None = "02:00:00:00:00:01",
         ip: str | None = "192.0.2.1") -> dict:
    ann = {k: v for k, v in ((VTEP_MAC, mac), (PUBLIC_IP, ip)) if v}
    return {"metadata": {"name": name, "annotations": ann},
            "spec": {"podCIDR": cidr} if cidr else {}}


def test_only_other_complete_nodes_become_remotes() -> None:
    nodes = [node("me", "10.244.0.0/24"), node("b", "10.244.1.0/24", ip="192.0.2.2"),
             node("no-cidr", None), node("no-mac", "10.244.3.0/24", mac=None),
             node("bad-ip", "10.244.4.0/24", ip="not-an-ip"),
             node("a", "10.244.2.0/24", mac="02:00:00:00:00:0A", ip="192.0.2.3")]
    assert overlay.render(overlay.desired(remotes_from(nodes, "me"))) == """\
fdb 02:00:00:00:00:01 dev mkp.vxlan dst 192.0.2.2 self permanent
fdb 02:00:00:00:00:0a dev mkp.vxlan dst 192.0.2.3 self permanent
neigh 10.244.1.0 lladdr 02:00:00:00:00:01 dev mkp.vxlan nud permanent
neigh 10.244.2.0 lladdr 02:00:00:00:00:0a dev mkp.vxlan nud permanent
route 10.244.1.0/24 via 10.244.1.0 dev mkp.vxlan onlink
route 10.244.2.0/24 via 10.244.2.0 dev mkp.vxlan onlink"""
