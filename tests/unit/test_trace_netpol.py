"""`trace`'s NetworkPolicy verdicts, on the real state of a 3-node lab (captured from the
agents' /debug/dataplane by tests/e2e/test_lab_traffic.py with MKP_CAPTURE_TRACE set):
np-server's default-deny and allow-from-allowed (web opened to namespaces labelled
purpose=allowed, i.e. np-client-a) in force; web on mkp-lab-1, friend and client-a on
mkp-lab-2, stranger and client-b on mkp-lab-3."""

from __future__ import annotations

import copy
import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest

from minikube_py.trace.path import NodeState, Source, Trace, Tracer

LAB = json.loads((Path(__file__).parent / "data" / "trace_netpol_lab.json").read_text())
PODS = {p["metadata"]["name"]: p for p in LAB["pods"]}
DENY, ALLOW = "np-server/default-deny", "np-server/allow-from-allowed"
SELECTING_WEB = [ALLOW, DENY]
ALLOW_RULE_PEERS = "MKP-NP-7TWS3LMQZF-I0P"  # allow-from-allowed's rule 0: np-client-a's pods


def trace(src: str, dst: str, states: dict[str, Any] | None = None) -> Trace:
    raw = states or LAB["states"]
    tracer = Tracer({n: NodeState(n, s) for n, s in raw.items()}, LAB["nodes"], LAB["pods"])
    pod = PODS[src]
    source = Source(pod["spec"]["nodeName"], ipaddress.IPv4Address(pod["status"]["podIP"]),
                    f"{pod['metadata']['namespace']}/{src}")
    return tracer.trace(source, ipaddress.IPv4Address(PODS[dst]["status"]["podIP"]), 8080)


def verdicts(t: Trace) -> list[tuple[str, str, str, list[str], list[str]]]:
    return [(h.node, h.detail["direction"], h.detail["verdict"], h.detail["policies"],
             h.detail["allowedBy"]) for h in t.hops if h.kind == "networkpolicy"]


@pytest.mark.parametrize(("src", "dst", "want", "outcome"), [
    pytest.param("client-b", "web", [
        ("mkp-lab-3", "egress", "not isolated", [], []),
        ("mkp-lab-1", "ingress", "dropped", SELECTING_WEB, [])],
        "DROP in nft filter FORWARD: NetworkPolicy ingress of pod np-server/web (10.244.0.2): "
        "DROPPED: selected by np-server/allow-from-allowed, np-server/default-deny, no rule "
        "of theirs allows it", id="another namespace is dropped at web's node"),
    pytest.param("client-a", "web", [
        ("mkp-lab-2", "egress", "not isolated", [], []),
        ("mkp-lab-1", "ingress", "allowed", SELECTING_WEB, [f"{ALLOW} rule 0"])],
        "delivered to pod np-server/web on node mkp-lab-1",
        id="the allowed namespace is let in by the rule naming it"),
    pytest.param("web", "friend", [
        ("mkp-lab-1", "egress", "not isolated", [], []),  # the policies isolate ingress only
        ("mkp-lab-2", "ingress", "dropped", [DENY], [])],
        "DROP in nft filter FORWARD: NetworkPolicy ingress of pod np-server/friend "
        "(10.244.1.2): DROPPED: selected by np-server/default-deny, no rule of theirs allows "
        "it", id="default deny holds inside the namespace too"),
    pytest.param("friend", "stranger", [
        ("mkp-lab-2", "egress", "not isolated", [], []),
        ("mkp-lab-3", "ingress", "dropped", [DENY], [])],
        "DROP in nft filter FORWARD: NetworkPolicy ingress of pod np-server/stranger "
        "(10.244.2.2): DROPPED: selected by np-server/default-deny, no rule of theirs allows "
        "it", id="between two other nodes"),
])
def test_the_verdict_names_the_policies_and_rule(
        src: str, dst: str, want: list[Any], outcome: str) -> None:
    t = trace(src, dst)
    assert verdicts(t) == want
    assert t.outcome == outcome


def test_the_hop_text_reads_as_a_sentence() -> None:
    texts = [h.text for h in trace("client-a", "web").hops if h.kind == "networkpolicy"]
    assert texts == [
        ("NetworkPolicy egress of pod np-client-a/client-a (10.244.1.3): allowed, no policy "
        "selects it (not isolated)"),
        ("NetworkPolicy ingress of pod np-server/web (10.244.0.2): allowed by "
        "np-server/allow-from-allowed rule 0 (selected by np-server/allow-from-allowed, "
        "np-server/default-deny)")]


def test_nomatch_entries_are_exceptions_as_in_the_kernel() -> None:
    """An ipBlock's `except` is a nomatch entry: the most specific entry decides."""
    states = copy.deepcopy(LAB["states"])
    states["mkp-lab-1"]["ipsets"][ALLOW_RULE_PEERS] = ["10.244.0.0/16",
                                                        "10.244.1.3/32 nomatch"]
    assert verdicts(trace("client-b", "web", states))[-1][2:] == (
        "allowed", SELECTING_WEB, [f"{ALLOW} rule 0"])
    assert verdicts(trace("client-a", "web", states))[-1][2] == "dropped"


def test_a_set_missing_from_the_snapshot_is_not_evaluated_not_guessed() -> None:
    states = copy.deepcopy(LAB["states"])
    del states["mkp-lab-1"]["ipsets"]["MKP-NP-INGRESS-ISO"]
    hop = [h for h in trace("client-b", "web", states).hops if h.kind == "networkpolicy"][-1]
    assert hop.detail["verdict"] == "not evaluated"
    assert hop.text.endswith("not evaluated (ipset MKP-NP-INGRESS-ISO is not known on this "
                             "node)")


def test_nodes_without_policies_add_no_verdict() -> None:
    states = copy.deepcopy(LAB["states"])
    for state in states.values():
        for mode, text in state["iptables"].items():
            state["iptables"][mode] = "\n".join(
                line for line in text.splitlines() if "MKP-N" not in line)
    t = trace("client-b", "web", states)
    assert verdicts(t) == [] and t.outcome == "delivered to pod np-server/web on node mkp-lab-1"
