"""Traffic rules on a 3-node lab, end to end (issue 20): NetworkPolicies enforced by every
node's agent on real pods (connections really dropped or let through, across the overlay),
and a LoadBalancer Service's pool address answered from the lab switch (the host) by the
node its Lease elects, keeping the client's address under externalTrafficPolicy Local and
moving to another node when the announcing node's cable is pulled; and an Ingress served
from the host through any node's HAProxy to pods on two nodes.

One lab and two sets of pods for the module: the upstream network-policy matrix's pods
(namespaces x, y, z with pods a, b, c: tests/e2e/netpol_matrix.py), whose core cases
compare every pair's reachability with the expected truth table; and a server namespace
with `web` (ports named http 8080 and metrics 9090), `friend` and `stranger`, two client
namespaces (only the first labelled purpose=allowed), each pod pinned to a node so every
checked path crosses the overlay, for trace, LoadBalancer and Ingress. Each test writes
its policies and removes them, waiting until every pod reaches every other again, so the
tests run in any order.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.kubelet.images import BUSYBOX_IMAGE, ensure_busybox_image
from minikube_py.api.lease import LB_LEASE_NAMESPACE, lb_lease_name
from minikube_py.api.namespace import NAME_LABEL
from minikube_py.api.resources import (
    CONFIGMAPS,
    INGRESSES,
    LEASES,
    NAMESPACES,
    NETWORKPOLICIES,
    NODES,
    PODS,
    SECRETS,
    SERVICES,
)
from minikube_py.client import ApiClient
from minikube_py.client.errors import NotFound
from minikube_py.cluster.lab import LabSpec
from tests.e2e import netpol_matrix
from tests.e2e.cluster_support import (
    LabCluster,
    app_container,
    docker_client,
    eventually,
    lab_cluster,
    needs_root,
    trace,
)
from tests.e2e.netpol_matrix import Matrix, everyone
from tests.fixtures import builders
from tests.fixtures.reachability import Reachability
from tests.fixtures.tls import TestCA

pytestmark = [pytest.mark.e2e, pytest.mark.root, pytest.mark.docker, needs_root,
              pytest.mark.timeout(600)]

SPEC = LabSpec(3)
NODE_NAMES = [n.name for n in SPEC.records()]
HOST_IP = SPEC.gateway  # the host on the lab switch: "outside the nodes"
NODE_IPS = [n.ip for n in SPEC.records()]  # `lab up` runs HAProxy on each node's address
POOL = ("192.168.77.100", "192.168.77.103")
SERVER, ALLOWED, OTHER = "np-server", "np-client-a", "np-client-b"
# pod -> (namespace, labels, node)
PODS_AT = {
    "web": (SERVER, {"app": "web", "tier": "backend"}, NODE_NAMES[0]),
    "friend": (SERVER, {"app": "friend", "tier": "backend"}, NODE_NAMES[1]),
    "stranger": (SERVER, {"app": "stranger", "tier": "backend"}, NODE_NAMES[2]),
    "client-a": (ALLOWED, {"app": "client"}, NODE_NAMES[1]),
    "client-b": (OTHER, {"app": "client"}, NODE_NAMES[2]),
}
# Every pod serves its name on 8080 and 9090, and its client's address at /cgi-bin/ip.
SERVE = ('mkdir -p /www/cgi-bin && echo "hello from $POD_NAME" > /www/index.html && '
         "echo '#!/bin/sh' > /www/cgi-bin/ip && "
         """echo 'echo Content-Type: text/plain; echo; echo "$REMOTE_ADDR"' >> /www/cgi-bin/ip """
         "&& chmod +x /www/cgi-bin/ip && httpd -p 9090 -h /www && exec httpd -f -p 8080 -h /www")
MATRIX_PODS = netpol_matrix.PODS
PROBE_TIMEOUT = 2  # s: a dropped SYN is retried, a refused one answered at once


class Lab(LabCluster):
    def __init__(self, root: Path) -> None:
        super().__init__(root, SPEC)
        self.ips: dict[str, str] = {}  # pod -> address
        self.uids: dict[str, str] = {}
        self.matrix = Matrix({}, {})


def pod(name: str) -> dict[str, Any]:
    namespace, labels, node = PODS_AT[name]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0, "containers": [{
                "name": "serve", "image": BUSYBOX_IMAGE, "imagePullPolicy": "Never",
                "command": ["sh", "-c", SERVE],
                "env": [{"name": "POD_NAME", "value": name}],
                "ports": [{"name": "http", "containerPort": 8080},
                          {"name": "metrics", "containerPort": 9090}]}]}}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with lab_cluster(Lab(tmp_path_factory.mktemp("mkp-traffic"))) as lab:
        assert lab.up_result is not None and lab.up_result.returncode == 0, lab.up_result
        ensure_busybox_image()
        lab.call(_populate)
        running = eventually(lambda: _running(lab), timeout=120,
                             what=f"the {len(PODS_AT) + len(MATRIX_PODS)} pods running")
        ips = {_ref(p): p["status"]["podIP"] for p in running}
        uids = {_ref(p): p["metadata"]["uid"] for p in running}
        lab.ips = {name: ips[f"{PODS_AT[name][0]}/{name}"] for name in PODS_AT}
        lab.uids = {name: uids[f"{PODS_AT[name][0]}/{name}"] for name in PODS_AT}
        lab.matrix = Matrix({r: ips[r] for r in MATRIX_PODS}, {r: uids[r] for r in MATRIX_PODS})
        yield lab


def _ref(pod: dict[str, Any]) -> str:
    return f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"


async def _populate(client: ApiClient) -> None:
    for ns, labels in ((SERVER, {}), (ALLOWED, {"purpose": "allowed"}), (OTHER, {})):
        await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": ns, "labels": labels}})
    for ns in netpol_matrix.NAMESPACES:
        await client.create(NAMESPACES, netpol_matrix.namespace(ns))
    await client.create(CONFIGMAPS, {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "lb-address-pools", "namespace": "kube-system"},
        "data": {"default": "-".join(POOL)}}, "kube-system")
    for name in PODS_AT:
        await client.create(PODS, pod(name), PODS_AT[name][0])
    for ref in MATRIX_PODS:
        await client.create(PODS, netpol_matrix.pod(ref, NODE_NAMES), ref.split("/")[0])


def _running(lab: Lab) -> list[dict[str, Any]] | None:
    refs = [*(f"{ns}/{name}" for name, (ns, _, _) in PODS_AT.items()), *MATRIX_PODS]

    async def get(client: ApiClient) -> list[dict[str, Any]]:
        return [await client.get(PODS, *reversed(ref.split("/"))) for ref in refs]
    pods = lab.call(get)
    ok = all(p.get("status", {}).get("phase") == "Running" and p["status"].get("podIP")
             for p in pods)
    return pods if ok else None


# -- reaching ----------------------------------------------------------------------------

def reaches(lab: Lab, src: str, dst: str, port: int = 8080) -> bool:
    """One TCP connection from pod `src` to pod `dst`'s port, answered with dst's name."""
    script = (f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w {PROBE_TIMEOUT} "
              f"{lab.ips[dst]} {port} | tail -n 1")
    dc = docker_client()
    try:
        _, out = app_container(dc, lab.uids[src]).exec_run(["sh", "-c", script])
    finally:
        dc.close()
    return bool(out.decode(errors="replace").strip() == f"hello from {dst}")


@pytest.fixture
def policies(lab: Lab) -> Iterator[list[dict[str, Any]]]:
    """Policies a test writes into this list are created by `apply` and removed after the
    test, which ends once every pod of their namespaces is reached again."""
    made: list[dict[str, Any]] = []
    yield made

    async def delete(client: ApiClient) -> None:
        for p in made:
            with contextlib.suppress(NotFound):
                await client.delete(NETWORKPOLICIES, p["metadata"]["name"],
                                    p["metadata"]["namespace"])
    lab.call(delete)
    namespaces = {p["metadata"]["namespace"] for p in made}
    if namespaces & set(netpol_matrix.NAMESPACES):
        lab.matrix.validate({port: everyone() for port in netpol_matrix.PORTS})
    if SERVER in namespaces:
        eventually(lambda: all(reaches(lab, "client-b", d) for d in ("web", "friend",
                                                                     "stranger")),
                   timeout=60, what=f"{SERVER}'s pods reached again", interval=0.5)


def apply(lab: Lab, made: list[dict[str, Any]], name: str, namespace: str,
          spec: dict[str, Any]) -> None:
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
              "metadata": {"name": name, "namespace": namespace}, "spec": spec}
    made.append(policy)
    lab.call(lambda c: c.create(NETWORKPOLICIES, policy, namespace))


# -- NetworkPolicy: the upstream matrix's core cases -------------------------------------

def _pods(**labels: str) -> dict[str, Any]:
    return {"matchLabels": labels}


def _not_in_x() -> dict[str, Any]:
    return {"matchExpressions": [{"key": NAME_LABEL, "operator": "NotIn", "values": ["x"]}]}


def _same(r: Reachability) -> dict[int, Reachability]:
    return {port: r.copy() for port in netpol_matrix.PORTS}


# (policies in namespace x: name -> spec, expected reachability per port)
MATRIX_CASES = [
    pytest.param({"deny-ingress": {"podSelector": {}, "policyTypes": ["Ingress"]}},
                 _same(everyone().expect_peer("*", "x/*", False)),
                 id="default-deny-ingress"),
    pytest.param({"deny-all": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}},
                 _same(everyone().expect_peer("*", "x/*", False)
                       .expect_peer("x/*", "*", False)),
                 id="default-deny-all"),
    pytest.param({"allow-same-ns": {"podSelector": {}, "ingress": [{"from": [
                     {"podSelector": {}}]}]}},
                 _same(everyone().expect_peer("[yz]/*", "x/*", False)),
                 id="allow-from-the-same-namespace"),
    pytest.param({"a-from-y": {"podSelector": _pods(pod="a"), "ingress": [{"from": [
                     {"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}]}},
                 _same(everyone().expect_peer("[xz]/*", "x/a", False)),
                 id="allow-from-a-namespace-by-label"),
    pytest.param({"a-from-b-elsewhere": {"podSelector": _pods(pod="a"), "ingress": [{"from": [
                     {"namespaceSelector": _not_in_x(), "podSelector": _pods(pod="b")}]}]}},
                 _same(everyone().expect_peer("*", "x/a", False)
                       .expect_peer("[yz]/b", "x/a", True)),
                 id="pod-and-namespace-selector-in-one-peer-AND"),
    pytest.param({"a-from-elsewhere-or-b": {"podSelector": _pods(pod="a"), "ingress": [{
                     "from": [{"namespaceSelector": _not_in_x()},
                              {"podSelector": _pods(pod="b")}]}]}},
                 _same(everyone().expect("x/c", "x/a", False)),
                 id="pod-or-namespace-selector-in-two-peers-OR"),
    pytest.param({"deny-egress": {"podSelector": {}, "policyTypes": ["Egress"]},
                  "a-to-y-on-80": {"podSelector": _pods(pod="a"), "policyTypes": ["Egress"],
                                   "egress": [{"to": [{"namespaceSelector": {
                                       "matchLabels": {"ns": "y"}}}], "ports": [{"port": 80}]}]}},
                 {80: everyone().expect_peer("x/*", "*", False).expect_peer("x/a", "y/*", True),
                  81: everyone().expect_peer("x/*", "*", False)},
                 id="egress-deny-but-to-a-namespace-on-a-port"),
    pytest.param({"a-on-81": {"podSelector": _pods(pod="a"), "ingress": [{"ports": [
                     {"port": "serve-81-tcp"}]}]}},
                 {80: everyone().expect_peer("*", "x/a", False), 81: everyone()},
                 id="named-port"),
]


@pytest.mark.parametrize(("specs", "want"), MATRIX_CASES)
def test_network_policy_matrix(lab: Lab, policies: list[dict[str, Any]],
                               specs: dict[str, dict[str, Any]],
                               want: dict[int, Reachability]) -> None:
    """Kubernetes' netpol e2e cases on x/y/z x a/b/c: every pair on ports 80 and 81 probed
    from inside the pods through the nodes' real rules, against upstream's truth table."""
    for name, spec in specs.items():
        apply(lab, policies, name, "x", spec)
    lab.matrix.validate(want)


def test_network_policy_matrix_egress_to_an_ip_block_with_an_exception(
        lab: Lab, policies: list[dict[str, Any]]) -> None:
    """x/a may reach the pod network but for y/a's address: egress is enforced on the
    source's node, and replies of allowed connections come back (established traffic)."""
    apply(lab, policies, "a-to-pods-but-y-a", "x", {
        "podSelector": _pods(pod="a"), "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "10.244.0.0/16",
                                        "except": [f"{lab.matrix.ips['y/a']}/32"]}}]}]})
    lab.matrix.validate(_same(everyone().expect("x/a", "y/a", False)))


