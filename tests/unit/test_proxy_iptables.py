"""Golden-text tests of the proxy's restore text: the literal ruleset kube-proxy's
iptables mode would write, and every jump landing on a declared chain."""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from agent.proxy import iptables
from agent.proxy.model import Endpoint, ServicePort, ready_endpoints, service_ports

CIDR = "10.244.0.0/16"
SVC1 = ServicePort("ns1", "svc1", "p80", "tcp", "172.30.0.41", 80)
SVC2 = ServicePort("ns2", "svc2", "", "tcp", "172.30.0.42", 80, node_port=3001,
                   affinity_seconds=10800)
SVC3 = ServicePort("ns3", "svc3", "dns", "udp", "172.30.0.43", 53, node_port=3003)

GOLDEN = """\
*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
:KUBE-EXT-G77FM4R64KTEGMA5 - [0:0]
:KUBE-SVC-G77FM4R64KTEGMA5 - [0:0]
:KUBE-SEP-DGRYXPABIY52HSOM - [0:0]
:KUBE-SEP-2OFR2ARFW3D4CFJQ - [0:0]
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-EXT-G77FM4R64KTEGMA5 -m comment --comment "masquerade traffic for ns2/svc2 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-G77FM4R64KTEGMA5 -j KUBE-SVC-G77FM4R64KTEGMA5
-A KUBE-SVC-G77FM4R64KTEGMA5 -m comment --comment "ns2/svc2 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-G77FM4R64KTEGMA5 -m comment --comment "ns2/svc2 -> 10.180.0.2:8080" -m recent --name KUBE-SEP-DGRYXPABIY52HSOM --rcheck --seconds 10800 --reap -j KUBE-SEP-DGRYXPABIY52HSOM
-A KUBE-SVC-G77FM4R64KTEGMA5 -m comment --comment "ns2/svc2 -> 10.180.0.3:8080" -m recent --name KUBE-SEP-2OFR2ARFW3D4CFJQ --rcheck --seconds 10800 --reap -j KUBE-SEP-2OFR2ARFW3D4CFJQ
-A KUBE-SVC-G77FM4R64KTEGMA5 -m comment --comment "ns2/svc2 -> 10.180.0.2:8080" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-DGRYXPABIY52HSOM
-A KUBE-SVC-G77FM4R64KTEGMA5 -m comment --comment "ns2/svc2 -> 10.180.0.3:8080" -j KUBE-SEP-2OFR2ARFW3D4CFJQ
-A KUBE-SEP-DGRYXPABIY52HSOM -m comment --comment ns2/svc2 -s 10.180.0.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-DGRYXPABIY52HSOM -m comment --comment ns2/svc2 -m recent --name KUBE-SEP-DGRYXPABIY52HSOM --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:8080
-A KUBE-SEP-2OFR2ARFW3D4CFJQ -m comment --comment ns2/svc2 -s 10.180.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-2OFR2ARFW3D4CFJQ -m comment --comment ns2/svc2 -m recent --name KUBE-SEP-2OFR2ARFW3D4CFJQ --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:8080
:KUBE-SEP-OLDOLDOLDOLDOLDO - [0:0]
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns2/svc2 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j KUBE-SVC-G77FM4R64KTEGMA5
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-NODEPORTS -m comment --comment ns2/svc2 -m tcp -p tcp --dport 3001 -j KUBE-EXT-G77FM4R64KTEGMA5
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-I PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-X KUBE-SEP-OLDOLDOLDOLDOLDO
COMMIT
*filter
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
-A KUBE-SERVICES -m comment --comment "ns3/svc3:dns has no endpoints" -m udp -p udp -d 172.30.0.43 --dport 53 -j REJECT --reject-with icmp-port-unreachable
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns3/svc3:dns has no endpoints" -m addrtype --dst-type LOCAL -m udp -p udp --dport 3003 -j REJECT --reject-with icmp-port-unreachable
COMMIT
"""


def golden_plan() -> iptables.Plan:
    rules = [
        iptables.render(SVC1, (Endpoint("10.180.0.1", 80),), CIDR),
        iptables.render(SVC2, (Endpoint("10.180.0.2", 8080), Endpoint("10.180.0.3", 8080)), CIDR),
        iptables.render(SVC3, (), CIDR),
    ]
    return iptables.Plan(top=iptables.top_level(rules, 14), write=rules,
                         stale_nat={"KUBE-SEP-OLDOLDOLDOLDOLDO"},
                         missing_hooks=[iptables.HOOKS[0]])


