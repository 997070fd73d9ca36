"""Inter-pod affinity and anti-affinity, table-driven on Kubernetes' InterPodAffinity
behaviour: required terms filter (both ways for anti-affinity), the first pod of a
self-affine group goes anywhere, preferred terms score, and validation names the field."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.api.podaffinity import affinity_causes
from minikube_py.scheduler.algorithm import Algorithm, FitError
from minikube_py.scheduler.interpod import (
    AFFINITY,
    ANTI_AFFINITY,
    EXISTING_ANTI_AFFINITY,
    InterPodAffinity,
    prepare,
)
from minikube_py.scheduler.nodeinfo import NodeInfo
from minikube_py.scheduler.podinfo import PodInfo, pod_info
from tests.fixtures import builders

HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
REQ = "requiredDuringSchedulingIgnoredDuringExecution"
PREF = "preferredDuringSchedulingIgnoredDuringExecution"


def no_labels(_: str) -> dict[str, str] | None:
    return None


def node(name: str, zone: str | None = "a") -> NodeInfo:
    labels = {HOST: name, **({ZONE: zone} if zone else {})}
    info = NodeInfo(name)
    info.set_node(builders.node(name, labels=labels))
    return info


def term(app: str, key: str = HOST, **extra: Any) -> dict[str, Any]:
    return {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key, **extra}


def pod(name: str, app: str, namespace: str = "default", **affinity: Any) -> PodInfo:
    spec = {"affinity": affinity} if affinity else {}
    return pod_info(builders.pod(name, namespace, labels={"app": app}, spec=spec))


def place(nodes: dict[str, NodeInfo], where: str, info: PodInfo) -> None:
    nodes[where].add_pod(info)


def decide(incoming: PodInfo, nodes: dict[str, NodeInfo],
           labels: Any = no_labels) -> dict[str, tuple[str, ...]]:
    listed = list(nodes.values())
    state = InterPodAffinity(incoming, listed, [n for n in listed if n.affinity_pods], labels)
    return {name: state.reasons(n) for name, n in nodes.items()}


def test_anti_affinity_on_hostname_keeps_replicas_apart() -> None:
    nodes = {n: node(n) for n in ("n1", "n2", "n3")}
    anti: dict[str, Any] = {"podAntiAffinity": {REQ: [term("db")]}}
    place(nodes, "n1", pod("db-0", "db", **anti))
    assert decide(pod("db-1", "db", **anti), nodes) == {
        "n1": (ANTI_AFFINITY,), "n2": (), "n3": ()}


def test_existing_pods_anti_affinity_is_symmetric() -> None:
    """The incoming pod has no terms; a placed pod's anti-affinity still shuts it out."""
    nodes = {n: node(n, zone=z) for n, z in (("n1", "a"), ("n2", "a"), ("n3", "b"))}
    place(nodes, "n1", pod("loner", "loner", podAntiAffinity={REQ: [term("web", ZONE)]}))
    assert decide(pod("web-1", "web"), nodes) == {
        "n1": (EXISTING_ANTI_AFFINITY,), "n2": (EXISTING_ANTI_AFFINITY,), "n3": ()}


def test_affinity_needs_a_matching_pod_in_the_domain_and_the_label() -> None:
    nodes = {"n1": node("n1", "a"), "n2": node("n2", "b"), "n3": node("n3", None)}
    place(nodes, "n1", pod("cache-0", "cache"))
    assert decide(pod("web-0", "web", podAffinity={REQ: [term("cache", ZONE)]}), nodes) == {
        "n1": (), "n2": (AFFINITY,), "n3": (AFFINITY,)}


def test_first_pod_of_a_self_affine_group_goes_anywhere_with_the_label() -> None:
    nodes = {"n1": node("n1", "a"), "n2": node("n2", None)}
    first = pod("web-0", "web", podAffinity={REQ: [term("web", ZONE)]})
    assert decide(first, nodes) == {"n1": (), "n2": (AFFINITY,)}
    # Not self-matching: with no cache pod anywhere, nothing fits.
    other = pod("web-0", "web", podAffinity={REQ: [term("cache", ZONE)]})
    assert decide(other, nodes) == {"n1": (AFFINITY,), "n2": (AFFINITY,)}