def test_network_policy_matrix_ingress_from_an_ip_block_but_one_node_s_pod_cidr(
        lab: Lab, policies: list[dict[str, Any]]) -> None:
    """x/a admits the pod network but the pod CIDR of the second node, where every b runs:
    an `except` that is a whole CIDR, enforced on the destination's node."""
    b_cidr = ipaddress.ip_network(f"{lab.matrix.ips['x/b']}/24", strict=False)
    apply(lab, policies, "a-from-pods-but-node-2", "x", {
        "podSelector": _pods(pod="a"), "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"ipBlock": {"cidr": "10.244.0.0/16",
                                           "except": [str(b_cidr)]}}]}]})
    lab.matrix.validate(_same(everyone().expect_peer("*/b", "x/a", False)))


def _label_y(lab: Lab, team: str | None) -> None:
    lab.call(lambda c: c.patch(NAMESPACES, "y", {"metadata": {"labels": {"team": team}}}))


def test_network_policy_matrix_follows_a_namespace_label_change(
        lab: Lab, policies: list[dict[str, Any]]) -> None:
    """Upstream's 'should allow ingress access from updated namespace': x/a admits the
    namespaces labelled team=friends; none is, then y is (its pods get in), then y is not
    again: the agents follow Namespace changes, not only NetworkPolicy ones."""
    apply(lab, policies, "a-from-friends", "x", {
        "podSelector": _pods(pod="a"),
        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "friends"}}}]}]})
    nobody = _same(everyone().expect_peer("*", "x/a", False))
    lab.matrix.validate(nobody)
    _label_y(lab, "friends")
    try:
        lab.matrix.validate(_same(everyone().expect_peer("[xz]/*", "x/a", False)))
    finally:
        _label_y(lab, None)
    lab.matrix.validate(nobody)


