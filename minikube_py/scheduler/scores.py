"""Scores: among the nodes that fit, which is best? Each scorer gives 0..100
per node (Kubernetes' MaxNodeScore); the weighted sum decides and ties are
broken at random by the caller.

Least-allocated and balanced-allocation read the node's non-zero request
totals with the pod added, as Kubernetes' NodeResourcesFit and
NodeResourcesBalancedAllocation do; pods that request nothing count as
100m / 200Mi there (podinfo.DEFAULT_*).
"""

from __future__ import annotations

from minikube_py.api.nodeaffinity import preferred_weight
from minikube_py.scheduler.nodeinfo import NodeInfo
from minikube_py.scheduler.podinfo import PodInfo

MAX = 100


def score_nodes(pod: PodInfo, nodes: list[NodeInfo]) -> list[float]:
    """Weighted total per node, in the order given (weights as Kubernetes'
    defaults: least allocated 1, balanced allocation 1, spread 2, node affinity 2).

    - least allocated: mean free fraction of cpu and memory after placing the pod;
    - balanced allocation: highest when both are used in equal proportion
      (with two resources the standard deviation is half their difference);
    - spread: fewer pods of the same owner on the node is better (SelectorSpread,
      normalised by the most crowded candidate);
    - node affinity: preferred terms' weight, normalised by the best candidate.

    Nodes in the same state (requests, allocatable, pods of this owner,
    preference weight) get the same score, so each distinct state is scored
    once: in a cluster of alike nodes that is a few dozen computations instead
    of hundreds, and this runs for every decision.
    """
    owner = pod.owner_uid
    most = max((n.owners.get(owner, 0) for n in nodes), default=0) if owner else 0
    weights = ([preferred_weight(pod.preferred_terms, n.labels, n.name) for n in nodes]
               if pod.preferred_terms else None)
    best = max(weights, default=0) if weights else 0
    memo: dict[tuple[int, int, int, int, int, int], float] = {}
    scores = []
    for i, node in enumerate(nodes):
        state = (node.nonzero_cpu, node.nonzero_memory, node.alloc_cpu, node.alloc_memory,
                 node.owners.get(owner, 0) if owner else 0, weights[i] if weights else 0)
        total = memo.get(state)
        if total is None:
            total = memo[state] = _score(pod, state, most, best)
        scores.append(total)
    return scores


def _score(pod: PodInfo, state: tuple[int, int, int, int, int, int], most: int,
           best: int) -> float:
    requested_cpu, requested_memory, alloc_cpu, alloc_memory, siblings, weight = state
    total = 0.0
    if alloc_cpu > 0 and alloc_memory > 0:
        cpu = min((requested_cpu + pod.nonzero_cpu) / alloc_cpu, 1.0)
        memory = min((requested_memory + pod.nonzero_memory) / alloc_memory, 1.0)
        total += ((1 - cpu) + (1 - memory)) * MAX / 2  # least allocated
        total += (1 - abs(cpu - memory) / 2) * MAX  # balanced allocation
    total += 2 * ((most - siblings) * MAX / most if most else MAX)  # spread
    if best > 0:
        total += 2 * weight * MAX / best  # preferred node affinity
    return total
