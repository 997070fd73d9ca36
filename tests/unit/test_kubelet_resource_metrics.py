"""/metrics/resource and /stats/summary: the kubelet's formats, from Kubernetes' own
examples (pkg/kubelet/metrics/collectors/resource_metrics_test.go; values, timestamps
and text as it expects them), and the Summary built from real-shaped cgroup v1 and v2
files (cgroups.py) for containers as Docker lists them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from agent.kubelet import labels as L
from agent.kubelet.cgroups import CgroupReader
from agent.kubelet.labels import Observed
from agent.kubelet.resource_metrics import render
from agent.kubelet.stats_summary import SummaryProvider

# 2021-06-23 05:11:18.302091597 +0800, Kubernetes' staticTimestamp
STAMP = "2021-06-22T21:11:18.302091Z"


def _container(name: str, started: str, working_set: int = 1000) -> dict[str, Any]:
    return {"name": name, "startTime": started,
            "cpu": {"time": STAMP, "usageCoreNanoSeconds": 10000000000},
            "memory": {"time": STAMP, "workingSetBytes": working_set, "usageBytes": 2000}}


def _family(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines()
            if line.split("{")[0].split(" ")[0] == name or line.startswith((f"# HELP {name} ", f"# TYPE {name} "))]


def test_error_getting_summary() -> None:
    assert render(None) == """\
# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise
# TYPE resource_scrape_error gauge
resource_scrape_error 1
# HELP scrape_error [ALPHA] 1 if there was an error while getting container metrics, 0 otherwise
# TYPE scrape_error gauge
scrape_error 1
"""


def test_arbitrary_node_metrics() -> None:
    text = render({"node": {"cpu": {"time": STAMP, "usageCoreNanoSeconds": 10000000000},
                            "memory": {"time": STAMP, "workingSetBytes": 1000}}})
    assert _family(text, "node_cpu_usage_seconds_total") == [
        ("# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node "
        "in core-seconds"),
        "# TYPE node_cpu_usage_seconds_total counter",
        "node_cpu_usage_seconds_total 10 1624396278302"]
    assert _family(text, "node_memory_working_set_bytes")[2] == \
        "node_memory_working_set_bytes 1000 1624396278302"
    assert "resource_scrape_error 0" in text.splitlines()


def test_containers_of_different_pods_and_namespaces() -> None:
    text = render({"pods": [
        {"podRef": {"name": "pod_a", "namespace": "namespace_a"}, "containers": [
            _container("container_a", "2021-06-22T21:10:48.302091597Z"),
            _container("container_b", "2021-06-22T21:09:18.302091597Z")]},
        {"podRef": {"name": "pod_b", "namespace": "namespace_b"}, "containers": [
            _container("container_a", "2021-06-22T21:01:18.302091597Z")]}]})
    assert _family(text, "container_cpu_usage_seconds_total")[2:] == [
        ('container_cpu_usage_seconds_total{container="container_a",namespace="namespace_a",'
        'pod="pod_a"} 10 1624396278302'),
        ('container_cpu_usage_seconds_total{container="container_a",namespace="namespace_b",'
        'pod="pod_b"} 10 1624396278302'),
        ('container_cpu_usage_seconds_total{container="container_b",namespace="namespace_a",'
        'pod="pod_a"} 10 1624396278302')]
    assert _family(text, "container_memory_working_set_bytes")[1] == \
        "# TYPE container_memory_working_set_bytes gauge"
    starts = _family(text, "container_start_time_seconds")
    assert starts[0] == ("# HELP container_start_time_seconds [STABLE] Start time of the "
                         "container since unix epoch in seconds")
    assert [line.rsplit(" ", 1)[1] for line in starts[2:]] == [
        "1.624396248302091e+09", "1.624395678302091e+09", "1.624396158302091e+09"]


def test_nil_container_metrics_are_left_out() -> None:
    text = render({"pods": [{"podRef": {"name": "pod_a", "namespace": "namespace_a"},
                             "containers": [{"name": "container_a",
                                             "startTime": "2021-06-22T21:10:48Z",
                                             "cpu": {"time": STAMP},
                                             "memory": {"time": STAMP}}]}]})
    assert "container_cpu_usage_seconds_total{" not in text
    assert "container_memory_working_set_bytes{" not in text
    assert 'container_start_time_seconds{container="container_a"' in text


def test_pod_metrics() -> None:
    text = render({"pods": [{"podRef": {"name": "pod_a", "namespace": "namespace_a"},
                             "cpu": {"time": STAMP, "usageCoreNanoSeconds": 10000000000},
                             "memory": {"time": STAMP, "workingSetBytes": 12288000}}]})
    assert 'pod_cpu_usage_seconds_total{namespace="namespace_a",pod="pod_a"} 10 ' \
           "1624396278302" in text
    assert 'pod_memory_working_set_bytes{namespace="namespace_a",pod="pod_a"} 1.2288e+07 ' \
           "1624396278302" in text


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _v1_tree(root: Path, cid: str, cpu_ns: int, usage: int, inactive: int) -> None:
    for controller in ("cpuacct", "memory"):
        (root / controller).mkdir(parents=True, exist_ok=True)
    _write(root / "cpuacct" / "docker" / cid / "cpuacct.usage", f"{cpu_ns}\n")
    memory = root / "memory" / "docker" / cid
    _write(memory / "memory.usage_in_bytes", f"{usage}\n")
    _write(memory / "memory.stat", f"cache 1\nrss 5\ntotal_rss {usage - inactive}\n"
                                   f"total_inactive_file {inactive}\ntotal_pgfault 7\n"
                                   "total_pgmajfault 1\n")
    _write(memory / "cgroup.procs", "4242\n")


def _v2_tree(root: Path, cid: str, cpu_ns: int, usage: int, inactive: int) -> None:
    _write(root / "cgroup.controllers", "cpu memory pids\n")
    base = root / "system.slice" / f"docker-{cid}.scope"
    _write(base / "cpu.stat", f"usage_usec {cpu_ns // 1000}\nuser_usec 1\nsystem_usec 1\n")
    _write(base / "memory.current", f"{usage}\n")
    _write(base / "memory.stat", f"anon {usage - inactive}\nfile {inactive}\n"
                                 f"inactive_file {inactive}\npgfault 7\npgmajfault 1\n")
    _write(base / "cgroup.procs", "4242\n4243\n")


def _observed(cid: str, kind: str, name: str) -> Observed:
    return Observed(id=cid, pod_uid="uid-1", namespace="web", pod_name="burner", kind=kind,
                    name=name, restart_count=0, sandbox_id="sb", running=True,
                    created=1624396200)


@pytest.mark.parametrize("layout", [_v1_tree, _v2_tree], ids=["cgroup-v1", "cgroup-v2"])
def test_summary_from_cgroup_files(tmp_path: Path, layout: Any) -> None:
    layout(tmp_path, "app1", 2_000_000_000, 50_000_000, 10_000_000)
    clock = iter([1000.0, 1010.0])
    containers = [_observed("sb", L.SANDBOX, "POD"), _observed("app1", L.APP, "burn")]

    async def listed() -> list[Observed]:
        return containers

    provider = SummaryProvider("node-1", CgroupReader(tmp_path), listed,
                               clock=lambda: next(clock))
    first = asyncio.run(provider.summary())
    pod = first["pods"][0]
    assert pod["podRef"] == {"name": "burner", "namespace": "web", "uid": "uid-1"}
    container = pod["containers"][0]
    assert container["name"] == "burn" and container["startTime"] == "2021-06-22T21:10:00Z"
    assert container["cpu"]["usageCoreNanoSeconds"] == 2_000_000_000
    assert "usageNanoCores" not in container["cpu"]  # no rate from one sample
    assert container["memory"]["workingSetBytes"] == 40_000_000
    assert container["memory"]["usageBytes"] == 50_000_000
    assert first["node"]["nodeName"] == "node-1" and first["node"]["memory"]["workingSetBytes"]

    layout(tmp_path, "app1", 7_000_000_000, 50_000_000, 10_000_000)  # 5 s of CPU in 10 s
    second = asyncio.run(provider.summary())
    assert second["pods"][0]["containers"][0]["cpu"]["usageNanoCores"] == 500_000_000
    assert second["pods"][0]["cpu"]["usageNanoCores"] == 500_000_000
    text = render(second)
    assert 'container_cpu_usage_seconds_total{container="burn",namespace="web",pod="burner"}' \
           " 7 1010000" in text