# -- LoadBalancer ------------------------------------------------------------------------

@functools.cache
def _mac(netns: str, dev: str) -> str:
    out = subprocess.run(["ip", "-n", netns, "-o", "link", "show", dev], capture_output=True,
                         text=True, check=True).stdout
    return out.split("link/ether ")[1].split()[0]


def _host_neighbour(ip: str) -> str:
    out = subprocess.run(["ip", "neigh", "show", ip, "dev", SPEC.bridge], capture_output=True,
                         text=True, check=False).stdout
    return out.split("lladdr ")[1].split()[0] if "lladdr " in out else ""


def _get(url: str, timeout: float = 3) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return str(resp.read().decode().strip())
    except OSError:
        return None


def _holder(lab: Lab, ip: str) -> str:
    lease = lab.call(lambda c: c.get(LEASES, lb_lease_name(ip), LB_LEASE_NAMESPACE))
    return str(lease["spec"].get("holderIdentity") or "")


@contextlib.contextmanager
def load_balancer(lab: Lab, name: str, selector: dict[str, str],
                  policy: str = "Cluster") -> Iterator[str]:
    """A LoadBalancer Service in the server namespace, for the block: its pool address."""
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
           "spec": {"type": "LoadBalancer", "externalTrafficPolicy": policy,
                    "selector": selector,
                    "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}
    lab.call(lambda c: c.create(SERVICES, svc, SERVER))
    try:
        def address() -> str | None:
            got = lab.call(lambda c: c.get(SERVICES, name, SERVER))
            ingress = (got.get("status") or {}).get("loadBalancer", {}).get("ingress") or []
            return str(ingress[0]["ip"]) if ingress else None
        ip = eventually(address, timeout=30, what="status.loadBalancer.ingress", interval=0.5)
        low, high = map(ipaddress.IPv4Address, POOL)
        assert low <= ipaddress.IPv4Address(ip) <= high, ip
        yield ip
    finally:
        lab.call(lambda c: c.delete(SERVICES, name, SERVER))


def test_load_balancer_pool_address_answers_the_lab_switch_keeping_the_client(
        lab: Lab) -> None:
    """A Local LoadBalancer Service gets the pool's address; the node holding its endpoint
    wins the address's Lease and answers ARP for it on the lab switch; the host's request
    reaches the pod without SNAT, so the pod sees the host's own address."""
    with load_balancer(lab, "web-lb", {"app": "web"}, "Local") as ip:
        seen = eventually(lambda: _get(f"http://{ip}/cgi-bin/ip"), timeout=30,
                          what=f"an answer at {ip}:80 from the host", interval=0.5)
        assert HOST_IP in seen, f"the pod saw {seen}, not the host's {HOST_IP}"
        web_node = PODS_AT["web"][2]
        assert _get(f"http://{ip}/") == "hello from web"
        assert _host_neighbour(ip) == _mac(web_node, "eth0"), "ARP answered by another node"
        assert _holder(lab, ip) == web_node


def test_load_balancer_address_moves_when_its_node_is_cut(lab: Lab) -> None:
    """Cluster policy, backends on every node: the announcing node's cable pulled, another
    node takes the Lease once it expires and announces the address (gratuitous ARP), and
    the host is answered again. Issue 20's goal is < 10 s; asserted with slack for load."""
    with load_balancer(lab, "any-lb", {"tier": "backend"}) as ip:
        eventually(lambda: _get(f"http://{ip}/"), timeout=30, what=f"an answer at {ip}:80",
                   interval=0.5)
        holder = _holder(lab, ip)
        assert _host_neighbour(ip) == _mac(holder, "eth0")
        cut = time.monotonic()
        assert lab.cli("lab", "link", holder, "down").returncode == 0
        try:
            eventually(lambda: _get(f"http://{ip}/", timeout=0.5), timeout=30,
                       what=f"{ip} answered after {holder}'s link was cut", interval=0.1)
            took = time.monotonic() - cut
            now = _holder(lab, ip)
            assert now not in ("", holder) and _host_neighbour(ip) == _mac(now, "eth0")
            assert took < 20, f"failover took {took:.1f} s"
        finally:
            assert lab.cli("lab", "link", holder, "up").returncode == 0


# -- trace -------------------------------------------------------------------------------

def test_trace_names_the_policy_dropping_a_path_and_the_rule_allowing_another(
        lab: Lab, policies: list[dict[str, Any]]) -> None:
    """`trace` reads the nodes' real rules and ipsets: the denied client's path ends in the
    web node's FORWARD, naming the policies selecting web; the allowed one names the rule."""
    apply(lab, policies, "default-deny", SERVER, {"podSelector": {}})
    apply(lab, policies, "allow-from-allowed", SERVER, {
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"purpose": "allowed"}}}]}]})
    eventually(lambda: reaches(lab, "client-a", "web") and not reaches(lab, "client-b", "web"),
               timeout=60, what="client-a alone reaching web", interval=0.5)
    selecting = [f"{SERVER}/allow-from-allowed", f"{SERVER}/default-deny"]
    web = f"pod/{SERVER}/web:8080"

    denied = trace(lab.root, f"{OTHER}/client-b", web)
    verdicts = [h for h in denied["hops"] if h["kind"] == "networkpolicy"]
    assert [(h["node"], h["direction"], h["verdict"], h["policies"]) for h in verdicts] == [
        (NODE_NAMES[2], "egress", "not isolated", []),  # the source's node: egress
        (NODE_NAMES[0], "ingress", "dropped", selecting)], denied["hops"]
    assert denied["outcome"].startswith("DROP in "), denied["outcome"]
    assert f"NetworkPolicy ingress of pod {SERVER}/web ({lab.ips['web']}): DROPPED" in \
        denied["outcome"]

    allowed = trace(lab.root, f"{ALLOWED}/client-a", web)
    verdicts = [h for h in allowed["hops"] if h["kind"] == "networkpolicy"]
    assert [(h["node"], h["direction"], h["verdict"], h["allowedBy"]) for h in verdicts] == [
        (NODE_NAMES[1], "egress", "not isolated", []),
        (NODE_NAMES[0], "ingress", "allowed", [f"{SERVER}/allow-from-allowed rule 0"])], \
        allowed["hops"]
    assert allowed["outcome"] == f"delivered to pod {SERVER}/web on node {NODE_NAMES[0]}"
    if os.environ.get("MKP_CAPTURE_TRACE"):  # refresh tests/unit/data/trace_netpol_lab.json
        _capture(lab, Path(os.environ["MKP_CAPTURE_TRACE"]))


