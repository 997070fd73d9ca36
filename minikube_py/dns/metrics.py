"""What the DNS server's /metrics reports, named as CoreDNS names it (coredns_dns_*)."""

from __future__ import annotations

from collections import defaultdict

from minikube_py.prometheus import Histogram, counter

# DNS answers take microseconds to milliseconds; upstream ones up to the 2 s deadline.
BUCKETS = (0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256,
           0.512, 1.024, 2.048)
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


class DnsMetrics:
    def __init__(self) -> None:
        self.requests: dict[tuple[str, str], int] = defaultdict(int)
        self.responses: dict[tuple[str], int] = defaultdict(int)
        self.cache: dict[tuple[str, str], int] = defaultdict(int)
        self.forwards: dict[tuple[str, str], int] = defaultdict(int)
        self.latency = Histogram("coredns_dns_request_duration_seconds",
                                 "Histogram of the time (in seconds) each request took.",
                                 ("proto",), BUCKETS)

    def observe(self, proto: str, qtype: str, rcode: int, seconds: float) -> None:
        self.requests[(proto, qtype)] += 1
        self.responses[(RCODES.get(rcode, str(rcode)),)] += 1
        self.latency.observe((proto,), seconds)

    def render(self) -> str:
        lines = counter("coredns_dns_requests_total", "Counter of DNS requests made per "
                        "protocol and query type.", ("proto", "type"), self.requests.items())
        lines += counter("coredns_dns_responses_total", "Counter of response status codes.",
                         ("rcode",), self.responses.items())
        lines += counter("coredns_cache_requests_total", "Cache lookups by cache (zone "
                         "answers, forwarded answers) and result (hit, miss).",
                         ("cache", "result"), self.cache.items())
        lines += counter("coredns_forward_responses_total", "Upstream answers by upstream "
                         "and outcome (answer, timeout, error).", ("to", "outcome"),
                         self.forwards.items())
        lines += self.latency.render()
        return "\n".join(lines) + "\n"
