"""/metrics in Prometheus' text format, hand-written (no client library needed).

Requests are counted by verb, resource and code, with a latency histogram by
verb and resource; etcd calls get a latency histogram by operation, fed by the
Storage's `observe` hook.
"""

from __future__ import annotations

import time
from collections import defaultdict

from minikube_py.prometheus import Histogram, counter


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
        lines = counter("apiserver_request_total",
                        "Counter of apiserver requests broken out for each verb, resource and "
                        "HTTP response code.", ("verb", "resource", "code"),
                        self.requests.items())
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
