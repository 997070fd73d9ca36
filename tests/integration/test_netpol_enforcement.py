"""NetworkPolicy enforcement with real iptables and ipsets in throwaway namespaces.

A "node" namespace routes between "pod" namespaces (tests/fixtures/service_traffic.py's
Cluster), so pod-to-pod traffic crosses the node's FORWARD chain as on a real node; the
Enforcer's caches are filled with the Pods, Namespaces and NetworkPolicies of the case and
it syncs into the node. The cases are the Kubernetes network-policy matrix's core ones.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agent.netpol.enforcer import Enforcer, NetpolSettings
from cni_plugins import dataplane, ipset_runner, iptables_runner
from cni_plugins.nsutil import entered
from minikube_py.trace.path import NodeState, Source, Trace, Tracer
from tests.fixtures.caches import fill
from tests.fixtures.netns import Netns
from tests.fixtures.service_traffic import BUSYBOX, Cluster

pytestmark = pytest.mark.root

NODE = "node-1"
CONNECTS = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 1)"


class World:
    """Pods (namespace, labels) on the node, and the enforcer fed with them."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        # no ApiClient: the test feeds the enforcer its objects
        self.enforcer = Enforcer(None,  # type: ignore[arg-type]
                                 NetpolSettings(NODE, netns=cluster.node.name))
        self.namespaces: dict[str, dict[str, str]] = {}

    def namespace(self, name: str, **labels: str) -> None:
        self.namespaces[name] = labels
        fill(self.enforcer.namespaces, {"metadata": {"name": name, "labels": labels}})

    def pod(self, name: str, namespace: str, *, serve: tuple[int, ...] = (8080,),
            **labels: str) -> str:
        ip = self.cluster.pod(name, serve=8080 in serve)
        for port in serve:
            if port != 8080:
                self.cluster.ns(name).popen(BUSYBOX, "httpd", "-f", "-p", str(port), "-h", "/")
        fill(self.enforcer.pods, {
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"nodeName": NODE, "containers": [{"name": "c", "ports": [
                {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}]}]},
            "status": {"podIP": ip, "phase": "Running"}})
        return ip

    def policy(self, name: str, namespace: str, spec: dict[str, Any]) -> None:
        fill(self.enforcer.policies, {"metadata": {"name": name, "namespace": namespace},
                                      "spec": spec})

    async def sync(self) -> None:
        await self.enforcer.sync()
        self.cluster.wait_serving()

    def trace(self, src: str, dst: str, port: int = 8080) -> Trace:
        """`trace`'s path from pod `src` to `dst`, computed from the node's real rules and
        ipsets (the snapshot the agent's /debug/dataplane serves)."""
        pods = self.enforcer.pods.list()
        key = {p["metadata"]["name"]: f"{p['metadata']['namespace']}/{p['metadata']['name']}"
               for p in pods}
        with entered(self.cluster.node.path):
            raw = dataplane.snapshot([iptables_runner.firewall()],
                                     {key[src]: self.cluster.ns(src).path})
        tracer = Tracer({NODE: NodeState(NODE, raw)}, [], pods)
        ip = ipaddress.IPv4Address(self.cluster.pods[src][1])
        return tracer.trace(Source(NODE, ip, key[src]),
                            ipaddress.IPv4Address(self.cluster.pods[dst][1]), port)

    def reaches(self, src: str, dst: str, port: int = 8080) -> bool:
        ip = self.cluster.pods[dst][1]
        proc = self.cluster.ns(src).run("python3", "-c", CONNECTS, ip, str(port), check=False)
        return proc.returncode == 0


@pytest.fixture
def world(netns: Callable[..., Netns], tmp_path: Any) -> Iterator[World]:
    w = World(Cluster(netns, str(tmp_path)))
    w.namespace("prod", team="prod")
    w.namespace("dev", team="dev")
    w.pod("web", "prod", serve=(8080, 9090), app="web")
    w.pod("db", "prod", app="db")
    w.pod("tester", "dev", app="tester")
    yield w
    w.enforcer.cleanup_blocking()
    node = w.cluster.node
    assert "MKP-" not in node.run("iptables-save", "-t", "filter").stdout
    assert ipset_runner.names("MKP-", node.name) == set()


def matrix(w: World, pairs: list[tuple[str, str]], port: int = 8080) -> dict[str, bool]:
    return {f"{s}->{d}": w.reaches(s, d, port) for s, d in pairs}


PAIRS = [("db", "web"), ("tester", "web"), ("web", "db"), ("tester", "db")]


async def test_without_policies_everything_flows(world: World) -> None:
    await world.sync()
    assert all(matrix(world, PAIRS).values())


