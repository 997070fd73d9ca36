"""/metrics in Prometheus' text format, hand-written (no client library needed).

Requests are counted by verb, resource and code, with a latency histogram by
verb and resource; etcd calls get a latency histogram by operation, fed by the
Storage's `observe` hook.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import TYPE_CHECKING

from minikube_py.prometheus import Histogram, counter

if TYPE_CHECKING:
    from minikube_py.apiserver.inflight import InflightLimits


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
        self.slow_watchers_closed = 0
        self.cache_lists: defaultdict[str, int] = defaultdict(int)
        self.inflight: InflightLimits | None = None
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
        lines += self._limits()
        lines += counter("apiserver_cache_list_total",
                         "Number of LIST requests served from watch cache",
                         ("resource_prefix",), [((p,), n) for p, n in self.cache_lists.items()])
        lines += ["# HELP apiserver_registered_watchers Number of open watch requests.",
                  "# TYPE apiserver_registered_watchers gauge",
                  f"apiserver_registered_watchers {self.watchers}",
                  # Per process (--workers): tells a scrape which process answered it.
                  ("# HELP process_start_time_seconds Start time of the process since unix "
                   "epoch in seconds."),
                  "# TYPE process_start_time_seconds gauge",
                  f"process_start_time_seconds {self.started:.6f}"]
        return "\n".join(lines) + "\n"

    def _limits(self) -> list[str]:
        """What the in-flight limits and the slow-watch bound did (kube-apiserver's names)."""
        lines = [("# HELP apiserver_terminated_watchers_total Counter of watchers closed due "
                 "to unresponsiveness."), "# TYPE apiserver_terminated_watchers_total counter",
                 f"apiserver_terminated_watchers_total {self.slow_watchers_closed}"]
        if self.inflight is None:
            return lines
        kinds = (("readOnly", self.inflight.readonly, self.inflight.rejected_readonly),
                 ("mutating", self.inflight.mutating, self.inflight.rejected_mutating))
        lines += [("# HELP apiserver_current_inflight_requests Maximal number of currently "
                  "used inflight request limit of this apiserver per request kind."),
                  "# TYPE apiserver_current_inflight_requests gauge"]
        lines += [f'apiserver_current_inflight_requests{{request_kind="{k}"}} {n}'
                  for k, n, _ in kinds]
        lines += counter("apiserver_dropped_requests_total",
                         "Number of requests dropped with 'Try again later' response.",
                         ("request_kind",), [((k,), d) for k, _, d in kinds]
                         + [(("watch",), self.inflight.rejected_watches)])
        return lines