def test_restore_text_matches_golden_ruleset() -> None:
    assert iptables.restore_text(golden_plan()) == GOLDEN


# externalTrafficPolicy Local with an external IP, a LoadBalancer address and source ranges
# (one local endpoint, one elsewhere); internalTrafficPolicy Local with no local endpoint.
SVC4 = ServicePort("ns4", "svc4", "", "tcp", "172.30.0.44", 80, node_port=3004,
                   external_ips=("192.168.99.11",), lb_ips=("1.2.3.4",), external_local=True,
                   source_ranges=("203.0.113.0/25",))
SVC5 = ServicePort("ns5", "svc5", "", "tcp", "172.30.0.45", 80, node_port=3005,
                   lb_ips=("1.2.3.5",), external_local=True, internal_local=True)
EPS4 = (Endpoint("10.180.0.4", 80, local=True), Endpoint("10.180.1.4", 80))
EPS5 = (Endpoint("10.180.1.5", 80),)

GOLDEN_EXTERNAL = """\
*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-EXT-3XH3VQKYCR6ZY7EU - [0:0]
:KUBE-FW-3XH3VQKYCR6ZY7EU - [0:0]
:KUBE-SVC-3XH3VQKYCR6ZY7EU - [0:0]
:KUBE-SVL-3XH3VQKYCR6ZY7EU - [0:0]
:KUBE-SEP-4PQEPIOYUOAIVTTQ - [0:0]
:KUBE-SEP-J47LWLONMGBH5GK7 - [0:0]
-A KUBE-EXT-3XH3VQKYCR6ZY7EU -m comment --comment "pod traffic for ns4/svc4 external destinations" -s 10.244.0.0/16 -j KUBE-SVC-3XH3VQKYCR6ZY7EU
-A KUBE-EXT-3XH3VQKYCR6ZY7EU -m comment --comment "masquerade LOCAL traffic for ns4/svc4 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-3XH3VQKYCR6ZY7EU -m comment --comment "route LOCAL traffic for ns4/svc4 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-3XH3VQKYCR6ZY7EU
-A KUBE-EXT-3XH3VQKYCR6ZY7EU -j KUBE-SVL-3XH3VQKYCR6ZY7EU
-A KUBE-FW-3XH3VQKYCR6ZY7EU -m comment --comment "ns4/svc4 loadbalancer IP" -s 203.0.113.0/25 -j KUBE-EXT-3XH3VQKYCR6ZY7EU
-A KUBE-FW-3XH3VQKYCR6ZY7EU -m comment --comment "other traffic to ns4/svc4 will be dropped by KUBE-PROXY-FIREWALL"
-A KUBE-SVC-3XH3VQKYCR6ZY7EU -m comment --comment "ns4/svc4 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-3XH3VQKYCR6ZY7EU -m comment --comment "ns4/svc4 -> 10.180.0.4:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-4PQEPIOYUOAIVTTQ
-A KUBE-SVC-3XH3VQKYCR6ZY7EU -m comment --comment "ns4/svc4 -> 10.180.1.4:80" -j KUBE-SEP-J47LWLONMGBH5GK7
-A KUBE-SVL-3XH3VQKYCR6ZY7EU -m comment --comment "ns4/svc4 -> 10.180.0.4:80" -j KUBE-SEP-4PQEPIOYUOAIVTTQ
-A KUBE-SEP-4PQEPIOYUOAIVTTQ -m comment --comment ns4/svc4 -s 10.180.0.4 -j KUBE-MARK-MASQ
-A KUBE-SEP-4PQEPIOYUOAIVTTQ -m comment --comment ns4/svc4 -m tcp -p tcp -j DNAT --to-destination 10.180.0.4:80
-A KUBE-SEP-J47LWLONMGBH5GK7 -m comment --comment ns4/svc4 -s 10.180.1.4 -j KUBE-MARK-MASQ
-A KUBE-SEP-J47LWLONMGBH5GK7 -m comment --comment ns4/svc4 -m tcp -p tcp -j DNAT --to-destination 10.180.1.4:80
-A KUBE-SERVICES -m comment --comment "ns4/svc4 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-3XH3VQKYCR6ZY7EU
-A KUBE-SERVICES -m comment --comment "ns4/svc4 external IP" -m tcp -p tcp -d 192.168.99.11 --dport 80 -j KUBE-EXT-3XH3VQKYCR6ZY7EU
-A KUBE-SERVICES -m comment --comment "ns4/svc4 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j KUBE-FW-3XH3VQKYCR6ZY7EU
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-NODEPORTS -m comment --comment ns4/svc4 -m tcp -p tcp --dport 3004 -j KUBE-EXT-3XH3VQKYCR6ZY7EU
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
COMMIT
*filter
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
-A KUBE-SERVICES -m comment --comment "ns5/svc5 has no local endpoints" -m tcp -p tcp -d 172.30.0.45 --dport 80 -j DROP
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns5/svc5 has no local endpoints" -m tcp -p tcp -d 1.2.3.5 --dport 80 -j DROP
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns5/svc5 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3005 -j DROP
-A KUBE-PROXY-FIREWALL -m comment --comment "ns4/svc4 traffic not accepted by KUBE-FW-3XH3VQKYCR6ZY7EU" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP
COMMIT
"""


