"""Scores: among the nodes that fit, which is best? Each scorer gives 0..100
per node (Kubernetes' MaxNodeScore); the weighted sum decides and ties are
broken at random by the caller.

Least-allocated and balanced-allocation read the node's non-zero request
totals with the pod added, as Kubernetes' NodeResourcesFit and
NodeResourcesBalancedAllocation do.
"""

from __future__ import annotations

from minikube_py.scheduler.affinity import preferred_weight
from minikube_py.scheduler.nodeinfo import NodeInfo
from minikube_py.scheduler.podinfo import PodInfo

MAX = 100


def least_allocated(pod: PodInfo, node: NodeInfo) -> float:
    """Mean free fraction of cpu and memory after placing the pod."""
    total = 0.0
    for requested, capacity in (
        (node.nonzero_cpu + pod.nonzero_cpu, node.alloc_cpu),
        (node.nonzero_memory + pod.nonzero_memory, node.alloc_memory),
    ):
        if capacity > 0 and requested <= capacity:
            total += (capacity - requested) * MAX / capacity
    return total / 2


def balanced_allocation(pod: PodInfo, node: NodeInfo) -> float:
    """Highest when cpu and memory are used in equal proportion."""
    if node.alloc_cpu <= 0 or node.alloc_memory <= 0:
        return 0.0
    cpu = min((node.nonzero_cpu + pod.nonzero_cpu) / node.alloc_cpu, 1.0)
    memory = min((node.nonzero_memory + pod.nonzero_memory) / node.alloc_memory, 1.0)
    # Two resources: the standard deviation is half their difference.
    return (1 - abs(cpu - memory) / 2) * MAX


def spread(pod: PodInfo, node: NodeInfo, most: int) -> float:
    """Fewer pods of the same owner on the node is better (SelectorSpread);
    `most` is the largest count of that owner's pods on any candidate node."""
    if not pod.owner_uid or most <= 0:
        return MAX
    return (most - node.owners.get(pod.owner_uid, 0)) * MAX / most


def score_nodes(pod: PodInfo, nodes: list[NodeInfo]) -> list[float]:
    """Weighted total per node, in the order given (weights as Kubernetes'
    defaults: resources 1, balance 1, spread 2, node affinity 2)."""
    most = max((n.owners.get(pod.owner_uid, 0) for n in nodes), default=0) if pod.owner_uid else 0
    weights = (
        [preferred_weight(pod.preferred_terms, n.labels, n.name) for n in nodes]
        if pod.preferred_terms
        else None
    )
    best = max(weights, default=0) if weights else 0
    scores = []
    for i, node in enumerate(nodes):
        total = least_allocated(pod, node) + balanced_allocation(pod, node)
        total += 2 * spread(pod, node, most)
        if weights and best > 0:
            total += 2 * weights[i] * MAX / best
        scores.append(total)
    return scores
