"""One scheduling decision: filter nodes, score the feasible ones, pick the best
(ties at random), or explain why none fits in Kubernetes' words.

Like Kubernetes, a large cluster is not searched exhaustively: the search
stops after an adaptive number of feasible nodes (50% minus 1% per 125 nodes,
at least 5% and at least 100 nodes) and the next search starts where this one
stopped, so every node gets its turn (`percentageOfNodesToScore`).
"""

from __future__ import annotations

import random
from collections import Counter

from minikube_py.scheduler.filters import Filter, check, fits_quickly, is_simple
from minikube_py.scheduler.interpod import InterPodAffinity
from minikube_py.scheduler.nodeinfo import NodeInfo
from minikube_py.scheduler.podinfo import PodInfo
from minikube_py.scheduler.scores import score_nodes

MIN_FEASIBLE_NODES = 100
MIN_FEASIBLE_PERCENTAGE = 5


class FitError(Exception):
    """No node fits; `reasons` counts nodes per reason."""

    def __init__(self, num_nodes: int, reasons: Counter[str]) -> None:
        self.num_nodes = num_nodes
        self.reasons = reasons
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """Kubernetes' FitError text: "0/3 nodes are available: 2 Insufficient cpu."
        with the "<count> <reason>" parts sorted as strings, as Kubernetes does."""
        if self.num_nodes == 0:
            return "no nodes available to schedule pods"
        parts = sorted(f"{count} {reason}" for reason, count in self.reasons.items())
        return f"0/{self.num_nodes} nodes are available: {', '.join(parts)}."


def feasible_nodes_to_find(num_nodes: int, percentage: int = 0) -> int:
    """How many feasible nodes to look for before scoring (0 = adaptive)."""
    if num_nodes < MIN_FEASIBLE_NODES or percentage >= 100:
        return num_nodes
    if percentage <= 0:
        percentage = max(50 - num_nodes // 125, MIN_FEASIBLE_PERCENTAGE)
    return max(num_nodes * percentage // 100, MIN_FEASIBLE_NODES)


class Algorithm:
    """Filter-then-score over the nodes of a cache, remembering where to start."""

    def __init__(self, *, rng: random.Random | None = None, percentage: int = 0,
                 volumes: Filter | None = None) -> None:
        self.rng = rng or random.Random()
        self.percentage = percentage
        self.volumes = volumes  # VolumeBinding's filter, asked last for pods with claims
        self._next_start = 0

    def select(self, pod: PodInfo, nodes: list[NodeInfo],
               affinity: InterPodAffinity | None = None) -> str:
        """The chosen node's name; raises FitError when none fits. `affinity` is the
        decision's inter-pod state, None when no pod involved has terms."""
        total = len(nodes)
        if total == 0:
            raise FitError(0, Counter())
        wanted = feasible_nodes_to_find(total, self.percentage)
        feasible: list[NodeInfo] = []
        reasons: Counter[str] = Counter()
        start = self._next_start % total
        visited = 0
        simple = affinity is None and is_simple(pod)
        for visited in range(1, total + 1):
            node = nodes[(start + visited - 1) % total]
            if not (simple and fits_quickly(pod, node)):
                failed = check(pod, node)
                if not failed and affinity is not None:
                    failed = affinity.reasons(node)
                if not failed and pod.claims and self.volumes is not None:
                    failed = self.volumes(pod, node)
                if failed:
                    reasons.update(failed)
                    continue
            feasible.append(node)
            if len(feasible) >= wanted:
                break
        self._next_start = (start + visited) % total
        if not feasible:
            raise FitError(total, reasons)
        if len(feasible) == 1:
            return feasible[0].name
        scores = score_nodes(pod, feasible)
        extra = affinity.scores(feasible) if affinity is not None else None
        if extra is not None:  # InterPodAffinity's default weight is 2
            scores = [s + 2 * e for s, e in zip(scores, extra, strict=True)]
        best = max(scores)
        winners = [n for n, s in zip(feasible, scores, strict=True) if s >= best - 1e-9]
        return self.rng.choice(winners).name