async def test_default_deny_ingress_then_allow_from_a_namespace(world: World) -> None:
    world.policy("deny", "prod", {"podSelector": {}, "policyTypes": ["Ingress"]})
    await world.sync()
    assert not any(matrix(world, PAIRS).values())
    assert world.reaches("web", "tester")  # dev is not isolated; replies come back
    world.policy("from-dev", "prod", {"podSelector": {"matchLabels": {"app": "web"}},
                                      "ingress": [{"from": [{"namespaceSelector": {
                                          "matchLabels": {"team": "dev"}}}]}]})
    await world.sync()
    assert matrix(world, PAIRS) == {"db->web": False, "tester->web": True, "web->db": False,
                                    "tester->db": False}


async def test_pod_and_namespace_selectors_together(world: World) -> None:
    world.policy("db-from-web", "prod", {
        "podSelector": {"matchLabels": {"app": "db"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]})
    await world.sync()
    assert matrix(world, PAIRS) == {"db->web": True, "tester->web": True, "web->db": True,
                                    "tester->db": False}


async def test_egress_to_an_ip_block_with_an_exception(world: World) -> None:
    db = world.cluster.pods["db"][1]
    world.policy("egress", "dev", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [
        {"to": [{"ipBlock": {"cidr": "10.244.0.0/24", "except": [f"{db}/32"]}}]}]})
    await world.sync()
    assert world.reaches("tester", "web") and not world.reaches("tester", "db")
    assert world.reaches("web", "db")  # prod's egress is not isolated


async def test_named_ports_and_port_ranges(world: World) -> None:
    world.policy("http-only", "prod", {"podSelector": {"matchLabels": {"app": "web"}},
                                       "ingress": [{"ports": [{"port": "http"}]}]})
    await world.sync()
    assert world.reaches("tester", "web", 8080) and not world.reaches("tester", "web", 9090)
    world.policy("http-only", "prod", {"podSelector": {"matchLabels": {"app": "web"}},
                                       "ingress": [{"ports": [{"port": 9000,
                                                               "endPort": 9100}]}]})
    await world.sync()
    assert not world.reaches("tester", "web", 8080) and world.reaches("tester", "web", 9090)


async def test_removing_the_last_policy_removes_everything(world: World) -> None:
    world.policy("deny", "prod", {"podSelector": {}, "policyTypes": ["Ingress"]})
    await world.sync()
    assert not world.reaches("tester", "web")
    world.enforcer.policies.cache.remove("prod/deny")
    await asyncio.wait_for(world.sync(), 30)
    assert world.reaches("tester", "web")
    node = world.cluster.node
    assert "MKP-" not in node.run("iptables-save", "-t", "filter").stdout
    assert ipset_runner.names("MKP-", node.name) == set()


async def test_trace_names_the_policy_and_rule_that_decide_as_the_kernel_does(
        world: World) -> None:
    db = world.cluster.pods["db"][1]
    world.policy("deny", "prod", {"podSelector": {}, "policyTypes": ["Ingress"]})
    world.policy("from-dev", "prod", {"podSelector": {"matchLabels": {"app": "web"}},
                                      "ingress": [{"from": [{"namespaceSelector": {
                                          "matchLabels": {"team": "dev"}}}]}]})
    world.policy("egress", "dev", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [
        {"to": [{"ipBlock": {"cidr": "10.244.0.0/24", "except": [f"{db}/32"]}}]}]})
    await world.sync()

    # pyroute2's synchronous socket runs a loop of its own: not on this test's loop.
    await asyncio.to_thread(_trace_agrees_with_the_kernel, world)


def _trace_agrees_with_the_kernel(world: World) -> None:
    def verdicts(src: str, dst: str) -> list[tuple[str, str, list[str], list[str]]]:
        return [(h.detail["direction"], h.detail["verdict"], h.detail["policies"],
                 h.detail["allowedBy"]) for h in world.trace(src, dst).hops
                if h.kind == "networkpolicy"]

    assert world.reaches("tester", "web")
    assert verdicts("tester", "web") == [
        ("egress", "allowed", ["dev/egress"], ["dev/egress rule 0"]),
        ("ingress", "allowed", ["prod/deny", "prod/from-dev"], ["prod/from-dev rule 0"])]
    assert not world.reaches("tester", "db")  # db's address is the ipBlock's exception
    assert verdicts("tester", "db") == [("egress", "dropped", ["dev/egress"], [])]
    assert not world.reaches("db", "web")
    dropped = world.trace("db", "web")
    assert [v[:2] for v in verdicts("db", "web")] == [("egress", "not isolated"),
                                                    ("ingress", "dropped")]
    assert dropped.outcome.startswith("DROP in ") and dropped.outcome.endswith(
        f"NetworkPolicy ingress of pod prod/web ({world.cluster.pods['web'][1]}): DROPPED: "
        "selected by prod/deny, prod/from-dev, no rule of theirs allows it")
