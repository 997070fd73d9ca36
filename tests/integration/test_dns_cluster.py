"""The DNS server against a real api-server, fed by the real endpoints and
EndpointSlice controllers: Services appear and vanish within 1 s, headless Services
with StatefulSet-style pods (hostname + subdomain) resolve, SRV answers, the server lists
itself in kube-system/kube-dns, and names outside the cluster are forwarded to a stub
upstream in a test network namespace."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import pytest
import yaml

from minikube_py.api.resources import ENDPOINTS, PODS, SERVICES
from minikube_py.client import ApiClient
from minikube_py.client.errors import NotFound
from minikube_py.client.tasks import background
from minikube_py.cluster.health import dns_health
from minikube_py.dns import DnsSettings, serving
from minikube_py.dns.app import Running
from minikube_py.dns.registration import keep_registered
from tests.fixtures.apiserver import CLI
from tests.fixtures.controlplane import endpoint_controllers
from tests.fixtures.etcd import free_port
from tests.helpers import eventually, scratch_namespace, set_pod_ready

SETTINGS = DnsSettings(bind_address="127.0.0.1", port=0, health_port=0, upstreams=())


@pytest.fixture
async def env(apiserver: Any) -> AsyncIterator[tuple[ApiClient, str, Running]]:
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client, \
            scratch_namespace(client, "dns") as namespace, endpoint_controllers(client), \
            serving(SETTINGS, client) as running:
        yield client, namespace, running


async def ask(running: Running | int, name: str, qtype: str = "A",
              tcp: bool = False) -> dns.message.Message:
    query = dns.message.make_query(name, qtype)
    send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
    port = running if isinstance(running, int) else running.port
    return await send(query, "127.0.0.1", port=port, timeout=2)


def addresses(reply: dns.message.Message) -> list[str]:
    return sorted(str(r) for rrset in reply.answer for r in rrset
                  if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA))


async def test_service_resolvable_within_a_second_and_gone_within_one(
        env: tuple[ApiClient, str, Running]) -> None:
    client, ns, running = env
    name = f"web.{ns}.svc.cluster.local"
    assert (await ask(running, name)).rcode() == dns.rcode.NXDOMAIN  # stored, then replaced
    created = await client.create(SERVICES, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"ports": [{"name": "http", "port": 80}]}}, ns)
    start = time.monotonic()

    async def answered() -> list[str]:
        return addresses(await ask(running, name))

    assert await eventually(answered, timeout=1.0, interval=0.02) == \
        [created["spec"]["clusterIP"]]
    assert time.monotonic() - start < 1.0
    services = next(i for i in running.informers if i.resource == SERVICES)
    cached = services.get(f"{ns}/web")
    assert cached is not None and created["metadata"]["managedFields"]
    assert "managedFields" not in cached["metadata"], "its caches keep none (bench/dns.py)"
    ptr = ".".join(reversed(created["spec"]["clusterIP"].split("."))) + ".in-addr.arpa"
    assert [str(r) for r in (await ask(running, ptr, "PTR")).answer[0]] == [name + "."]
    srv = await ask(running, f"_http._tcp.{name}", "SRV", tcp=True)
    assert [(r.port, str(r.target)) for r in srv.answer[0]] == [(80, name + ".")]

    await client.delete(SERVICES, "web", namespace=ns)
    start = time.monotonic()

    async def gone() -> bool:
        return (await ask(running, name)).rcode() == dns.rcode.NXDOMAIN

    await eventually(gone, timeout=1.0, interval=0.02)
    assert time.monotonic() - start < 1.0


async def test_headless_service_with_statefulset_style_pods(
        env: tuple[ApiClient, str, Running]) -> None:
    client, ns, running = env
    await client.create(SERVICES, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
        "spec": {"clusterIP": "None", "selector": {"app": "db"},
                 "ports": [{"name": "pg", "port": 5432, "targetPort": 5432}]}}, ns)
    for i, ready in ((0, True), (1, True), (2, False)):
        await client.create(PODS, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"db-{i}", "namespace": ns, "labels": {"app": "db"}},
            "spec": {"hostname": f"db-{i}", "subdomain": "db", "nodeName": "node-a",
                     "containers": [{"name": "c", "image": "busybox"}]}}, ns)
        await set_pod_ready(client, ns, f"db-{i}", f"10.244.7.{10 + i}", ready)
    base = f"db.{ns}.svc.cluster.local"

    async def both_ready() -> list[str]:
        got = addresses(await ask(running, base))
        return got if len(got) == 2 else []

    assert await eventually(both_ready, timeout=10) == ["10.244.7.10", "10.244.7.11"]
    assert addresses(await ask(running, f"db-1.{base}")) == ["10.244.7.11"]
    assert (await ask(running, f"db-2.{base}")).rcode() == dns.rcode.NXDOMAIN  # not ready
    srv = await ask(running, f"_pg._tcp.{base}", "SRV")
    assert sorted(str(r.target) for r in srv.answer[0]) == [f"db-0.{base}.", f"db-1.{base}."]
    assert sorted(str(r) for rrset in srv.additional for r in rrset) == [
        "10.244.7.10", "10.244.7.11"]
    ptr = await ask(running, "11.7.244.10.in-addr.arpa", "PTR")
    assert [str(r) for r in ptr.answer[0]] == [f"db-1.{base}."]

    await set_pod_ready(client, ns, "db-2", "10.244.7.12", True)

    async def third() -> list[str]:
        return addresses(await ask(running, f"db-2.{base}"))

    assert await eventually(third, timeout=10) == ["10.244.7.12"]


async def test_bootstrap_kube_dns_service_and_health(env: tuple[ApiClient, str, Running]
                                                    ) -> None:
    client, _, running = env
    svc = await client.get(SERVICES, "kube-dns", namespace="kube-system")
    assert svc["spec"]["clusterIP"] == "10.96.0.10"
    assert svc["metadata"]["labels"]["k8s-app"] == "kube-dns"
    assert [(p["name"], p["port"], p["protocol"]) for p in svc["spec"]["ports"]] == [
        ("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")]
    reply = await ask(running, "kube-dns.kube-system.svc.cluster.local")
    assert addresses(reply) == ["10.96.0.10"]
    base = f"http://127.0.0.1:{running.health_port}"
    async with aiohttp.ClientSession() as http:
        for path in ("/healthz", "/ready"):
            async with http.get(base + path) as resp:
                assert resp.status == 200, path
        async with http.get(base + "/metrics") as resp:
            text = await resp.text()
    assert 'coredns_dns_requests_total{proto="udp",type="A"}' in text
    assert 'coredns_dns_responses_total{rcode="NOERROR"}' in text
    assert "coredns_dns_request_duration_seconds_bucket" in text


async def test_servers_list_themselves_in_kube_dns_endpoints(
        env: tuple[ApiClient, str, Running]) -> None:
    client, _, _ = env
    ip_a, ip_b = "127.0.0.61", "127.0.0.62"  # two DNS hosts, as with two control planes

    def listed(ep: dict[str, Any]) -> set[str]:
        return {a["ip"] for s in ep.get("subsets") or [] for a in s.get("addresses") or []}

    async def ours() -> set[str]:
        try:
            ep = await client.get(ENDPOINTS, "kube-dns", namespace="kube-system")
        except NotFound:
            return set()
        return listed(ep) & {ip_a, ip_b}

    async with background(keep_registered(client, ip_a, 53), "dns-a"):
        async with background(keep_registered(client, ip_b, 53), "dns-b"):
            async def both() -> set[str] | None:
                got = await ours()
                return got if len(got) == 2 else None

            assert await eventually(both, timeout=10) == {ip_a, ip_b}
            status = await dns_health(client)  # what `minikube-py status` shows
            assert status.ok and f"{ip_a}:53" in status.detail and f"{ip_b}:53" in status.detail
            ep = await client.get(ENDPOINTS, "kube-dns", namespace="kube-system")
            subset = next(s for s in ep["subsets"] if ip_a in listed({"subsets": [s]}))
            assert subset["ports"] == [{"name": "dns", "port": 53, "protocol": "UDP"},
                                       {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]
        assert await ours() == {ip_a}  # b left on its clean stop
    assert await ours() == set()


# -- forwarding to an upstream in its own network namespace ---------------------------

STUB = """
import socket, sys, dns.message, dns.rrset
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((sys.argv[1], 53))
print("ready", flush=True)
while True:
    data, peer = sock.recvfrom(4096)
    query = dns.message.from_wire(data)
    reply = dns.message.make_response(query)
    q = query.question[0]
    if str(q.name).startswith("nx."):
        reply.set_rcode(dns.rcode.NXDOMAIN)
    else:
        reply.answer.append(dns.rrset.from_text(q.name, 30, "IN", "A", "203.0.113.7"))
    sock.sendto(reply.to_wire(), peer)
