"""metrics-server's pure parts: parsing a kubelet's /metrics/resource (the kubelet's own
text, as resource_metrics renders it), the rate storage (metrics-server's rules: two
points per series, restarts start over, pods only when complete), and the
NodeMetrics/PodMetrics objects kubectl top reads."""

from __future__ import annotations

import pytest

from agent.kubelet.resource_metrics import render
from minikube_py.metrics_server.api import node_metrics, pod_metrics, quantities
from minikube_py.metrics_server.scrape import NodeScrape, Point, parse
from minikube_py.metrics_server.storage import MetricsStorage, Usage, rate

STAMP = "2021-06-22T21:11:18.302091Z"
KUBELET_TEXT = render({
    "node": {"cpu": {"time": STAMP, "usageCoreNanoSeconds": 357_300_000_000},
             "memory": {"time": STAMP, "workingSetBytes": 1_100_000_000}},
    "pods": [{"podRef": {"name": "web-1", "namespace": "shop"}, "containers": [
        {"name": "app", "startTime": "2021-06-22T21:00:00Z",
         "cpu": {"time": STAMP, "usageCoreNanoSeconds": 4_003_000_000},
         "memory": {"time": STAMP, "workingSetBytes": 12_288_000}},
        {"name": "side\"car", "startTime": "2021-06-22T21:00:00Z",
         "cpu": {"time": STAMP, "usageCoreNanoSeconds": 1_000_000},
         "memory": {"time": STAMP}}]}]})


def test_parse_kubelet_text() -> None:
    scrape = parse(KUBELET_TEXT, now=0.0)
    assert scrape.node == Point(357.3, 1.1e9, 1624396278.302)
    assert scrape.containers == {("shop", "web-1", "app"): Point(
        4.003, 12288000.0, 1624396278.302, started=1624395600.0)}


def test_parse_skips_junk() -> None:
    scrape = parse("# HELP x\nnode_cpu_usage_seconds_total abc 1\n"
                   "node_memory_working_set_bytes 5\nnot a line\n", now=9.0)
    assert scrape.node is None and scrape.containers == {}


@pytest.mark.parametrize(("previous", "last", "expected"), [
    pytest.param(None, Point(1, 10, 100), None, id="one-point"),
    pytest.param(Point(1, 10, 100), Point(2.5, 20, 115),
                 Usage(100_000_000, 20, 115, 15), id="rate"),
    pytest.param(Point(5, 10, 100), Point(1, 20, 115), None, id="counter-reset"),
    pytest.param(Point(1, 10, 100), Point(2, 20, 100), None, id="same-time"),
])
def test_rate(previous: Point | None, last: Point, expected: Usage | None) -> None:
    assert rate(previous, last) == expected


def _scrape(node: Point | None, **containers: Point) -> NodeScrape:
    return NodeScrape(node, {tuple(k.split("_")): v  # type: ignore[misc]  # ns_pod: a pair
                             for k, v in containers.items()})


def test_storage_rounds() -> None:
    storage = MetricsStorage()
    storage.store({"n1": _scrape(Point(10, 100, 0), ns_p_a=Point(1, 5, 0), ns_p_b=Point(1, 5, 0))})
    assert storage.node("n1") is None and storage.pods() == {}
    storage.store({"n1": _scrape(Point(25, 200, 15), ns_p_a=Point(4, 6, 15),
                                 ns_p_b=Point(1.15, 7, 15))})
    assert storage.node("n1") == Usage(1_000_000_000, 200, 15, 15)
    assert storage.pods() == {("ns", "p"): {"a": Usage(200_000_000, 6, 15, 15),
                                            "b": Usage(10_000_000, 7, 15, 15)}}
    # b restarted (its counter went back): the pod waits until b has a rate again
    storage.store({"n1": _scrape(Point(40, 200, 30), ns_p_a=Point(7, 6, 30),
                                 ns_p_b=Point(0.1, 7, 30))})
    assert storage.pods() == {}
    assert storage.node("n1") == Usage(1_000_000_000, 200, 30, 15)
    storage.store({})  # the node stopped answering: forgotten
    assert storage.node("n1") is None and storage.node_names() == []


def test_metrics_objects() -> None:
    usage = Usage(123_456_789, 12_582_912, 1624396278.0, 15.004)
    assert quantities(usage) == {"cpu": "123456789n", "memory": "12288Ki"}
    assert quantities(Usage(1, 1000, 0, 1))["memory"] == "1000"
    node = node_metrics({"metadata": {"name": "n1", "labels": {"a": "b"}}}, usage)
    assert node["kind"] == "NodeMetrics" and node["apiVersion"] == "metrics.k8s.io/v1beta1"
    assert node["timestamp"] == "2021-06-22T21:11:18Z" and node["window"] == "15.004s"
    assert node["metadata"]["labels"] == {"a": "b"}
    pod = pod_metrics({"metadata": {"name": "p", "namespace": "ns"}}, {"b": usage, "a": usage})
    assert [c["name"] for c in pod["containers"]] == ["a", "b"]
    assert pod["metadata"]["namespace"] == "ns"


def test_a_container_started_since_the_last_round_has_a_rate_at_once() -> None:
    storage = MetricsStorage()
    storage.store({"n1": _scrape(Point(10, 100, 100), ns_old_c=Point(50, 5, 100, started=1))})
    storage.store({"n1": _scrape(Point(25, 100, 115), ns_old_c=Point(51, 5, 115, started=1),
                                 ns_new_c=Point(5, 8, 115, started=105))})
    pods = storage.pods()
    assert pods[("ns", "new")] == {"c": Usage(500_000_000, 8, 115, 10)}  # 5 s over 10 s
    assert pods[("ns", "old")] == {"c": Usage(66_666_667, 5, 115, 15)}


def test_the_first_round_does_not_guess_from_start_times() -> None:
    storage = MetricsStorage()
    storage.store({"n1": _scrape(None, ns_p_c=Point(50, 5, 100, started=90))})
    assert storage.pods() == {}
