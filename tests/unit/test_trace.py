"""`trace`'s evaluator and path, on the real state of a 3-node lab (captured from the
agents' /debug/dataplane: legacy and nft rules as the proxy and the overlay wrote them):
a ClusterIP Service with endpoints on every node, a pod on the same node, a NodePort
from a node's own stack, a Service without endpoints, and what breaks a path."""

from __future__ import annotations

import copy
import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest

from minikube_py.trace.collect import TraceError, _homes, _split
from minikube_py.trace.path import NO_ANSWER, NodeState, Source, Tracer, counter_deltas, probe_hops
from minikube_py.trace.rules import Node, Packet, parse, walk

LAB = json.loads((Path(__file__).parent / "data" / "trace_lab.json").read_text())
WEB, DEAD, NODE_PORT = "10.109.45.111", "10.108.229.121", 31212
CLIENT = Source(node="mkp-lab-3", ip=ipaddress.IPv4Address("10.244.2.4"), pod="default/client")
ENDPOINTS = {"10.244.0.3": ("mkp-lab-1", "default/web-6b478569ff-q7c9v"),
             "10.244.1.3": ("mkp-lab-2", "default/web-6b478569ff-r76kd"),
             "10.244.2.3": ("mkp-lab-3", "default/web-6b478569ff-msrrs")}


def tracer(states: dict[str, Any] | None = None, deltas: Any = None) -> Tracer:
    raw = states or LAB["states"]
    return Tracer({n: NodeState(n, s) for n, s in raw.items()}, LAB["nodes"], LAB["pods"],
                  deltas)


def kinds(trace: Any) -> list[str]:
    return [h.kind for h in trace.hops]


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_cluster_ip_follows_the_chosen_endpoint_to_its_node(endpoint: str) -> None:
    node, pod = ENDPOINTS[endpoint]
    trace = tracer().trace(CLIENT, ipaddress.IPv4Address(WEB), 80, endpoint=f"{endpoint}:8080")
    assert trace.outcome == f"delivered to pod {pod} on node {node}"
    dnat = next(h for h in trace.hops if h.kind == "dnat")
    assert dnat.detail["endpoint"] == f"{endpoint}:8080"
    choices = next(h for h in trace.hops if h.kind == "endpoints").detail["endpoints"]
    assert sum(c["probability"] for c in choices) == pytest.approx(1.0, abs=1e-6)
    assert [c["endpoint"] for c in choices if c["chosen"]] == [f"{endpoint}:8080"]
    tunnelled = [h for h in trace.hops if h.kind == "vxlan"]
    if node == CLIENT.node:
        assert not tunnelled
    else:
        assert tunnelled[0].detail["to"] == node
        assert kinds(trace)[kinds(trace).index("vxlan") - 2:kinds(trace).index("vxlan")] == [
            "neighbour", "fdb"]
    assert trace.hops[0].text.startswith("pod default/client eth0 10.244.2.4")
    assert trace.hops[1].kind == "veth" and trace.hops[1].detail["bridge"] == "cni0"
    assert trace.hops[-1].detail == {"pod": pod, "ip": endpoint}


def test_pod_on_the_same_node_goes_bridge_to_veth() -> None:
    trace = tracer().trace(CLIENT, ipaddress.IPv4Address("10.244.2.3"), 8080)
    assert "vxlan" not in kinds(trace) and "dnat" not in kinds(trace)
    route = next(h for h in trace.hops if h.kind == "route")
    assert route.detail["route"]["dev"] == "cni0"
    assert trace.outcome == "delivered to pod default/web-6b478569ff-msrrs on node mkp-lab-3"


def test_node_port_from_a_node_is_marked_dnatted_and_masqueraded() -> None:
    host = Source(node="mkp-lab-1", ip=ipaddress.IPv4Address("192.168.77.11"))
    trace = tracer().trace(host, ipaddress.IPv4Address("192.168.77.11"), NODE_PORT,
                           endpoint="10.244.1.3:8080")
    chains = [h.detail["chain"] for h in trace.hops if h.kind == "rule"]
    assert chains[:3] == ["OUTPUT", "KUBE-SERVICES", "KUBE-NODEPORTS"]
    assert any(h.text.endswith("-j MASQUERADE --random-fully") for h in trace.hops)
    assert trace.outcome == "delivered to pod default/web-6b478569ff-r76kd on node mkp-lab-2"


def test_service_without_endpoints_is_rejected_in_forward() -> None:
    trace = tracer().trace(CLIENT, ipaddress.IPv4Address(DEAD), 80)
    assert trace.outcome == "REJECT in legacy filter FORWARD"
    assert "has no endpoints" in [h for h in trace.hops if h.kind == "rule"][-1].text


def test_a_missing_fdb_entry_is_where_the_path_breaks() -> None:
    states = copy.deepcopy(LAB["states"])
    states["mkp-lab-3"]["fdb"] = []
    trace = tracer(states).trace(CLIENT, ipaddress.IPv4Address(WEB), 80,
                                 endpoint="10.244.0.3:8080")
    assert trace.outcome == "dropped: no FDB entry for 0e:58:0a:f4:00:00"


def test_an_address_no_pod_has_ends_at_the_remote_bridge() -> None:
    trace = tracer().trace(CLIENT, ipaddress.IPv4Address("10.244.1.99"), 80)
    assert trace.outcome == "no pod with address 10.244.1.99 on node mkp-lab-2"


