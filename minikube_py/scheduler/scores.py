"""Scores: among the nodes that fit, which is best? Each scorer gives 0..100
per node (Kubernetes' MaxNodeScore); the weighted sum decides and ties are
broken at random by the caller.

Least-allocated and balanced-allocation read the node's non-zero request
totals with the pod added, as Kubernetes' NodeResourcesFit and
NodeResourcesBalancedAllocation do; pods that request nothing count as
100m / 200Mi there (podinfo.DEFAULT_*).
"""

from __future__ import annotations

from minikube_py.scheduler.affinity import preferred_weight
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

    One loop with everything inlined: it runs for every feasible node of every
    decision, and function calls are most of the cost in CPython.
    """
    owner = pod.owner_uid
    most = max((n.owners.get(owner, 0) for n in nodes), default=0) if owner else 0
    weights = ([preferred_weight(pod.preferred_terms, n.labels, n.name) for n in nodes]
               if pod.preferred_terms else None)
    best = max(weights, default=0) if weights else 0
    pod_cpu, pod_memory = pod.nonzero_cpu, pod.nonzero_memory
    scores = []
    for i, node in enumerate(nodes):
        total = 0.0
        alloc_cpu, alloc_memory = node.alloc_cpu, node.alloc_memory
        if alloc_cpu > 0 and alloc_memory > 0:
            cpu = (node.nonzero_cpu + pod_cpu) / alloc_cpu
            memory = (node.nonzero_memory + pod_memory) / alloc_memory
            if cpu > 1:
                cpu_free, cpu = 0.0, 1.0
            else:
                cpu_free = 1 - cpu
            if memory > 1:
                memory_free, memory = 0.0, 1.0
            else:
                memory_free = 1 - memory
            total = (cpu_free + memory_free) * (MAX / 2)  # least allocated
            diff = cpu - memory
            total += (1 - (diff if diff >= 0 else -diff) / 2) * MAX  # balanced
        if most:
            total += 2 * (most - node.owners.get(owner, 0)) * MAX / most
        else:
            total += 2 * MAX
        if best > 0:
            total += 2 * weights[i] * MAX / best  # type: ignore[index]
        scores.append(total)
    return scores
