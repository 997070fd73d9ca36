"""Scheduler decisions, table-driven: pod digestion, filters, scores, the
unschedulable message and the node search."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from minikube_py.api.nodeaffinity import required_matches
from minikube_py.scheduler.algorithm import Algorithm, FitError, feasible_nodes_to_find
from minikube_py.scheduler.filters import check
from minikube_py.scheduler.nodeinfo import NodeInfo
from minikube_py.scheduler.podinfo import DEFAULT_MEMORY, PodInfo, pod_info
from minikube_py.scheduler.scores import score_nodes
from tests.fixtures import builders

GI = 1024**3


def node(name: str, cpu: str = "4", memory: str = "8Gi", pods: int = 110, *, ready: bool = True,
         labels: dict[str, str] | None = None, taints: list[dict[str, Any]] | None = None,
         unschedulable: bool = False) -> NodeInfo:
    info = NodeInfo(name)
    info.set_node(builders.node(name, cpu=cpu, memory=memory, pods=pods, ready=ready,
                                labels=labels or {}, taints=taints or (),
                                unschedulable=unschedulable))
    return info


def pod(name: str = "p", *, cpu: str | None = None, memory: str | None = None,
        owner: str = "", ports: list[dict[str, Any]] | None = None, **spec: Any) -> PodInfo:
    meta: builders.Meta = {"owners": [{"uid": owner, "controller": True, "kind": "ReplicaSet",
                                       "name": "rs", "apiVersion": "apps/v1"}]} if owner else {}
    return pod_info(builders.pod(name, cpu=cpu, memory=memory, ports=ports or (),
                                 spec=spec, **meta))


def test_pod_requests_sum_containers_take_max_init_and_add_overhead() -> None:
    info = pod_info({
        "metadata": {"name": "x", "namespace": "ns"},
        "spec": {
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
                {"name": "b", "resources": {"limits": {"cpu": "0.2"}}},
            ],
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "1"}}}],
            "overhead": {"cpu": "10m"},
        },
    })
    assert (info.key, info.cpu, info.memory) == ("ns/x", 1010, 64 * 1024**2)
    # b requested no memory: scoring counts Kubernetes' 200Mi default for it
    assert info.nonzero_memory == 64 * 1024**2 + DEFAULT_MEMORY


def test_bad_quantity_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        pod(cpu="lots")


def _aff(op: str, *values: str, key: str = "zone") -> dict[str, Any]:
    req = {"key": key, "operator": op, "values": list(values)}
    return {"nodeSelectorTerms": [{"matchExpressions": [req]}]}


@pytest.mark.parametrize(
    ("labels", "terms", "expected"),
    [
        pytest.param({"zone": "a"}, _aff("In", "a", "b")["nodeSelectorTerms"], True, id="in"),
        pytest.param({"zone": "c"}, _aff("In", "a")["nodeSelectorTerms"], False, id="not-in-set"),
        pytest.param({}, _aff("NotIn", "a")["nodeSelectorTerms"], True, id="notin-absent"),
        pytest.param({"zone": "a"}, _aff("NotIn", "a")["nodeSelectorTerms"], False, id="notin"),
        pytest.param({"zone": ""}, _aff("Exists")["nodeSelectorTerms"], True, id="exists"),
        pytest.param({}, _aff("DoesNotExist")["nodeSelectorTerms"], True, id="does-not-exist"),
        pytest.param({"zone": "x"}, _aff("DoesNotExist")["nodeSelectorTerms"], False,
                     id="does-exist"),
        pytest.param({"gpus": "4"}, _aff("Gt", "2", key="gpus")["nodeSelectorTerms"], True,
                     id="gt"),
        pytest.param({"gpus": "2"}, _aff("Gt", "2", key="gpus")["nodeSelectorTerms"], False,
                     id="gt-equal"),
        pytest.param({"gpus": "1"}, _aff("Lt", "2", key="gpus")["nodeSelectorTerms"], True,
                     id="lt"),
        pytest.param({"gpus": "x"}, _aff("Lt", "2", key="gpus")["nodeSelectorTerms"], False,
                     id="lt-not-integer"),
        pytest.param({"zone": "b"},
                     _aff("In", "a")["nodeSelectorTerms"] + _aff("In", "b")["nodeSelectorTerms"],
                     True, id="terms-are-ored"),
        pytest.param({"zone": "a"}, [{"matchExpressions": []}], False, id="empty-term"),
        pytest.param({}, [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": ["n1"]}]}], True,
            id="match-fields-name"),
    ],
)
def test_required_node_affinity(labels: dict[str, str], terms: list[dict[str, Any]],
                                expected: bool) -> None:
    assert required_matches({}, terms, labels, "n1") is expected


@pytest.mark.parametrize(
    ("the_pod", "the_node", "reasons"),
    [
        pytest.param(pod(cpu="1"), node("n"), (), id="fits"),
        pytest.param(pod(), node("n", ready=False), ("node(s) were not ready",), id="not-ready"),
        pytest.param(pod(), node("n", unschedulable=True), ("node(s) were unschedulable",),
                     id="cordoned"),
        pytest.param(pod(tolerations=[{"key": "node.kubernetes.io/unschedulable",
                                       "operator": "Exists", "effect": "NoSchedule"}]),
                     node("n", unschedulable=True), (), id="cordon-tolerated"),
        pytest.param(pod(cpu="5"), node("n"), ("Insufficient cpu",), id="cpu"),
        pytest.param(pod(cpu="5", memory="9Gi"), node("n"),
                     ("Insufficient cpu", "Insufficient memory"), id="cpu-and-memory"),
        pytest.param(pod(), node("n", pods=0), ("Too many pods",), id="pods"),
        pytest.param(pod(nodeSelector={"disk": "ssd"}), node("n", labels={"disk": "hdd"}),
                     ("node(s) didn't match Pod's node affinity/selector",), id="selector"),
        pytest.param(pod(nodeSelector={"disk": "ssd"}), node("n", labels={"disk": "ssd"}), (),
                     id="selector-match"),
        pytest.param(pod(affinity={"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": _aff("In", "a")}}),
            node("n", labels={"zone": "b"}),
            ("node(s) didn't match Pod's node affinity/selector",), id="required-affinity"),
        pytest.param(pod(), node("n", taints=[{"key": "node-role.kubernetes.io/control-plane",
                                               "effect": "NoSchedule"}]),
                     ("node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }",),
                     id="taint"),
        pytest.param(pod(), node("n", taints=[{"key": "k", "value": "v",
                                               "effect": "PreferNoSchedule"}]), (),
                     id="prefer-no-schedule-is-not-a-filter"),
        pytest.param(pod(tolerations=[{"key": "dedicated", "operator": "Equal", "value": "db",
                                       "effect": "NoExecute"}]),
                     node("n", taints=[{"key": "dedicated", "value": "db",
                                        "effect": "NoExecute"}]), (), id="toleration"),
        pytest.param(pod(tolerations=[{"operator": "Exists"}]),
                     node("n", taints=[{"key": "a", "effect": "NoExecute"}]), (),
                     id="tolerate-everything"),
    ],
)
def test_filters(the_pod: PodInfo, the_node: NodeInfo, reasons: tuple[str, ...]) -> None:
    assert check(the_pod, the_node) == reasons


def test_assumed_requests_count_and_release() -> None:
    n = node("n", cpu="2")
    n.add_pod(pod("a", cpu="1500m"))
    assert check(pod("b", cpu="1"), n) == ("Insufficient cpu",)
    n.remove_pod("default/a")
    assert check(pod("b", cpu="1"), n) == ()
    assert (n.cpu, n.nonzero_cpu, len(n.pods)) == (0, 0, 0)


@pytest.mark.parametrize(
    ("used", "wanted", "conflict"),
    [
        pytest.param(("0.0.0.0", "TCP", 80), ("0.0.0.0", "TCP", 80), True, id="same"),
        pytest.param(("0.0.0.0", "TCP", 80), ("0.0.0.0", "UDP", 80), False, id="other-proto"),
        pytest.param(("10.0.0.1", "TCP", 80), ("10.0.0.2", "TCP", 80), False, id="other-ip"),
        pytest.param(("10.0.0.1", "TCP", 80), ("0.0.0.0", "TCP", 80), True, id="wildcard"),
        pytest.param(("0.0.0.0", "TCP", 80), ("0.0.0.0", "TCP", 81), False, id="other-port"),
    ],
)
def test_host_ports(used: tuple[str, str, int], wanted: tuple[str, str, int],
                    conflict: bool) -> None:
    n = node("n")
    n.add_pod(pod("a", ports=[{"containerPort": 1, "hostIP": used[0], "protocol": used[1],
                               "hostPort": used[2]}]))
    other = pod("b", ports=[{"containerPort": 1, "hostIP": wanted[0], "protocol": wanted[1],
                             "hostPort": wanted[2]}])
    expected = ("node(s) didn't have free ports for the requested pod ports",) if conflict else ()
    assert check(other, n) == expected


def test_score_values_match_kubernetes_formulas() -> None:
    half = node("half", cpu="2", memory="2Gi")
    half.add_pod(pod("x", cpu="900m", memory="1Gi"))
    # with the pod: cpu 1000m/2000m = .5, memory (1Gi + 200Mi default)/2Gi = .5977
    least = ((1 - 0.5) + (1 - (1024 + 200) / 2048)) * 50
    balanced = (1 - abs(0.5 - (1024 + 200) / 2048) / 2) * 100
    [score] = score_nodes(pod(cpu="100m"), [half])
    assert score == pytest.approx(least + balanced + 200)  # + spread (no owner: full marks)


def test_least_allocated_prefers_emptier_nodes() -> None:
    busy, idle = node("busy"), node("idle")
    busy.add_pod(pod("x", cpu="3", memory="6Gi"))
    p = pod(cpu="100m", memory="128Mi")
    idle_score, busy_score = score_nodes(p, [idle, busy])
    assert idle_score > busy_score


def test_balanced_allocation_prefers_even_use() -> None:
    cpu_heavy, even = node("a"), node("b")
    cpu_heavy.add_pod(pod("x", cpu="3", memory="100Mi"))
    even.add_pod(pod("y", cpu="2", memory="4Gi"))
    p = pod(cpu="100m", memory="100Mi")
    even_score, heavy_score = score_nodes(p, [even, cpu_heavy])
    assert even_score > heavy_score


def test_spread_and_preferred_affinity_scores() -> None:
    crowded, empty = node("a"), node("b", labels={"zone": "z"})
    crowded.add_pod(pod("sib", owner="rs-1"))
    spread_scores = score_nodes(pod(owner="rs-1"), [crowded, empty])
    assert spread_scores[1] > spread_scores[0]
    preferring = pod(affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 50, "preference": _aff("In", "z")["nodeSelectorTerms"][0]}]}})
    plain = node("c")
    scores = score_nodes(preferring, [plain, node("d", labels={"zone": "z"})])
    assert scores[1] - scores[0] == pytest.approx(200)


@pytest.mark.parametrize(
    ("reasons", "total", "message"),
    [
        pytest.param(Counter({"Insufficient cpu": 2,
                              "node(s) didn't match Pod's node affinity/selector": 1}), 3,
                     "0/3 nodes are available: 1 node(s) didn't match Pod's node "
                     "affinity/selector, 2 Insufficient cpu.", id="sorted-like-kubernetes"),
        pytest.param(Counter({"Insufficient memory": 1}), 1,
                     "0/1 nodes are available: 1 Insufficient memory.", id="one"),
        pytest.param(Counter(), 0, "no nodes available to schedule pods", id="no-nodes"),
    ],
)
def test_unschedulable_message(reasons: Counter[str], total: int, message: str) -> None:
    assert FitError(total, reasons).message == message


def test_select_explains_every_node() -> None:
    nodes = [node("a", cpu="1"), node("b", cpu="1"), node("c", cpu="1", labels={"disk": "hdd"})]
    with pytest.raises(FitError) as err:
        Algorithm().select(pod(cpu="2", nodeSelector={"disk": "hdd"}), nodes)
    assert err.value.message == (
        "0/3 nodes are available: 1 Insufficient cpu, "
        "2 node(s) didn't match Pod's node affinity/selector.")


def test_select_breaks_ties_at_random() -> None:
    nodes = [node(f"n{i}") for i in range(4)]
    algo = Algorithm(rng=random.Random(7))
    chosen = {algo.select(pod(), nodes) for _ in range(40)}
    assert chosen == {"n0", "n1", "n2", "n3"}


def test_select_takes_the_only_fitting_node() -> None:
    nodes = [node(f"n{i}", cpu="1") for i in range(5)] + [node("big", cpu="8")]
    assert Algorithm().select(pod(cpu="2"), nodes) == "big"


@pytest.mark.parametrize(
    ("nodes", "percentage", "expected"),
    [(50, 0, 50), (1000, 0, 420), (5000, 0, 500), (100000, 0, 5000), (1000, 10, 100),
     (1000, 100, 1000)],
)
def test_feasible_nodes_to_find(nodes: int, percentage: int, expected: int) -> None:
    assert feasible_nodes_to_find(nodes, percentage) == expected


def test_search_rotates_over_large_clusters() -> None:
    nodes = [node(f"n{i:04}") for i in range(1000)]
    algo = Algorithm(rng=random.Random(1))
    first = {algo.select(pod(f"p{i}"), nodes) for i in range(3)}
    # each search looks at 420 nodes starting where the last one stopped
    assert len(first) == 3