def test_external_and_local_policies_match_golden_ruleset() -> None:
    rules = [iptables.render(SVC4, EPS4, CIDR), iptables.render(SVC5, EPS5, CIDR)]
    plan = iptables.Plan(top=iptables.top_level(rules, 14), write=rules)
    assert iptables.restore_text(plan) == GOLDEN_EXTERNAL
    for sp, eps, r in ((SVC4, EPS4, rules[0]), (SVC5, EPS5, rules[1])):
        assert iptables.chain_names(sp, eps) == list(r.chains)


@pytest.mark.parametrize("text", [pytest.param(iptables.restore_text(golden_plan()), id="basic"),
                                  pytest.param(GOLDEN_EXTERNAL, id="external")])
def test_every_jump_lands_on_a_declared_chain(text: str) -> None:
    builtin = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}
    targets = {"REJECT", "DNAT", "MARK", "MASQUERADE", "RETURN", "DROP"}
    for table in text.split("*")[1:]:
        declared: set[str] = set()  # so far: iptables-restore checks a jump when it reads it
        for line in table.splitlines():
            if line.startswith(":"):
                declared.add(line[1:].split()[0])
            if line.startswith(("-A", "-I")):
                argv = shlex.split(line)
                assert argv[1] in declared | builtin, line
                if "-j" in argv:  # a rule of only a comment (KUBE-FW-) has no target
                    assert argv[argv.index("-j") + 1] in declared | targets, line


def test_full_sync_pieces_are_the_restore_text() -> None:
    """A streamed full sync (head, declarations, rule blocks of any size, tail) writes
    exactly restore_text, and chain_names names what render makes."""
    rules = golden_plan().write
    plan = iptables.Plan(top=iptables.top_level(rules, 14), write=rules,
                         stale_nat={"KUBE-SEP-OLDOLDOLDOLDOLDO"}, reinsert_hooks=iptables.HOOKS)
    eps = {SVC1: (Endpoint("10.180.0.1", 80),),
           SVC2: (Endpoint("10.180.0.2", 8080), Endpoint("10.180.0.3", 8080)), SVC3: ()}
    names = [c for sp, e in eps.items() for c in iptables.chain_names(sp, e)]
    assert names == [c for r in rules for c in r.chains]
    streamed = (iptables.full_sync_head() + iptables.declare(names[:3]) + iptables.declare(names[3:])
                + iptables.rule_block(rules[:1]) + iptables.rule_block(rules[1:])
                + iptables.full_sync_tail(plan))
    assert streamed == iptables.restore_text(plan)


def test_chain_names_are_kube_proxys() -> None:
    """Values from kube-proxy's own proxier_test.go: our chains read the same on a node."""
    assert iptables.service_chain(SVC1) == "KUBE-SVC-XPGD46QRK7WJZT7O"
    assert iptables.endpoint_chain(SVC1, Endpoint("10.180.0.1", 80)) == "KUBE-SEP-SXIVWICOYRO3J4NJ"
    assert len(iptables.endpoint_chain(SVC1, Endpoint("10.180.0.1", 80))) < 28