"""


@pytest.fixture
def upstream_netns(netns: Any) -> Iterator[str]:
    """A stub DNS server on port 53 in a netns, reached over a veth (host side owned here)."""
    ns = netns("dnsup")
    octet = 1 + uuid.uuid4().int % 250
    host_if, peer_if = f"mkpd{uuid.uuid4().hex[:6]}", f"mkpe{uuid.uuid4().hex[:6]}"
    host_ip, ns_ip = f"169.254.{octet}.1", f"169.254.{octet}.2"
    def run(*argv: str) -> None:
        subprocess.run(argv, check=True, capture_output=True)

    run("ip", "link", "add", host_if, "type", "veth", "peer", "name", peer_if)
    proc = None
    try:
        run("ip", "link", "set", peer_if, "netns", ns.name)
        run("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
        run("ip", "link", "set", host_if, "up")
        ns.run("ip", "addr", "add", f"{ns_ip}/30", "dev", peer_if)
        ns.run("ip", "link", "set", peer_if, "up")
        ns.run("ip", "link", "set", "lo", "up")
        proc = ns.popen(sys.executable, "-c", STUB, ns_ip, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield ns_ip
    finally:
        if proc is not None and proc.stdout is not None:
            proc.kill()
            proc.wait()
            proc.stdout.close()
        subprocess.run(["ip", "link", "del", host_if], check=False, capture_output=True)


@pytest.mark.root
async def test_forwards_to_an_upstream_in_a_netns(apiserver: Any, upstream_netns: str) -> None:
    settings = replace(SETTINGS, upstreams=(upstream_netns,))
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client, \
            serving(settings, client) as running:
        reply = await ask(running, "www.example.org")
        assert addresses(reply) == ["203.0.113.7"] and reply.answer[0].ttl <= 30
        assert (await ask(running, "nx.example.org")).rcode() == dns.rcode.NXDOMAIN
        assert addresses(await ask(running, "www.example.org", tcp=True)) == ["203.0.113.7"]
        assert running.resolver.metrics.cache[("forward", "hit")] >= 1


@pytest.fixture
def dns_process(apiserver: Any, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int,
                                                                  Path]]:
    """`minikube-py dns-credentials` then `minikube-py dns`, as install.sh and `up` run them."""
    conf = tmp_path / "dns.conf"
    made = subprocess.run([str(CLI), "dns-credentials", "--kubeconfig", str(apiserver.kubeconfig),
                           "--output", str(conf)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert made.returncode == 0, made.stderr
    assert oct(conf.stat().st_mode & 0o777) == "0o600"
    assert yaml.safe_load(conf.read_text())["users"][0]["name"] == \
        "system:serviceaccount:kube-system:kube-dns"
    port, log = free_port(), tmp_path / "dns.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(CLI), "dns", "--kubeconfig", str(conf),
                                 "--bind-address", "127.0.0.1", "--port", str(port),
                                 "--health-port", str(free_port()),
                                 "--advertise-address", "127.0.0.63"], stdout=out, stderr=out)
    try:
        yield proc, port, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_cli_runs_as_its_service_account_and_leaves_on_sigterm(
        apiserver: Any, dns_process: tuple[subprocess.Popen[bytes], int, Path]) -> None:
    proc, port, log = dns_process

    async def answers() -> list[str]:
        try:
            return addresses(await ask(port, "kubernetes.default.svc.cluster.local"))
        except dns.exception.Timeout:
            return []

    assert await eventually(answers, timeout=30) == ["10.96.0.1"], log.read_text()
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client:
        async def listed() -> bool:
            try:
                ep = await client.get(ENDPOINTS, "kube-dns", namespace="kube-system")
            except NotFound:
                return False
            return any(a["ip"] == "127.0.0.63" and s["ports"][0]["port"] == port
                       for s in ep.get("subsets") or [] for a in s.get("addresses") or [])

        await eventually(listed, timeout=10)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 10) == 0, log.read_text()
        assert not await listed()
