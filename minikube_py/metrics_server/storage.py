"""The last two points of every node and container, and the metrics they give.

As metrics-server's storage: CPU usage is the rate between the two most recent points
of the same series (cumulative core-seconds over their timestamps), its window their
distance, its timestamp the newer one's; memory is the newer working set. A series
seen once has no rate yet, unless it is a container that started after the previous
round: then its start is the first point (zero CPU), so a new pod has figures after
one scrape. A counter that went back (a restarted container) starts over, and a pod is
reported only when every one of its containers has a rate, so a figure never mixes old
and new containers. Pure: tests feed it scrapes directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from minikube_py.metrics_server.scrape import NodeScrape, Point


@dataclass(frozen=True)
class Usage:
    """What NodeMetrics and PodMetrics report for one node or container."""

    cpu_nanocores: int
    memory_bytes: int
    timestamp: float
    window: float


def rate(previous: Point | None, last: Point) -> Usage | None:
    if previous is None or last.timestamp <= previous.timestamp \
            or last.cpu_seconds < previous.cpu_seconds:
        return None
    window = last.timestamp - previous.timestamp
    cores = (last.cpu_seconds - previous.cpu_seconds) / window
    return Usage(round(cores * 1e9), int(last.memory_bytes), last.timestamp, window)


class MetricsStorage:
    """Points by node and by (namespace, pod, container), two deep."""

    def __init__(self) -> None:
        self._nodes: dict[str, tuple[Point | None, Point]] = {}
        self._containers: dict[tuple[str, str, str], tuple[Point | None, Point]] = {}
        self._last_round: float | None = None  # newest sample time of the previous round

    def store(self, scrapes: dict[str, NodeScrape]) -> None:
        """One round: nodes or containers absent from it are forgotten (gone, or their
        node did not answer: metrics-server drops them too)."""
        nodes: dict[str, tuple[Point | None, Point]] = {}
        containers: dict[tuple[str, str, str], tuple[Point | None, Point]] = {}
        for name, scrape in scrapes.items():
            if scrape.node is not None:
                nodes[name] = _advance(self._nodes.get(name), scrape.node)
            for key, point in scrape.containers.items():
                known = self._containers.get(key)
                if known is None and self._last_round is not None and point.started \
                        and self._last_round < point.started < point.timestamp:
                    known = (None, Point(0.0, point.memory_bytes, point.started))
                containers[key] = _advance(known, point)
        self._nodes, self._containers = nodes, containers
        stamps = [p.timestamp for _, p in [*nodes.values(), *containers.values()]]
        self._last_round = max(stamps, default=self._last_round)

    def node(self, name: str) -> Usage | None:
        found = self._nodes.get(name)
        return rate(*found) if found else None

    def node_names(self) -> list[str]:
        return sorted(self._nodes)

    def pods(self) -> dict[tuple[str, str], dict[str, Usage]]:
        """(namespace, pod) -> container -> usage, for pods whose containers all have one."""
        found: dict[tuple[str, str], dict[str, Usage]] = {}
        incomplete: set[tuple[str, str]] = set()
        for (ns, pod, container), points in self._containers.items():
            usage = rate(*points)
            if usage is None:
                incomplete.add((ns, pod))
            else:
                found.setdefault((ns, pod), {})[container] = usage
        return {key: value for key, value in found.items() if key not in incomplete}


def _advance(known: tuple[Point | None, Point] | None, point: Point
             ) -> tuple[Point | None, Point]:
    """The new pair after `point`: the same sample again (a kubelet that has not
    re-read) changes nothing; an older one is ignored."""
    if known is None:
        return None, point
    _previous, last = known
    if point.timestamp <= last.timestamp:
        return known
    if point.cpu_seconds < last.cpu_seconds:
        return None, point
    return last, point