@pytest.mark.parametrize(("affinity_term", "other_namespace", "blocked"), [
    (term("db"), "default", True),  # no namespaces: the pod's own
    (term("db"), "other", False),
    (term("db", namespaces=["other"]), "other", True),
    (term("db", namespaceSelector={}), "other", True),  # {}: every namespace
    (term("db", namespaceSelector={"matchLabels": {"team": "x"}}), "other", True),
    (term("db", namespaceSelector={"matchLabels": {"team": "y"}}), "other", False),
    ({"topologyKey": HOST}, "default", False),  # null labelSelector selects nothing
])
def test_namespaces_of_a_term(affinity_term: dict[str, Any], other_namespace: str,
                              blocked: bool) -> None:
    nodes = {"n1": node("n1")}
    place(nodes, "n1", pod("db-0", "db", other_namespace))

    def labels(ns: str) -> dict[str, str] | None:
        return {"team": "x"} if ns == "other" else {}

    reasons = decide(pod("x", "x", podAntiAffinity={REQ: [affinity_term]}), nodes, labels)
    assert reasons["n1"] == ((ANTI_AFFINITY,) if blocked else ())


def test_preferred_terms_score_both_ways_and_normalise() -> None:
    nodes = {n: node(n) for n in ("n1", "n2", "n3")}
    place(nodes, "n1", pod("cache-0", "cache"))
    place(nodes, "n3", pod("noisy-0", "noisy"))
    incoming = pod("web-0", "web", podAffinity={PREF: [
        {"weight": 50, "podAffinityTerm": term("cache")}]}, podAntiAffinity={PREF: [
            {"weight": 100, "podAffinityTerm": term("noisy")}]})
    listed = list(nodes.values())
    state = prepare(incoming, listed, [], no_labels)
    assert state is not None
    assert state.scores(listed) == [100.0, 100 * 100 / 150, 0.0]


def test_no_terms_anywhere_costs_nothing() -> None:
    nodes = [node("n1")]
    nodes[0].add_pod(pod("a", "a"))
    assert prepare(pod("b", "b"), nodes, [], no_labels) is None


def test_algorithm_spreads_a_statefulset_and_explains_when_it_cannot() -> None:
    nodes = [node("n1"), node("n2")]
    anti: dict[str, Any] = {"podAntiAffinity": {REQ: [term("db")]}}
    algorithm = Algorithm()
    for i in range(2):
        incoming = pod(f"db-{i}", "db", **anti)
        state = prepare(incoming, nodes, [n for n in nodes if n.affinity_pods], no_labels)
        chosen = algorithm.select(incoming, nodes, state)
        next(n for n in nodes if n.name == chosen).add_pod(incoming)
    assert sorted(len(n.pods) for n in nodes) == [1, 1]
    third = pod("db-2", "db", **anti)
    with pytest.raises(FitError) as e:
        algorithm.select(third, nodes, prepare(third, nodes, nodes, no_labels))
    assert e.value.message == (
        "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules.")


@pytest.mark.parametrize(("affinity", "path"), [
    ({"podAntiAffinity": {REQ: [{"labelSelector": {}}]}},
     f"spec.affinity.podAntiAffinity.{REQ}[0].topologyKey"),
    ({"podAffinity": {REQ: [term("a", "not a key!")]}},
     f"spec.affinity.podAffinity.{REQ}[0].topologyKey"),
    ({"podAffinity": {PREF: [{"weight": 0, "podAffinityTerm": term("a")}]}},
     f"spec.affinity.podAffinity.{PREF}[0].weight"),
    ({"podAffinity": {PREF: [{"weight": 1}]}},
     f"spec.affinity.podAffinity.{PREF}[0].podAffinityTerm"),
    ({"podAffinity": {REQ: [term("a", labelSelector={"matchExpressions": [
        {"key": "a", "operator": "Bogus"}]})]}},
     f"spec.affinity.podAffinity.{REQ}[0].labelSelector"),
    ({"podAffinity": {REQ: [term("a", namespaces=["Not_A_Name"])]}},
     f"spec.affinity.podAffinity.{REQ}[0].namespaces[0]"),
    ({"podAffinity": {REQ: "x"}}, f"spec.affinity.podAffinity.{REQ}"),
])
def test_validation_names_the_field(affinity: dict[str, Any], path: str) -> None:
    assert [c.field for c in affinity_causes(affinity, "spec.affinity")] == [path]


def test_valid_affinity_has_no_causes() -> None:
    assert affinity_causes({"podAffinity": {REQ: [term("a")], PREF: [
        {"weight": 100, "podAffinityTerm": term("b", ZONE, namespaceSelector={})}]}},
        "spec.affinity") == []
