"""Packet-flow tests: trace a packet through the generated nat rules.

A small interpreter for exactly the matches and targets the proxy writes
(like kube-proxy's iptablestracer in proxier_test.go). It follows every
statistic branch with its probability, so a test can assert the whole
outcome distribution instead of sampling it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import shlex
from collections import defaultdict
from dataclasses import dataclass

import pytest

from agent.proxy import iptables
from agent.proxy.model import Endpoint, ServicePort

CIDR = "10.244.0.0/16"
NODE_IPS = {"192.168.5.1", "10.244.0.1"}


@dataclass(frozen=True)
class Packet:
    src: str
    dst: str
    dport: int
    proto: str = "tcp"


def parse_nat(text: str) -> dict[str, list[list[str]]]:
    nat = text.split("*nat\n", 1)[1]
    chains: dict[str, list[list[str]]] = defaultdict(list)
    for line in nat.splitlines():
        if line.startswith("-A "):
            argv = shlex.split(line)
            chains[argv[1]].append(argv[2:])
    return chains


def holds(opt: str, val: str, pkt: Packet) -> bool:
    """One match option against the packet (options we do not model always hold)."""
    if opt == "-p":
        return pkt.proto == val
    if opt == "-d":
        return pkt.dst == val
    if opt == "-s":
        return ipaddress.ip_address(pkt.src) in ipaddress.ip_network(val)
    if opt == "--dport":
        return pkt.dport == int(val)
    if opt == "--dst-type":
        return pkt.dst in NODE_IPS
    if opt == "--src-type":
        return pkt.src in NODE_IPS
    return opt != "--rcheck"  # a first packet has no affinity recorded yet


def matches(argv: list[str], pkt: Packet) -> bool:
    i = 0
    while i < len(argv) and argv[i] != "-j":
        neg = argv[i] == "!"
        if neg:
            i += 1
        opt, val = argv[i], argv[i + 1] if i + 1 < len(argv) else ""
        if holds(opt, val, pkt) == neg:
            return False
        i += 1 if opt == "--rcheck" else 2
    return True


def trace(chains: dict[str, list[list[str]]], chain: str, pkt: Packet, p: float = 1.0,
          marked: bool = False, start: int = 0) -> list[tuple[float, str | None, bool]]:
    """(probability, DNAT destination or None, masquerade mark) for every path."""
    for i in range(start, len(chains[chain])):
        rule = chains[chain][i]
        if "-j" not in rule or not matches(rule, pkt):
            continue
        target = rule[rule.index("-j") + 1]
        q = float(rule[rule.index("--probability") + 1]) if "--probability" in rule else 1.0
        taken: list[tuple[float, str | None, bool]]
        if target == "DNAT":
            taken = [(p * q, rule[rule.index("--to-destination") + 1], marked)]
        elif target == iptables.MARK_MASQ:
            return trace(chains, chain, pkt, p, True, i + 1)
        else:
            taken = trace(chains, target, pkt, p * q, marked)
        if q == 1.0:
            return taken
        return taken + trace(chains, chain, pkt, p * (1 - q), marked, i + 1)
    return [(p, None, marked)]


@pytest.fixture(params=[False, True], ids=["kube-proxy-text", "large-cluster-lean"])
def large(request: pytest.FixtureRequest) -> bool:
    """Every flow test runs on both forms of the rules: they must route alike."""
    return bool(request.param)


WEB = ServicePort("ns", "web", "http", "tcp", "10.96.0.10", 80, node_port=30080)


def outcomes(pkt: Packet, large: bool, n: int = 3, sp: ServicePort = WEB,
             local: int = 0) -> dict[str | None, tuple[float, bool]]:
    """Where `pkt` goes (DNAT destination or None) with what probability, and whether it
    is masqueraded; endpoints 10.244.1.1..n, the first `local` of them on this node."""
    eps = tuple(Endpoint(f"10.244.1.{i}", 8080, local=i <= local) for i in range(1, n + 1))
    r = iptables.render(sp, eps, CIDR, large)
    chains = parse_nat(iptables.restore_text(
        iptables.Plan(top=iptables.top_level([r], 14), write=[r])))
    result: dict[str | None, tuple[float, bool]] = {}
    for p, dest, marked in trace(chains, iptables.SERVICES, pkt):
        prev = result.get(dest, (0.0, marked))
        result[dest] = (prev[0] + p, marked)
    return result


def test_cluster_ip_spreads_evenly_and_pod_traffic_is_not_masqueraded(large: bool) -> None:
    got = outcomes(Packet("10.244.2.7", "10.96.0.10", 80), large)
    assert set(got) == {f"10.244.1.{i}:8080" for i in (1, 2, 3)}
    for share, marked in got.values():
        assert abs(share - 1 / 3) < 1e-6 and not marked


def test_traffic_from_outside_the_cluster_cidr_is_masqueraded(large: bool) -> None:
    got = outcomes(Packet("192.168.5.1", "10.96.0.10", 80), large)
    assert len(got) == 3 and all(marked for _, marked in got.values())


def test_hairpin_is_masqueraded_only_to_itself(large: bool) -> None:
    got = outcomes(Packet("10.244.1.2", "10.96.0.10", 80), large)
    assert got["10.244.1.2:8080"][1] and not got["10.244.1.1:8080"][1]


def test_node_port_on_every_local_address_is_masqueraded(large: bool) -> None:
    for ip in NODE_IPS:
        got = outcomes(Packet("10.244.2.7", ip, 30080), large)
        assert abs(sum(share for share, _ in got.values()) - 1) < 1e-6
        assert None not in got and all(marked for _, marked in got.values())


def test_other_ports_and_addresses_pass_untouched(large: bool) -> None:
    assert outcomes(Packet("10.244.2.7", "10.96.0.10", 81), large) == {None: (1.0, False)}
    assert outcomes(Packet("10.244.2.7", "8.8.8.8", 30080), large) == {None: (1.0, False)}
    assert outcomes(Packet("10.244.2.7", "10.96.0.10", 80, "udp"), large) == {None: (1.0, False)}


LB = dataclasses.replace(WEB, lb_ips=("192.168.5.200",), external_ips=("192.168.5.201",))
LB_LOCAL = dataclasses.replace(LB, external_local=True)
CLIENT = "192.168.5.77"


@pytest.mark.parametrize("dst", ["192.168.5.200", "192.168.5.201"])
def test_cluster_policy_spreads_external_addresses_and_masquerades(large: bool,
                                                                   dst: str) -> None:
    got = outcomes(Packet(CLIENT, dst, 80), large, sp=LB, local=1)
    assert len(got) == 3 and all(marked for _, marked in got.values())


@pytest.mark.parametrize("dst", ["192.168.5.200", "192.168.5.201", "192.168.5.1"])
def test_local_policy_keeps_the_client_address_and_stays_on_the_node(large: bool,
                                                                     dst: str) -> None:
    dport = 30080 if dst == "192.168.5.1" else 80
    got = outcomes(Packet(CLIENT, dst, dport), large, sp=LB_LOCAL, local=1)
    assert got == {"10.244.1.1:8080": (1.0, False)}


def test_local_policy_sends_pod_traffic_to_every_endpoint(large: bool) -> None:
    got = outcomes(Packet("10.244.2.7", "192.168.5.200", 80), large, sp=LB_LOCAL, local=1)
    assert len(got) == 3 and not any(marked for _, marked in got.values())


def test_source_ranges_let_in_only_their_sources(large: bool) -> None:
    sp = dataclasses.replace(LB, source_ranges=("192.168.5.64/26",))
    assert None not in outcomes(Packet(CLIENT, "192.168.5.200", 80), large, sp=sp)
    assert outcomes(Packet("192.168.6.1", "192.168.5.200", 80), large, sp=sp) == {
        None: (1.0, False)}  # left for KUBE-PROXY-FIREWALL to drop


def test_internal_local_policy_uses_only_local_endpoints(large: bool) -> None:
    sp = dataclasses.replace(WEB, internal_local=True)
    got = outcomes(Packet("10.244.2.7", "10.96.0.10", 80), large, sp=sp, local=2)
    assert set(got) == {"10.244.1.1:8080", "10.244.1.2:8080"}
