"""External traffic through real iptables rules in throwaway namespaces: a client outside
the node (on its uplink) reaching a LoadBalancer address and an external IP; Cluster
policy spreads and masquerades, Local keeps the client's address and stays on the node,
loadBalancerSourceRanges let only their sources in; the healthCheckNodePort answers as
kube-proxy's does.
"""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agent.proxy.proxier import Proxier
from agent.proxy.settings import ProxySettings
from tests.fixtures.netns import Netns
from tests.fixtures.service_traffic import NODE_IP, VIP, Cluster

pytestmark = pytest.mark.root

LB_IP = "192.168.77.200"
EXTERNAL_IP = "192.168.77.201"
OUTSIDE_IP = "192.168.77.2"
NODE = "node-1"

# Answers "<pod>@<peer address>": what the backend saw as the client.
PEER_ECHO = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080))
s.listen(64)
while True:
    c, peer = s.accept()
    c.recv(4096)
    c.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + f"{sys.argv[1]}@{peer[0]}\n".encode())
    c.close()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def cluster(netns: Callable[..., Netns], tmp_path: Any) -> Iterator[Cluster]:
    """The node's uplink peer moved into an "outside" namespace (the LAN), which routes
    the LoadBalancer and external addresses to the node; pod "a" is on this node, pod "b"
    (by its Endpoints' nodeName) on another."""
    c = Cluster(netns, str(tmp_path))
    c.proxy = Proxier(None, ProxySettings(netns=c.node.name, backend="legacy", node_name=NODE,
                                          health_check_address="127.0.0.1"))
    outside = c.pods["outside"] = (netns("outside"), OUTSIDE_IP)
    c.node.run("ip", "link", "set", "ext1", "netns", outside[0].name)
    for argv in (("ip", "addr", "add", f"{OUTSIDE_IP}/24", "dev", "ext1"),
                 ("ip", "link", "set", "ext1", "up"),
                 ("ip", "route", "add", f"{LB_IP}/32", "via", NODE_IP),
                 ("ip", "route", "add", f"{EXTERNAL_IP}/32", "via", NODE_IP)):
        outside[0].run(*argv)
    for name in ("a", "b"):
        c.pod(name, serve=False)
        c.ns(name).popen("python3", "-c", PEER_ECHO, name)
    yield c
    asyncio.run(c.proxy.cleanup())
    if c.proxy.health is not None:
        asyncio.run(c.proxy.health.close())
    assert c.our_chains() == []


def expose_lb(c: Cluster, *, local: bool, ranges: tuple[str, ...] = (),
              health_port: int = 0) -> None:
    spec: dict[str, Any] = {
        "type": "LoadBalancer", "clusterIP": VIP, "externalIPs": [EXTERNAL_IP],
        "externalTrafficPolicy": "Local" if local else "Cluster",
        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30090}]}
    if ranges:
        spec["loadBalancerSourceRanges"] = list(ranges)
    if health_port:
        spec["healthCheckNodePort"] = health_port
    c.proxy.set_service({"metadata": {"namespace": "default", "name": "web"}, "spec": spec,
                         "status": {"loadBalancer": {"ingress": [{"ip": LB_IP,
                                                                  "ipMode": "VIP"}]}}})
    c.proxy.set_endpoints({
        "metadata": {"namespace": "default", "name": "web"},
        "subsets": [{"addresses": [{"ip": c.pods["a"][1], "nodeName": NODE},
                                   {"ip": c.pods["b"][1], "nodeName": "node-2"}],
                     "ports": [{"name": "http", "port": 8080}]}]})


async def answers(c: Cluster, host: str, n: int = 40) -> set[str]:
    return set(await asyncio.to_thread(c.get, "outside", host, 80, n))


@pytest.mark.parametrize("host", [LB_IP, EXTERNAL_IP])
async def test_cluster_policy_spreads_and_masquerades(cluster: Cluster, host: str) -> None:
    expose_lb(cluster, local=False)
    await cluster.proxy.sync()
    cluster.wait_serving()
    seen = await answers(cluster, host)
    assert {s.split("@")[0] for s in seen} == {"a", "b"}
    assert OUTSIDE_IP not in {s.split("@")[1] for s in seen}  # SNAT to the node


@pytest.mark.parametrize("host", [LB_IP, EXTERNAL_IP])
async def test_local_policy_keeps_the_client_address(cluster: Cluster, host: str) -> None:
    expose_lb(cluster, local=True)
    await cluster.proxy.sync()
    cluster.wait_serving()
    assert await answers(cluster, host) == {f"a@{OUTSIDE_IP}"}


async def test_source_ranges_admit_only_their_sources(cluster: Cluster) -> None:
    expose_lb(cluster, local=True, ranges=("10.0.0.0/8",))
    await cluster.proxy.sync()
    cluster.wait_serving()
    assert await asyncio.to_thread(cluster.try_get, "outside", LB_IP, 80) == {}
    expose_lb(cluster, local=True, ranges=("10.0.0.0/8", f"{OUTSIDE_IP}/32"))
    await cluster.proxy.sync()
    assert await answers(cluster, LB_IP, 3) == {f"a@{OUTSIDE_IP}"}


def health(port: int) -> tuple[int, dict[str, Any], str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return r.status, json.loads(r.read()), r.headers["X-Load-Balancing-Endpoint-Weight"]
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), e.headers["X-Load-Balancing-Endpoint-Weight"]


async def test_health_check_node_port_counts_local_endpoints(cluster: Cluster) -> None:
    port = free_port()
    expose_lb(cluster, local=True, health_port=port)
    await cluster.proxy.sync()
    assert await asyncio.to_thread(health, port) == (200, {
        "service": {"namespace": "default", "name": "web"}, "localEndpoints": 1,
        "serviceProxyHealthy": True}, "1")
    cluster.proxy.set_endpoints({"metadata": {"namespace": "default", "name": "web"},
                                 "subsets": [{"addresses": [{"ip": cluster.pods["b"][1],
                                                             "nodeName": "node-2"}],
                                              "ports": [{"name": "http", "port": 8080}]}]})
    await cluster.proxy.sync()
    status, body, weight = await asyncio.to_thread(health, port)
    assert (status, body["localEndpoints"], weight) == (503, 0, "0")
    assert await asyncio.to_thread(cluster.try_get, "outside", LB_IP, 80) == {}  # dropped
    cluster.proxy.delete_service({"metadata": {"namespace": "default", "name": "web"}})
    await cluster.proxy.sync()
    with pytest.raises(urllib.error.URLError):
        await asyncio.to_thread(health, port)
