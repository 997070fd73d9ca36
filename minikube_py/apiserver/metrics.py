"""/metrics in Prometheus' text format, hand-written (no client library needed).

Requests are counted by verb, resource and code, with a latency histogram by
verb and resource; etcd calls get a latency histogram by operation, fed by the
Storage's `observe` hook.
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Histogram:
    """Cumulative-bucket histogram per label tuple."""

    def __init__(self, name: str, help_text: str, label_names: tuple[str, ...]) -> None:
        self.name = name
        self.help = help_text
        self.label_names = label_names
        self.series: dict[tuple[str, ...], list[float]] = {}

    def observe(self, labels: tuple[str, ...], seconds: float) -> None:
        s = self.series.get(labels)
        if s is None:
            s = self.series[labels] = [0.0] * (len(BUCKETS) + 2)  # buckets, +Inf/count, sum
        s[bisect.bisect_left(BUCKETS, seconds)] += 1
        s[-1] += seconds

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for labels, s in sorted(self.series.items()):
            base = _labels(self.label_names, labels)
            cumulative = 0.0
            for bound, count in zip(BUCKETS, s):
                cumulative += count
                lines.append(f'{self.name}_bucket{{{base},le="{bound}"}} {cumulative:g}')
            cumulative += s[len(BUCKETS)]
            lines.append(f'{self.name}_bucket{{{base},le="+Inf"}} {cumulative:g}')
            lines.append(f"{self.name}_sum{{{base}}} {s[-1]:.6f}")
            lines.append(f"{self.name}_count{{{base}}} {cumulative:g}")
        return lines


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    return ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values))


class Metrics:
    """Everything /metrics reports for one api-server."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self.request_latency = Histogram(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb and resource.",
            ("verb", "resource"))
        self.etcd_latency = Histogram(
            "etcd_request_duration_seconds",
            "etcd request latency in seconds for each operation.", ("operation",))
        self.watchers = 0
        self.started = time.time()

    def observe_request(self, verb: str, resource: str, code: int, seconds: float) -> None:
        self.requests[(verb, resource, str(code))] += 1
        self.request_latency.observe((verb, resource), seconds)

    def observe_etcd(self, operation: str, seconds: float) -> None:
        self.etcd_latency.observe((operation,), seconds)

    def render(self) -> str:
        lines = [("# HELP apiserver_request_total Counter of apiserver requests broken out "
                  "for each verb, resource and HTTP response code."),
                 "# TYPE apiserver_request_total counter"]
        for labels, count in sorted(self.requests.items()):
            lines.append(f"apiserver_request_total{{"
                         f"{_labels(('verb', 'resource', 'code'), labels)}}} {count}")
        lines += self.request_latency.render()
        lines += self.etcd_latency.render()
        lines += ["# HELP apiserver_registered_watchers Number of open watch requests.",
                  "# TYPE apiserver_registered_watchers gauge",
                  f"apiserver_registered_watchers {self.watchers}",
                  # Per process (--workers): tells a scrape which process answered it.
                  ("# HELP process_start_time_seconds Start time of the process since unix "
                   "epoch in seconds."),
                  "# TYPE process_start_time_seconds gauge",
                  f"process_start_time_seconds {self.started:.6f}"]
        return "\n".join(lines) + "\n"
