"""Pods' resolv.conf from dnsPolicy + dnsConfig (the kubelet's GetPodDNS) and the host's
real upstreams behind a systemd-resolved stub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from minikube_py.api.resolvconf import (
    ResolvConf,
    cluster_dns_ip,
    for_pod,
    host_resolv_conf,
    parse,
)
from tests.fixtures import builders

HOST = ResolvConf(["192.0.2.53"], ["corp.example"], ["timeout:2"])


def pod(policy: str | None = None, ns: str = "shop", **spec: Any) -> dict[str, Any]:
    return builders.pod("p", ns, spec={**({"dnsPolicy": policy} if policy else {}), **spec})


def resolv(p: dict[str, Any], cluster_dns: list[str] | None = None) -> ResolvConf:
    return for_pod(p, host=HOST, cluster_dns=["10.96.0.10"] if cluster_dns is None
                   else cluster_dns, cluster_domain="cluster.local")


def test_cluster_first() -> None:
    conf = resolv(pod("ClusterFirst"))
    assert conf.render() == (
        "nameserver 10.96.0.10\n"
        "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\n"
        "options ndots:5\n")
    assert resolv(pod()) == conf  # ClusterFirst is the default


def test_cluster_first_on_host_network_is_the_hosts() -> None:
    assert resolv(pod("ClusterFirst", hostNetwork=True)) == HOST
    assert resolv(pod("ClusterFirstWithHostNet", hostNetwork=True)).nameservers == \
        ["10.96.0.10"]


def test_default_and_no_cluster_dns_use_the_host() -> None:
    assert resolv(pod("Default")) == HOST
    assert resolv(pod("ClusterFirst"), cluster_dns=[]) == HOST


def test_none_takes_only_dns_config() -> None:
    conf = resolv(pod("None", dnsConfig={"nameservers": ["1.1.1.1"], "searches": ["a.b"],
                                         "options": [{"name": "ndots", "value": "2"},
                                                     {"name": "edns0"}]}))
    assert conf == ResolvConf(["1.1.1.1"], ["a.b"], ["ndots:2", "edns0"])


def test_dns_config_merges_and_overrides_options_by_name() -> None:
    conf = resolv(pod("ClusterFirst", dnsConfig={
        "nameservers": ["10.96.0.10", "192.0.2.1"], "searches": ["my.dns.search.suffix"],
        "options": [{"name": "ndots", "value": "1"}]}))
    assert conf.nameservers == ["10.96.0.10", "192.0.2.1"]  # duplicates dropped
    assert conf.searches[-1] == "my.dns.search.suffix"
    assert conf.options == ["ndots:1"]


def test_limits_three_nameservers_thirty_two_searches() -> None:
    conf = resolv(pod("None", dnsConfig={"nameservers": [f"192.0.2.{i}" for i in range(5)],
                                         "searches": [f"s{i}.example" for i in range(40)]}))
    assert len(conf.nameservers) == 3 and len(conf.searches) == 32
    long = resolv(pod("None", dnsConfig={"searches": [f"{'x' * 60}{i}.example"
                                                      for i in range(32)]}))
    assert len(" ".join(long.searches)) <= 2048 and len(long.searches) < 32


def test_parse_keeps_the_last_search_and_ignores_comments() -> None:
    conf = parse("# hi\nnameserver 127.0.0.53 ; stub\nsearch a b\ndomain c\n"
                 "options edns0 trust-ad\n")
    assert conf == ResolvConf(["127.0.0.53"], ["c"], ["edns0", "trust-ad"])


def test_systemd_resolved_stub_is_replaced_by_its_upstreams(tmp_path: Path) -> None:
    stub = tmp_path / "resolv.conf"
    stub.write_text("nameserver 127.0.0.53\noptions edns0\nsearch lan\n")
    real = tmp_path / "real.conf"
    real.write_text("nameserver 192.0.2.1\nnameserver 192.0.2.2\n")
    assert host_resolv_conf(stub, real) == ResolvConf(["192.0.2.1", "192.0.2.2"], ["lan"],
                                                      ["edns0"])
    assert host_resolv_conf(stub, tmp_path / "absent").nameservers == []
    assert host_resolv_conf(tmp_path / "absent", real) == ResolvConf()


@pytest.mark.parametrize(("cidr", "ip"), [("10.96.0.0/12", "10.96.0.10"),
                                          ("10.0.0.0/24", "10.0.0.10")])
def test_cluster_dns_is_the_tenth_service_address(cidr: str, ip: str) -> None:
    assert cluster_dns_ip(cidr) == ip


@pytest.mark.parametrize("option", [{"name": "ndots\nnameserver 6.6.6.6"},
                                    {"name": "ndots", "value": "1\nnameserver 6.6.6.6"}])
def test_a_dns_option_with_a_newline_is_refused_and_never_rendered(
        option: dict[str, str]) -> None:
    from minikube_py.api.resolvconf import validate_dns_config
    spec = {"dnsPolicy": "None", "dnsConfig": {"nameservers": ["10.0.0.1"],
                                               "options": [option]}}
    causes = validate_dns_config(spec, "spec")
    assert any(".options[0]." in str(c) for c in causes)
    rendered = resolv(pod("None", dnsConfig=spec["dnsConfig"])).render()
    assert "6.6.6.6" not in rendered
