"""Which Nodes the agent's overlay wires, from their spec and annotations."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from agent.overlay import PUBLIC_IP, VTEP_MAC, Overlay, remotes_from
from agent.settings import AgentSettings
from cni_plugins import overlay
from tests.fixtures import builders
from tests.fixtures.caches import fill
from tests.fixtures.fake_client import FakeClient
from tests.fixtures.queues import RecordingQueue


def node(name: str, cidr: str | None, mac: str | None = "02:00:00:00:00:01",
         ip: str | None = "192.0.2.1") -> dict[str, Any]:
    ann = {k: v for k, v in ((VTEP_MAC, mac), (PUBLIC_IP, ip)) if v}
    return builders.node(name, pod_cidr=cidr, annotations=ann)


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


class Broken(Overlay):
    """The host side is not reached: a pass that has a podCIDR fails here."""

    async def converge(self, subnet: ipaddress.IPv4Network) -> None:
        raise RuntimeError(f"no device for {subnet}")


@pytest.mark.parametrize(("cidr", "fails"), [
    pytest.param(None, False, id="no-podcidr-yet-waits"),
    pytest.param("10.244.0.0/24", True, id="failed-pass-still-resyncs"),
])
async def test_every_pass_queues_the_next_resync(cidr: str | None, fails: bool,
                                                 fake_client: FakeClient) -> None:
    settings = AgentSettings(node_name="me", resync_period=7.0)
    loop = Broken(fake_client, settings)
    loop.queue = RecordingQueue("overlay")
    fill(loop.nodes, node("me", cidr))
    if fails:
        with pytest.raises(RuntimeError, match="no device for 10.244.0.0/24"):
            await loop.sync("me")
    else:
        await loop.sync("me")
    assert loop.queue.delayed == [("me", 7.0)]
    given_up_on = loop.object_for("me")
    assert given_up_on is not None and given_up_on["metadata"]["name"] == "me", \
        "a given-up pass is told on this Node"


def test_any_node_event_queues_this_nodes_one_key(fake_client: FakeClient) -> None:
    loop = Overlay(fake_client, AgentSettings(node_name="me"))
    loop.queue = RecordingQueue("overlay")
    fill(loop.nodes, node("b", "10.244.1.0/24"))
    loop.nodes.apply("MODIFIED", node("b", "10.244.1.0/24", ip="192.0.2.9"))
    loop.nodes.apply("DELETED", node("b", "10.244.1.0/24"))
    assert loop.queue.added == ["me", "me"]
    assert len(loop.queue) == 1
