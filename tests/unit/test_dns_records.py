"""The cluster zone against the DNS specification (kubernetes/dns docs/specification.md),
over objects in real informer caches (no api-server)."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.dns.records import NOERROR, NXDOMAIN, RR, SCHEMA_VERSION
from tests.fixtures.dns_zone import Cluster, endpoint_slice, service


@pytest.fixture
def cluster() -> Cluster:
    c = Cluster()
    c.add(c.services, service("kubernetes", ip="10.96.0.1",
                              ports=[{"name": "https", "port": 443, "protocol": "TCP"}]))
    c.add(c.services, service("kube-dns", "kube-system", ip="10.96.0.10", ports=[
        {"name": "dns", "port": 53, "protocol": "UDP"},
        {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]))
    c.add(c.services, service("web", "other", ip="10.96.0.30", ports=[
        {"name": "http", "port": 80, "protocol": "TCP"}, {"port": 81, "protocol": "TCP"}]))
    c.add(c.services, service("db", ip=None, ports=[{"name": "pg", "port": 5432}]))
    c.add(c.slices, endpoint_slice("db", "default", [
        ("10.244.1.5", "db-0", True), ("10.244.2.6", "db-1", True),
        ("10.244.3.7", "db-2", False), ("10.244.1.8", None, True)]))
    c.add(c.services, service("ext", type="ExternalName", externalName="example.com", ip=None))
    return c


def data(rrs: list[RR]) -> list[tuple[str, str, tuple[Any, ...]]]:
    return [(rr.name, rr.rtype, rr.data) for rr in rrs]


def test_schema_version_txt(cluster: Cluster) -> None:  # spec 2.2
    rcode, answer, _, _ = cluster.ask("dns-version.cluster.local.", "TXT")
    assert rcode == NOERROR
    assert data(answer) == [("dns-version.cluster.local.", "TXT", (SCHEMA_VERSION,))]


def test_cluster_ip_service_a(cluster: Cluster) -> None:  # spec 2.3.1
    rcode, answer, _, _ = cluster.ask("kubernetes.default.svc.cluster.local.")
    assert rcode == NOERROR
    assert data(answer) == [("kubernetes.default.svc.cluster.local.", "A", ("10.96.0.1",))]
    assert answer[0].ttl == 5


def test_names_are_case_insensitive_and_echo_the_question(cluster: Cluster) -> None:
    _, answer, _, _ = cluster.ask("KuberNetes.Default.SVC.cluster.LOCAL.")
    assert data(answer) == [("KuberNetes.Default.SVC.cluster.LOCAL.", "A", ("10.96.0.1",))]


def test_cluster_ip_service_srv_named_ports_only(cluster: Cluster) -> None:  # spec 2.3.2
    rcode, answer, _, additional = cluster.ask("_http._tcp.web.other.svc.cluster.local.", "SRV")
    assert rcode == NOERROR
    assert [rr.data[2:] for rr in answer] == [(80, "web.other.svc.cluster.local.")]
    assert data(additional) == [("web.other.svc.cluster.local.", "A", ("10.96.0.30",))]
    rcode, _, authority, _ = cluster.ask("_http._udp.web.other.svc.cluster.local.", "SRV")
    assert rcode == NXDOMAIN and authority[0].rtype == "SOA"


def test_cluster_ip_ptr(cluster: Cluster) -> None:  # spec 2.3.3
    rcode, answer, _, _ = cluster.ask("1.0.96.10.in-addr.arpa.", "PTR")
    assert rcode == NOERROR
    assert data(answer) == [("1.0.96.10.in-addr.arpa.", "PTR",
                             ("kubernetes.default.svc.cluster.local.",))]


def test_headless_a_lists_ready_endpoints(cluster: Cluster) -> None:  # spec 2.4.1
    _, answer, _, _ = cluster.ask("db.default.svc.cluster.local.")
    assert sorted(rr.data[0] for rr in answer) == ["10.244.1.5", "10.244.1.8", "10.244.2.6"]


def test_headless_without_ready_endpoints_is_nxdomain(cluster: Cluster) -> None:
    cluster.add(cluster.services, service("idle", ip=None))
    cluster.add(cluster.slices, endpoint_slice("idle", "default", [("10.244.1.9", "x", False)]))
    rcode, _, authority, _ = cluster.ask("idle.default.svc.cluster.local.")
    assert rcode == NXDOMAIN and authority[0].rtype == "SOA"


def test_publish_not_ready_addresses_is_honoured(cluster: Cluster) -> None:
    cluster.add(cluster.services, service("peers", ip=None, publishNotReadyAddresses=True))
    cluster.add(cluster.slices, endpoint_slice("peers", "default", [("10.244.1.9", "p-0",
                                                                     False)]))
    _, answer, _, _ = cluster.ask("p-0.peers.default.svc.cluster.local.")
    assert data(answer) == [("p-0.peers.default.svc.cluster.local.", "A", ("10.244.1.9",))]


def test_headless_hostname_a(cluster: Cluster) -> None:  # spec 2.4.1, StatefulSet identity
    _, answer, _, _ = cluster.ask("db-1.db.default.svc.cluster.local.")
    assert data(answer) == [("db-1.db.default.svc.cluster.local.", "A", ("10.244.2.6",))]
    rcode, _, _, _ = cluster.ask("db-2.db.default.svc.cluster.local.")  # not ready
    assert rcode == NXDOMAIN
    # no hostname: a system-assigned one (the dashed address)
    _, answer, _, _ = cluster.ask("10-244-1-8.db.default.svc.cluster.local.")
    assert data(answer)[0][2] == ("10.244.1.8",)


def test_headless_srv_one_per_ready_endpoint_and_port(cluster: Cluster) -> None:  # 2.4.2
    rcode, answer, _, additional = cluster.ask("_pg._tcp.db.default.svc.cluster.local.", "SRV")
    assert rcode == NOERROR
    assert sorted(rr.data[3] for rr in answer) == [
        "10-244-1-8.db.default.svc.cluster.local.", "db-0.db.default.svc.cluster.local.",
        "db-1.db.default.svc.cluster.local."]
    assert {rr.data[2] for rr in answer} == {5432}
    assert len(additional) == 3


def test_headless_endpoint_ptr(cluster: Cluster) -> None:  # spec 2.4.3
    _, answer, _, _ = cluster.ask("6.2.244.10.in-addr.arpa.", "PTR")
    assert data(answer) == [("6.2.244.10.in-addr.arpa.", "PTR",
                             ("db-1.db.default.svc.cluster.local.",))]


def test_external_name_is_a_cname_for_any_type(cluster: Cluster) -> None:  # spec 2.5
    for qtype in ("A", "AAAA", "CNAME"):
        rcode, answer, _, _ = cluster.ask("ext.default.svc.cluster.local.", qtype)
        assert rcode == NOERROR
        assert data(answer) == [("ext.default.svc.cluster.local.", "CNAME", ("example.com.",))]


def test_pod_a_record(cluster: Cluster) -> None:  # spec 2.6
    _, answer, _, _ = cluster.ask("10-244-1-5.default.pod.cluster.local.")
    assert data(answer) == [("10-244-1-5.default.pod.cluster.local.", "A", ("10.244.1.5",))]
    assert cluster.ask("10-244-1-256.default.pod.cluster.local.")[0] == NXDOMAIN
    assert cluster.ask("10-244-1-5.nope.pod.cluster.local.")[0] == NXDOMAIN


@pytest.mark.parametrize(("name", "qtype", "rcode"), [
    ("nope.default.svc.cluster.local.", "A", NXDOMAIN),       # no such Service
    ("kubernetes.nope.svc.cluster.local.", "A", NXDOMAIN),    # no such namespace
    ("x.kubernetes.default.svc.cluster.local.", "A", NXDOMAIN),  # ClusterIP: no host names
    ("nope.cluster.local.", "A", NXDOMAIN),
    ("a.b.c.d.e.f.svc.cluster.local.", "A", NXDOMAIN),
    ("kubernetes.default.svc.cluster.local.", "AAAA", NOERROR),  # NODATA: IPv4 only
    ("kubernetes.default.svc.cluster.local.", "MX", NOERROR),
    ("default.svc.cluster.local.", "A", NOERROR),     # a namespace: empty non-terminal
    ("svc.cluster.local.", "A", NOERROR),
    ("pod.cluster.local.", "A", NOERROR),
    ("dns-version.cluster.local.", "A", NOERROR),
])
def test_nxdomain_versus_nodata(cluster: Cluster, name: str, qtype: str, rcode: int) -> None:
    got, answer, authority, _ = cluster.ask(name, qtype)
    assert (got, answer) == (rcode, [])
    assert [rr.rtype for rr in authority] == ["SOA"]  # negative answers carry the SOA
    assert authority[0].data[-1] == 5  # negative TTL: the SOA minimum


def test_apex_soa_and_ns(cluster: Cluster) -> None:
    _, answer, _, _ = cluster.ask("cluster.local.", "SOA")
    assert data(answer) == [("cluster.local.", "SOA", ("ns.dns.cluster.local.",
                                                       "hostmaster.cluster.local.", 7, 7200,
                                                       1800, 86400, 5))]
    _, answer, _, additional = cluster.ask("cluster.local.", "NS")
    assert data(answer) == [("cluster.local.", "NS", ("ns.dns.cluster.local.",))]
    assert data(additional) == [("ns.dns.cluster.local.", "A", ("10.96.0.10",))]


def test_names_outside_the_zone_are_forwarded(cluster: Cluster) -> None:
    assert cluster.zone.lookup("example.com.", "A") is None
    assert cluster.zone.lookup("cluster.localx.", "A") is None
    assert cluster.zone.lookup("8.8.8.8.in-addr.arpa.", "PTR") is None  # not ours
    assert cluster.zone.lookup("1.0.96.in-addr.arpa.", "PTR") is None  # not a whole address


def test_a_deleted_service_is_gone_at_once(cluster: Cluster) -> None:
    cluster.services.remove("other/web")
    assert cluster.ask("web.other.svc.cluster.local.")[0] == NXDOMAIN
    assert cluster.zone.lookup("30.0.96.10.in-addr.arpa.", "PTR") is None


def test_dual_stack_service_answers_both_families(cluster: Cluster) -> None:
    cluster.add(cluster.services, service("dual", clusterIPs=["10.96.0.40", "fd00::28"],
                                          ip="10.96.0.40"))
    assert data(cluster.ask("dual.default.svc.cluster.local.", "AAAA")[1])[0][2] == \
        ("fd00::28",)
    ptr = "8.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa."
    assert data(cluster.ask(ptr, "PTR")[1])[0][2] == ("dual.default.svc.cluster.local.",)
