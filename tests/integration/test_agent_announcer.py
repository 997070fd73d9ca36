"""LoadBalancer address announcement against a real api-server, in throwaway namespaces:
two "nodes" and a "lan" on one bridge, an Announcer per node. Exactly one node holds the
address (the LAN reaches it there); when it stops, the other takes over; with
externalTrafficPolicy Local only the node with a ready endpoint campaigns, and the address
follows the endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from agent.announcer import Announcer, AnnounceSettings
from cni_plugins import announce
from minikube_py.api.lease import LB_LEASE_NAMESPACE, lb_lease_name
from minikube_py.api.resources import ENDPOINTS, LEASES, NODES, SERVICES
from minikube_py.client import ApiClient
from minikube_py.client.errors import ClientError
from minikube_py.client.tasks import background
from tests.fixtures import builders
from tests.fixtures.netns import Netns
from tests.helpers import eventually, scratch_namespace

pytestmark = pytest.mark.root

VIPS = {"cluster": "192.168.89.100", "local": "192.168.89.101"}


@pytest.fixture
def lan(netns: Callable[..., Netns]) -> dict[str, Netns]:
    """A "lan" namespace with a bridge, and two node namespaces cabled into it."""
    lan = netns("lan")
    lan.run("ip", "link", "add", "br0", "type", "bridge")
    lan.run("ip", "addr", "add", "192.168.89.1/24", "dev", "br0")
    lan.run("ip", "link", "set", "br0", "up")
    nodes = {}
    for i in (1, 2):
        node = nodes[f"n{i}"] = netns(f"n{i}")
        node.run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", f"p{i}",
                 "netns", lan.name)
        node.run("ip", "addr", "add", f"192.168.89.1{i}/24", "dev", "eth0")
        node.run("ip", "link", "set", "eth0", "up")
        lan.run("ip", "link", "set", f"p{i}", "master", "br0", "up")
    return {"lan": lan, **nodes}


@pytest.fixture
async def env(apiserver: Any, lan: dict[str, Netns]) -> AsyncIterator[tuple[ApiClient, str,
                                                                             dict[str, str]]]:
    """Node objects (Ready) named uniquely for the two namespaces, and a scratch namespace."""
    suffix = uuid.uuid4().hex[:6]
    names = {"n1": f"lb-n1-{suffix}", "n2": f"lb-n2-{suffix}"}
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client, \
            scratch_namespace(client, "announce") as ns:
        for key, name in names.items():
            node = builders.node(name)
            node["status"]["addresses"] = [{"type": "InternalIP",
                                            "address": f"192.168.89.1{key[1]}"}]
            await client.create(NODES, node)
            await client.patch(NODES, name, {"status": node["status"]}, subresource="status")
        try:
            yield client, ns, names
        finally:
            for name in names.values():
                with contextlib.suppress(ClientError):
                    await client.delete(NODES, name)
            with contextlib.suppress(ClientError):  # its namespace is not emptied here
                await client.delete(SERVICES, "web", ns)
            for vip in VIPS.values():
                with contextlib.suppress(ClientError):
                    await client.delete(LEASES, lb_lease_name(vip), LB_LEASE_NAMESPACE)


def announcer(client: ApiClient, node: str, ns: Netns) -> Announcer:
    return Announcer(client, AnnounceSettings(node, "eth0", lease_duration=2.0,
                                              renew_deadline=1.5, retry_period=0.5,
                                              netns=ns.path))


async def holders(lan: dict[str, Netns]) -> list[str]:
    """Which nodes hold the address (read in a thread: pyroute2's sync socket runs its own
    event loop)."""
    return await asyncio.to_thread(
        lambda: [k for k in ("n1", "n2") if announce.held("eth0", lan[k].path)])


async def held_by(lan: dict[str, Netns], *expected: str) -> bool:
    return await holders(lan) == list(expected)


async def create_lb(client: ApiClient, ns: str, policy: str, vip: str) -> None:
    svc = builders.service("web", ns, type="LoadBalancer",
                           spec={"externalTrafficPolicy": policy},
                           ports=[{"port": 80, "protocol": "TCP"}])
    await client.create(SERVICES, svc, ns)
    await client.patch(SERVICES, "web", {"status": {"loadBalancer": {"ingress": [
        {"ip": vip, "ipMode": "VIP"}]}}}, ns, subresource="status")


async def set_endpoint_node(client: ApiClient, ns: str, node: str) -> None:
    ep = builders.endpoints("web", ns, ips=["10.244.9.9"])
    ep["subsets"][0]["addresses"][0]["nodeName"] = node
    try:
        current = await client.get(ENDPOINTS, "web", ns)
        await client.update(ENDPOINTS, {**current, "subsets": ep["subsets"]})
    except ClientError:
        await client.create(ENDPOINTS, ep, ns)


async def test_one_node_announces_and_the_other_takes_over(
        env: tuple[ApiClient, str, dict[str, str]], lan: dict[str, Netns]) -> None:
    client, ns, names = env
    vip = VIPS["cluster"]
    await create_lb(client, ns, "Cluster", vip)
    first = asyncio.create_task(announcer(client, names["n1"], lan["n1"]).run())
    try:
        await eventually(lambda: held_by(lan, "n1"))
        async with background(announcer(client, names["n2"], lan["n2"]).run(), "announce-n2"):
            await asyncio.sleep(1.0)  # n2 campaigns meanwhile, and must not win
            assert await holders(lan) == ["n1"]
            assert await asyncio.to_thread(lan["lan"].ping, vip)
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)
            await eventually(lambda: held_by(lan, "n2"), timeout=10)
            assert await asyncio.to_thread(lan["lan"].ping, vip)
    finally:
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
    assert await holders(lan) == []  # stopping gave everything back


async def test_local_policy_follows_the_endpoint(
        env: tuple[ApiClient, str, dict[str, str]], lan: dict[str, Netns]) -> None:
    client, ns, names = env
    vip = VIPS["local"]
    await create_lb(client, ns, "Local", vip)
    await set_endpoint_node(client, ns, names["n2"])
    async with background(announcer(client, names["n1"], lan["n1"]).run(), "announce-n1"), \
            background(announcer(client, names["n2"], lan["n2"]).run(), "announce-n2"):
        await eventually(lambda: held_by(lan, "n2"))
        await set_endpoint_node(client, ns, names["n1"])
        await eventually(lambda: held_by(lan, "n1"), timeout=10)
        assert await asyncio.to_thread(lan["lan"].ping, vip)
    assert await holders(lan) == []
