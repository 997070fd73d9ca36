"""Service traffic through real iptables rules, in throwaway network namespaces.

Topology per test: a "node" namespace (the proxy's iptables live there) with a
node address on a veth "uplink" and the default route, and "pod" namespaces each
joined to the node by a veth pair and a /32 route, like a routed CNI. Backends
are busybox httpd servers answering with their own name; clients are small
Python loops that open a fresh connection per request (one conntrack entry
each, so each request is balanced anew).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import agent.proxy
from agent.proxy import iptables
from agent.proxy.proxier import Proxier
from agent.proxy.settings import ProxySettings
from tests.fixtures.netns import Netns
from tests.fixtures.service_traffic import (
    CONNECT_TIME,
    GATEWAY,
    NODE_IP,
    NODE_PORT,
    VIP,
    Cluster,
    Stream,
)

pytestmark = pytest.mark.root

@pytest.fixture
def cluster(netns: Callable[..., Netns], tmp_path: Any, request: pytest.FixtureRequest,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    """A node with a proxier; parametrized "lean", it writes the large-cluster form."""
    lean = getattr(request, "param", "") == "lean"
    if lean:
        monkeypatch.setattr(iptables, "LARGE_CLUSTER_ENDPOINTS", 0)
    c = Cluster(netns, str(tmp_path))
    yield c
    if lean:  # the rules under test really were the lean ones
        nat = c.node.run("iptables-legacy-save", "-t", "nat").stdout
        rules = [line for line in nat.splitlines() if line.startswith("-A KUBE-SEP-")]
        assert rules and not [line for line in rules if "comment" in line or "-m tcp" in line]
    # The namespace goes at teardown anyway; this proves cleanup() leaves nothing of ours.
    asyncio.run(c.proxy.cleanup())
    assert c.our_chains() == []


# Flows that depend on rule shapes also run on the large-cluster (lean) form.
BOTH_FORMS = pytest.mark.parametrize("cluster", ["kube-proxy", "lean"], indirect=True)


@BOTH_FORMS
async def test_cluster_ip_balances_from_a_pod_and_answers_from_the_node(
        cluster: Cluster) -> None:
    for name in ("a", "b", "c"):
        cluster.pod(name)
    cluster.pod("client", serve=False)
    cluster.expose(["a", "b", "c"])
    await cluster.proxy.sync()
    cluster.wait_serving()
    counts = await asyncio.to_thread(cluster.get, "client", VIP, 80, 300)
    assert sum(counts.values()) == 300
    for name in ("a", "b", "c"):
        assert 60 <= counts[name] <= 141, counts  # each between 20% and 47%
    assert sum((await asyncio.to_thread(cluster.get, "node", VIP, 80, 5)).values()) == 5


async def test_removed_backend_stops_getting_traffic_within_two_seconds(
        cluster: Cluster) -> None:
    for name in ("a", "b"):
        cluster.pod(name)
    cluster.pod("client", serve=False)
    cluster.expose(["a", "b"])
    loop = asyncio.create_task(cluster.proxy.loop())
    try:
        cluster.wait_serving()
        with Stream(cluster.ns("client"), VIP, 80) as stream:
            await stream.wait_for({"a", "b"})
            changed = time.monotonic()
            cluster.set_backends("web", ["b"])
            await asyncio.sleep(3)
        assert stream.last_from("a") - changed < 2.0, "removed backend still answered"
        assert stream.last_from("b") > changed + 2.0  # the service kept answering
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop


async def test_every_backend_answers_once_endpoint_churn_settles(cluster: Cluster) -> None:
    """Endpoints flapping faster than syncs complete, full and partial syncs interleaved
    (a lab run once saw a ClusterIP answer from only some backends for > 30 s under
    load): once they settle, every backend answers within 2 s."""
    names = ["a", "b", "c"]
    for name in names:
        cluster.pod(name)
    cluster.pod("client", serve=False)
    cluster.expose(names)
    cluster.proxy.settings = dataclasses.replace(cluster.proxy.settings, full_sync_period=0.3)
    loop = asyncio.create_task(cluster.proxy.loop())
    try:
        cluster.wait_serving()
        rng = random.Random(7)
        for _ in range(60):
            cluster.set_backends("web", rng.sample(names, rng.randint(0, 3)))
            await asyncio.sleep(rng.choice((0.0, 0.01, 0.05)))
        cluster.set_backends("web", names)
        settled = time.monotonic()
        with Stream(cluster.ns("client"), VIP, 80) as stream:
            await stream.wait_for(set(names), timeout=10)
        first = {who: min(t for t, w in stream.answers if w == who) for who in names}
        assert max(first.values()) - settled < 2.0, first
        assert not loop.done()
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop


@BOTH_FORMS
async def test_node_port_answers_on_every_node_address(cluster: Cluster) -> None:
    cluster.pod("a")
    cluster.pod("client", serve=False)
    cluster.expose(["a"], node_port=NODE_PORT)
    await cluster.proxy.sync()
    cluster.wait_serving()
    for where in ("client", "node"):
        for address in (NODE_IP, GATEWAY):
            got = await asyncio.to_thread(cluster.get, where, address, NODE_PORT, 2)
            assert got == {"a": 2}, (where, address)


@BOTH_FORMS
async def test_client_ip_affinity_sticks(cluster: Cluster) -> None:
    for name in ("a", "b", "c"):
        cluster.pod(name)
    cluster.pod("client", serve=False)
    cluster.expose(["a", "b", "c"], affinity=True)
    await cluster.proxy.sync()
    cluster.wait_serving()
    counts = await asyncio.to_thread(cluster.get, "client", VIP, 80, 30)
    assert len(counts) == 1 and sum(counts.values()) == 30, counts


@BOTH_FORMS
async def test_pod_reaches_itself_through_its_service(cluster: Cluster) -> None:
    cluster.pod("a")
    cluster.expose(["a"])
    await cluster.proxy.sync()
    cluster.wait_serving()
    assert await asyncio.to_thread(cluster.get, "a", VIP, 80, 3) == {"a": 3}


@pytest.mark.parametrize("where", ["client", "node"])
async def test_service_without_endpoints_is_refused_at_once(
        cluster: Cluster, where: str) -> None:
    cluster.pod("client", serve=False)
    cluster.expose([], node_port=NODE_PORT)
    await cluster.proxy.sync()
    for host, port in ((VIP, 80), (NODE_IP, NODE_PORT)):
        # Timed inside the namespace: a loaded machine may take a second to start Python.
        out = cluster.ns(where).run("python3", "-c", CONNECT_TIME, host, str(port)).stdout
        outcome, seconds = out.split()
        assert outcome == "refused" and float(seconds) < 1.0, (host, port, out)


async def test_deleting_a_service_removes_its_chains(cluster: Cluster) -> None:
    cluster.pod("a")
    cluster.expose(["a"], node_port=NODE_PORT)
    cluster.expose(["a"], name="other", ip="10.96.7.11")
    await cluster.proxy.sync()
    before = set(cluster.our_chains())
    cluster.proxy.delete_service({"metadata": {"namespace": "default", "name": "web"}})
    await cluster.proxy.sync()
    after = set(cluster.our_chains())
    assert {c[:9] for c in before - after} == {"KUBE-SVC-", "KUBE-SEP-", "KUBE-EXT-"}
    assert len(before - after) == 3
    assert any(c.startswith("KUBE-SVC-") for c in after)  # the other service stays


async def test_flushed_chain_is_repaired_by_the_next_full_sync(cluster: Cluster) -> None:
    cluster.pod("a")
    cluster.pod("client", serve=False)
    cluster.expose(["a"])
    await cluster.proxy.sync()
    cluster.wait_serving()
    svc = next(c for c in cluster.our_chains() if c.startswith("KUBE-SVC-"))
    cluster.node.run("iptables-legacy", "-t", "nat", "-F", svc)
    cluster.node.run("iptables-legacy", "-t", "nat", "-D", "PREROUTING", "-m", "comment",
                     "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES")
    assert (await cluster.proxy.sync()).written == 0  # a partial sync does not notice
    await cluster.proxy.sync(full=True)
    assert await asyncio.to_thread(cluster.get, "client", VIP, 80, 2) == {"a": 2}


UDP_ECHO = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5353))
while True:
    data, peer = s.recvfrom(512)
    s.sendto(sys.argv[1].encode(), peer)
"""