def test_probe_counters_annotate_the_rules_they_moved() -> None:
    before = {n: NodeState(n, s) for n, s in LAB["states"].items()}
    moved = copy.deepcopy(LAB["states"])
    text = moved["mkp-lab-3"]["iptables"]["legacy"]
    needle = "-j KUBE-SEP-4BF5YOXF4CNSHTIN"
    line = next(x for x in text.splitlines() if x.endswith(needle) and "probability" in x)
    moved["mkp-lab-3"]["iptables"]["legacy"] = text.replace(
        line, line.replace(line[:line.index("]") + 1], "[7:420]"), 1)
    after = {n: NodeState(n, s) for n, s in moved.items()}
    deltas = counter_deltas(before, after)
    assert list(deltas.values()) == [7]
    trace = tracer(moved, deltas).trace(CLIENT, ipaddress.IPv4Address(WEB), 80,
                                        endpoint="10.244.0.3:8080")
    counted = {h.detail["chain"]: h.counter for h in trace.hops if h.kind == "rule"}
    assert counted["KUBE-SVC-LOLE4ISW44XBNF3G"] == 7 and counted["PREROUTING"] == 0



SYN = ("tcp      6 117 SYN_SENT src=10.244.2.4 dst=10.108.9.9 sport=40312 dport=80 "
       "[UNREPLIED] src=10.244.0.250 dst=10.244.2.4 sport=8080 dport=40312 mark=0 use=1")
DONE = ("tcp      6 118 TIME_WAIT src=10.244.2.4 dst=10.109.45.111 sport=40313 dport=80 "
        "src=10.244.0.3 dst=10.244.2.4 sport=8080 dport=40313 [ASSURED] mark=0 use=1")


@pytest.mark.parametrize(("outcome", "entries", "answered"), [
    ("timed out", [SYN], False),  # lost past the DNAT: conntrack says nothing came back
    ("No route to host", [SYN], False),  # an ICMP error is no answer from the endpoint
    ("connected", [DONE], True),
    ("timed out", [], False),  # no entry (conntrack missing): the socket decides
    ("refused", [], True),  # the proxy's REJECT: dropped before conntrack confirmed it
])
def test_probe_says_when_the_syn_got_no_answer(outcome: str, entries: list[str],
                                               answered: bool) -> None:
    hops = probe_hops("mkp-lab-3", "default/client",
                      {"sport": 40312, "outcome": outcome, "conntrack": entries})
    assert [h.kind for h in hops] == ["probe"] + ["conntrack"] * len(entries)
    assert hops[0].detail == {"outcome": outcome, "sport": 40312, "answered": answered}
    assert (NO_ANSWER in hops[0].text) is not answered
    assert hops[0].text.startswith(f"probe from default/client source port 40312: {outcome}")
    assert [h.detail["entry"] for h in hops[1:]] == entries


def test_the_node_of_an_address_no_pod_has_is_found_by_its_pod_cidr() -> None:
    """A dead endpoint's node is read too, so the path ends at its bridge, not at 'its
    state was not read'; what is no IPv4 address or in no pod CIDR names no node."""
    nodes: list[Any] = [{"metadata": {"name": name}, "spec": {"podCIDR": cidr}}
                        for name, cidr in (("mkp-lab-1", "10.244.0.0/24"),
                                           ("mkp-lab-2", "10.244.1.0/24"), ("mkp-lab-3", ""))]
    assert _homes(nodes, frozenset({"10.244.1.250", "fd00::1", "10.96.0.1", "db.x"})) == {
        "mkp-lab-2"}

TEXT = """*filter
:FORWARD DROP [0:0]
:X - [0:0]
[3:180] -A FORWARD -m mark ! --mark 0x4000/0x4000 -j X
-A FORWARD -m weird --thing 1 -j ACCEPT
-A FORWARD -s 10.0.0.0/8 -p udp -j ACCEPT
-A X -m multiport --dports 80,8000:8100 -j ACCEPT
COMMIT
"""


@pytest.mark.parametrize(("dport", "mark", "verdict", "evaluated"), [
    (8050, 0, "ACCEPT", ["FORWARD", "X"]),
    (9000, 0, "DROP", ["FORWARD"]),  # X returns; the unknown match is not taken; policy
    (80, 0x4000, "DROP", []),
])
def test_walk_negation_ranges_unknown_matches_and_policy(dport: int, mark: int, verdict: str,
                                                         evaluated: list[str]) -> None:
    tables = parse(TEXT)
    assert tables["filter"].chains["FORWARD"][0].packets == 3
    packet = Packet(src=ipaddress.IPv4Address("10.1.1.1"), dst=ipaddress.IPv4Address("10.2.2.2"),
                    dport=dport, mark=mark)
    result = walk(tables, "filter", "FORWARD", packet, Node())
    assert result.verdict == verdict
    assert [s.rule.chain for s in result.steps if not s.unknown] == evaluated
    # A match the evaluator does not know is reported, never taken for true.
    assert [s.unknown for s in result.steps if s.unknown] == [
        "match --thing 1 is not evaluated"] * (verdict == "DROP")


def test_a_destination_port_must_be_a_tcp_port() -> None:
    assert _split("10.0.0.1:65535") == ("10.0.0.1", 65535)
    assert _split("svc/web") == ("svc/web", None)
    with pytest.raises(TraceError, match="port 99999 is not in 1-65535"):
        _split("10.0.0.1:99999")
    with pytest.raises(TraceError, match="port 0 is not"):
        _split("web:0")