def _capture(lab: Lab, out: Path) -> None:
    async def read(client: ApiClient) -> dict[str, Any]:
        pods = (await client.list(PODS))["items"]
        here = {n: ",".join(f"{ns}/{name}" for name, (ns, _, node) in PODS_AT.items()
                            if node == n) for n in NODE_NAMES}
        states = {n: await client.request("GET", f"/api/v1/nodes/{n}/proxy/debug/dataplane",
                                          params={"pods": here[n]}) for n in NODE_NAMES}
        return {"nodes": [{"metadata": {"name": n["metadata"]["name"]},
                           "status": {"addresses": n["status"]["addresses"]}}
                          for n in (await client.list(NODES))["items"]],
                "pods": [{"metadata": {k: p["metadata"][k] for k in ("name", "namespace")},
                          "spec": {"nodeName": p["spec"]["nodeName"]},
                          "status": {k: p["status"][k] for k in ("phase", "podIP")}}
                         for p in pods if p["metadata"]["name"] in PODS_AT],
                "states": states}
    out.write_text(json.dumps(lab.call(read), indent=1, sort_keys=True) + "\n")


def _curl(url: str, host: str, port: int, node_ip: str = NODE_IPS[1],
          cacert: Path | None = None) -> str:
    """curl from the host with `host` resolved to a node's address (the second node's
    unless told: any node serves): '<body> <status>', or '000' when nothing answered."""
    args = ["curl", "-sS", "--max-time", "3", "--resolve", f"{host}:{port}:{node_ip}",
            "-w", " %{http_code}", url]
    if cacert is not None:
        args[1:1] = ["--cacert", str(cacert)]
    out = subprocess.run(args, capture_output=True, text=True, check=False).stdout
    return " ".join(out.split())