UDP_ASK = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 40000))
s.settimeout(1)
s.sendto(b"?", (sys.argv[1], 53))
print(s.recvfrom(512)[0].decode())
"""


async def test_removed_udp_endpoint_flows_are_forgotten(cluster: Cluster) -> None:
    for name in ("a", "b"):
        cluster.pod(name, serve=False)
        cluster.ns(name).popen("python3", "-c", UDP_ECHO, name)
    cluster.pod("client", serve=False)
    cluster.proxy.set_service({"metadata": {"namespace": "default", "name": "dns"}, "spec": {
        "clusterIP": VIP, "ports": [{"name": "dns", "protocol": "UDP", "port": 53}]}})
    cluster.proxy.set_endpoints({"metadata": {"namespace": "default", "name": "dns"},
                                 "subsets": [{"addresses": [{"ip": cluster.pods["a"][1]}],
                                              "ports": [{"name": "dns", "port": 5353,
                                                         "protocol": "UDP"}]}]})
    await cluster.proxy.sync()
    ask = ("python3", "-c", UDP_ASK, VIP)
    deadline = time.monotonic() + 5
    while (r := cluster.ns("client").run(*ask, check=False)).returncode:
        assert time.monotonic() < deadline, r.stderr
    assert r.stdout.strip() == "a"
    cluster.proxy.set_endpoints({"metadata": {"namespace": "default", "name": "dns"},
                                 "subsets": [{"addresses": [{"ip": cluster.pods["b"][1]}],
                                              "ports": [{"name": "dns", "port": 5353,
                                                         "protocol": "UDP"}]}]})
    await cluster.proxy.sync()
    # Same source port, same 5-tuple: without the flush the old entry would still say "a".
    assert cluster.ns("client").run(*ask).stdout.strip() == "b"



def test_down_cleanup_removes_our_chains_from_both_backends(
        netns: Callable[..., Netns]) -> None:
    """A previous run may have used the other backend; `down` must clear both."""
    node = netns("node")
    service = {"metadata": {"namespace": "default", "name": "web"},
               "spec": {"clusterIP": VIP, "type": "NodePort",
                        "ports": [{"name": "http", "port": 80, "nodePort": NODE_PORT}]}}
    for mode in ("legacy", "nft"):
        proxy = Proxier(None, ProxySettings(netns=node.name, backend=mode))
        proxy.set_service(service)
        asyncio.run(proxy.sync())
    # Someone else's chain and jump in the same tables must survive.
    node.run("iptables-nft", "-t", "nat", "-N", "OTHER")
    node.run("iptables-nft", "-t", "nat", "-A", "PREROUTING", "-j", "OTHER")

    agent.proxy.cleanup(node.name)

    for mode in ("legacy", "nft"):
        save = node.run(f"iptables-{mode}-save").stdout
        assert "KUBE-" not in save, (mode, save)
    assert "-A PREROUTING -j OTHER" in node.run("iptables-nft-save", "-t", "nat").stdout