@pytest.mark.parametrize(("n", "expected"), [
    pytest.param(4, ["0.2500000000", "0.3333333333", "0.5000000000"], id="four-endpoints"),
    pytest.param(1, [], id="one-endpoint-no-statistic"),
])
def test_probabilities_are_one_over_remaining(n: int, expected: list[str]) -> None:
    eps = tuple(Endpoint(f"10.180.0.{i}", 80) for i in range(1, n + 1))
    chain = iptables.render(SVC1, eps, CIDR).chains[iptables.service_chain(SVC1)].splitlines()
    got = [shlex.split(r)[shlex.split(r).index("--probability") + 1]
           for r in chain if "--probability" in r]
    assert got == expected
    assert sum("-j KUBE-SEP-" in r for r in chain) == n


def test_partial_plan_writes_only_what_it_is_given() -> None:
    full = golden_plan()
    partial = iptables.Plan(top={("nat", "KUBE-SERVICES"): full.top[("nat", "KUBE-SERVICES")]},
                            write=full.write[:1])
    text = iptables.restore_text(partial)
    assert "*filter" not in text  # nothing to change there: the table is not touched
    assert ":KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]" in text
    assert ":KUBE-SVC-G77FM4R64KTEGMA5" not in text  # declaring would flush it
    assert "-j KUBE-SVC-G77FM4R64KTEGMA5" in text     # still reached from KUBE-SERVICES
    assert ":KUBE-NODEPORTS" not in text


def test_empty_plan_is_an_empty_transaction() -> None:
    assert iptables.restore_text(iptables.Plan(top={}, write=[])) == ""


SERVICE: dict[str, Any] = {
    "metadata": {"namespace": "web", "name": "front"},
    "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "sessionAffinity": "ClientIP",
             "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}},
             "ports": [{"name": "http", "port": 80, "nodePort": 30080},
                       {"name": "dns", "protocol": "UDP", "port": 53, "nodePort": 30053},
                       {"name": "sctp", "protocol": "SCTP", "port": 9}]},
}


def test_service_ports_read_from_a_service() -> None:
    assert service_ports(SERVICE) == [
        ServicePort("web", "front", "http", "tcp", "10.96.0.10", 80, 30080, 60),
        ServicePort("web", "front", "dns", "udp", "10.96.0.10", 53, 30053, 60),
    ]


@pytest.mark.parametrize("cluster_ip", [pytest.param("None", id="headless"),
                                        pytest.param("", id="no-address")])
def test_headless_services_get_no_rules(cluster_ip: str) -> None:
    svc = {**SERVICE, "spec": {**SERVICE["spec"], "clusterIP": cluster_ip}}
    assert service_ports(svc) == []


def test_ready_endpoints_ignore_not_ready_and_sort() -> None:
    eps = {"subsets": [{"addresses": [{"ip": "10.244.0.9"}, {"ip": "10.244.0.10"}],
                        "notReadyAddresses": [{"ip": "10.244.0.11"}],
                        "ports": [{"name": "http", "port": 8080}]}]}
    assert ready_endpoints(eps) == {
        "http": (Endpoint("10.244.0.10", 8080), Endpoint("10.244.0.9", 8080))}


def test_load_balancer_fields_are_read_from_a_service() -> None:
    svc = {"metadata": {"namespace": "web", "name": "lb"},
           "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.11",
                    "externalTrafficPolicy": "Local", "internalTrafficPolicy": "Local",
                    "externalIPs": ["192.168.9.9"], "loadBalancerSourceRanges": ["1.0.0.0/8"],
                    "ports": [{"port": 80, "nodePort": 30081}]},
           "status": {"loadBalancer": {"ingress": [
               {"ip": "192.168.9.200", "ipMode": "VIP"}, {"ip": "192.168.9.201",
                                                          "ipMode": "Proxy"}]}}}
    assert service_ports(svc) == [ServicePort(
        "web", "lb", "", "tcp", "10.96.0.11", 80, 30081, external_ips=("192.168.9.9",),
        lb_ips=("192.168.9.200",), external_local=True, internal_local=True,
        source_ranges=("1.0.0.0/8",))]


def test_ready_endpoints_on_this_node_are_local() -> None:
    eps = {"subsets": [{"addresses": [{"ip": "10.244.0.9", "nodeName": "a"},
                                      {"ip": "10.244.1.9", "nodeName": "b"}],
                        "ports": [{"port": 8080}]}]}
    assert ready_endpoints(eps, "a") == {"": (Endpoint("10.244.0.9", 8080, local=True),
                                              Endpoint("10.244.1.9", 8080))}
    assert not any(ep.local for ep in ready_endpoints(eps)[""])