def _serves_shop(node_ip: str) -> bool:
    """Both backends answer through this node (each Service's endpoints reach each
    controller on their own watch: until then its backend answers 503)."""
    return _curl("http://shop.test/", "shop.test", 80, node_ip) == "hello from web 200" and \
        _curl("http://shop.test/index.html", "shop.test", 80, node_ip) == "hello from friend 200"


def test_ingress_at_every_node_routes_hosts_and_paths_to_pods_on_two_nodes_with_tls(
        lab: Lab, tmp_path: Path) -> None:
    """A request from the host to the second node's address goes through that node's
    HAProxy (`minikube-py ingress` runs on every node) to pods on two nodes: host rules
    (one a wildcard), Exact beating Prefix, a Service port by number and by name, and TLS
    with the Secret's certificate by SNI; every node answers, and every node's address is
    the Ingress's status."""
    ca = TestCA()
    (tmp_path / "ca.pem").write_bytes(ca.ca_pem)
    made = [(SECRETS, builders.tls_secret("shop-tls", *ca.issue("shop.test"),
                                          namespace=SERVER))]
    for name in ("web", "friend"):  # pods on NODE_NAMES[0] and [1]
        made.append((SERVICES, {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"ing-{name}", "namespace": SERVER},
            "spec": {"selector": {"app": name},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}))
    made.append((INGRESSES, builders.ingress("shop", SERVER, rules=[
        builders.rule("shop.test", ("/", "Prefix", builders.ingress_backend("ing-web")),
                      ("/index.html", "Exact", builders.ingress_backend("ing-friend", "http"))),
        builders.rule("*.other.test", ("/", "Prefix", builders.ingress_backend("ing-friend")))],
        tls=[{"hosts": ["shop.test"], "secretName": "shop-tls"}])))

    async def create(client: ApiClient) -> None:
        for resource, obj in made:
            await client.create(resource, obj, SERVER)

    async def delete(client: ApiClient) -> None:
        for resource, obj in reversed(made):
            with contextlib.suppress(NotFound):
                await client.delete(resource, obj["metadata"]["name"], SERVER)
    try:
        lab.call(create)
        for node_ip in NODE_IPS:
            eventually(functools.partial(_serves_shop, node_ip), timeout=60, interval=0.5,
                       what=f"the Ingress served from the host at {node_ip}")
        assert _curl("http://shop.test/index.html", "shop.test", 80) == "hello from friend 200"
        assert _curl("http://a.other.test/", "a.other.test", 80) == "hello from friend 200"
        assert _curl("http://other.test/", "other.test", 80).endswith(" 404")
        assert _curl("https://shop.test/", "shop.test", 443,
                     cacert=tmp_path / "ca.pem") == "hello from web 200"  # SNI: our CA
        published = [{"ip": ip} for ip in NODE_IPS]
        eventually(lambda: (lab.call(lambda c: c.get(INGRESSES, "shop", SERVER)).get("status")
                            or {}).get("loadBalancer", {}).get("ingress") == published, timeout=10,
                   what=f"status.loadBalancer.ingress {published}", interval=0.5)
    finally:
        lab.call(delete)
