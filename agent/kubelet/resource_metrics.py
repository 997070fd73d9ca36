"""GET /metrics/resource: the kubelet's resource metrics, rendered from a Summary.

As the kubelet's collector (pkg/kubelet/metrics/collectors/resource_metrics.go): node,
pod and container CPU (cumulative core-seconds) and memory working set with the
sample's timestamp in milliseconds, container start times, and the scrape error gauges;
a series whose value is missing is left out. Families are in name order and series in
label order, as the Prometheus registry writes them; values are written as the Go
client does (prometheus.go_float). metrics-server reads exactly these names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from minikube_py.prometheus import go_float, labels

Series = tuple[tuple[str, ...], float, int | None]  # label values, value, timestamp ms

_FAMILIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "container_cpu_usage_seconds_total": (
        "counter", "[STABLE] Cumulative cpu time consumed by the container in core-seconds",
        ("container", "namespace", "pod")),
    "container_memory_working_set_bytes": (
        "gauge", "[STABLE] Current working set of the container in bytes",
        ("container", "namespace", "pod")),
    "container_start_time_seconds": (
        "gauge", "[STABLE] Start time of the container since unix epoch in seconds",
        ("container", "namespace", "pod")),
    "node_cpu_usage_seconds_total": (
        "counter", "[STABLE] Cumulative cpu time consumed by the node in core-seconds", ()),
    "node_memory_working_set_bytes": (
        "gauge", "[STABLE] Current working set of the node in bytes", ()),
    "pod_cpu_usage_seconds_total": (
        "counter", "[STABLE] Cumulative cpu time consumed by the pod in core-seconds",
        ("namespace", "pod")),
    "pod_memory_working_set_bytes": (
        "gauge", "[STABLE] Current working set of the pod in bytes", ("namespace", "pod")),
    "resource_scrape_error": (
        "gauge", ("[STABLE] 1 if there was an error while getting container metrics, "
                 "0 otherwise"), ()),
    "scrape_error": (
        "gauge", ("[ALPHA] 1 if there was an error while getting container metrics, "
                 "0 otherwise"), ()),
}


def _millis(stamp: Any) -> int | None:
    if not isinstance(stamp, str) or not stamp:
        return None
    return int(datetime.fromisoformat(stamp).timestamp() * 1000)


def _seconds(stamp: Any) -> float | None:
    if not isinstance(stamp, str) or not stamp:
        return None
    return datetime.fromisoformat(stamp).timestamp()


def _cpu_memory(stats: Mapping[str, Any], key: tuple[str, ...], prefix: str,
                found: dict[str, list[Series]]) -> None:
    cpu, memory = stats.get("cpu") or {}, stats.get("memory") or {}
    if cpu.get("usageCoreNanoSeconds") is not None:
        found[f"{prefix}_cpu_usage_seconds_total"].append(
            (key, cpu["usageCoreNanoSeconds"] / 1e9, _millis(cpu.get("time"))))
    if memory.get("workingSetBytes") is not None:
        found[f"{prefix}_memory_working_set_bytes"].append(
            (key, float(memory["workingSetBytes"]), _millis(memory.get("time"))))


def collect(summary: Mapping[str, Any] | None) -> dict[str, list[Series]]:
    """The series of every family for one Summary (None: the summary failed)."""
    found: dict[str, list[Series]] = {name: [] for name in _FAMILIES}
    failed = 1.0 if summary is None else 0.0
    found["resource_scrape_error"].append(((), failed, None))
    found["scrape_error"].append(((), failed, None))
    if summary is None:
        return found
    _cpu_memory(summary.get("node") or {}, (), "node", found)
    for pod in summary.get("pods") or []:
        ref = pod.get("podRef") or {}
        namespace, name = str(ref.get("namespace", "")), str(ref.get("name", ""))
        _cpu_memory(pod, (namespace, name), "pod", found)
        for container in pod.get("containers") or []:
            key = (str(container.get("name", "")), namespace, name)
            _cpu_memory(container, key, "container", found)
            started = _seconds(container.get("startTime"))
            if started is not None and started > 0:
                found["container_start_time_seconds"].append((key, started, None))
    return found


def _lines(name: str, series: Iterable[Series]) -> list[str]:
    kind, help_text, label_names = _FAMILIES[name]
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for key, value, stamp in sorted(series, key=lambda s: s[0]):
        selector = f"{{{labels(label_names, key)}}}" if label_names else ""
        lines.append(f"{name}{selector} {go_float(value)}"
                     + (f" {stamp}" if stamp is not None else ""))
    return lines


def render(summary: Mapping[str, Any] | None) -> str:
    """The text exposition of /metrics/resource."""
    out: list[str] = []
    for name, series in sorted(collect(summary).items()):
        if series:
            out += _lines(name, series)
    return "\n".join(out) + "\n"
