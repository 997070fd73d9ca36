"""Inter-pod affinity and anti-affinity, as Kubernetes' InterPodAffinity plugin.

Worked out once per decision (PreFilter), then read per node: the topology domains
(topologyKey=value pairs) that already hold pods the incoming pod's terms select, and
the domains existing pods' required anti-affinity closes to it. A pod with no terms
pays nothing while no placed pod has any (`prepare` returns None).

Filter, in Kubernetes' order and words:
- required affinity: every term's domain on the node holds a pod matching all terms,
  or no pod anywhere does and the pod matches its own terms (the first of a group);
  a node without a term's topology label never fits;
- required anti-affinity: no term's domain on the node holds a pod it selects;
- existing pods' required anti-affinity: the node is in no domain whose pod's term
  selects the incoming pod (symmetry).
Score: preferred terms add (affinity) or take away (anti-affinity) their weight per
selected pod in the domain, both ways, and existing pods' required affinity adds
hardPodAffinityWeight 1; normalised to 0..100 over the candidates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from minikube_py.api.podaffinity import NamespaceLabels, Term
from minikube_py.scheduler.nodeinfo import NodeInfo
from minikube_py.scheduler.podinfo import PodInfo

AFFINITY = "node(s) didn't match pod affinity rules"
ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
HARD_POD_AFFINITY_WEIGHT = 1
MAX = 100

Domain = tuple[str, str]  # (topologyKey, value)


class InterPodAffinity:
    """The per-decision state; `reasons(node)` filters, `scores(nodes)` scores."""

    def __init__(self, pod: PodInfo, nodes: Iterable[NodeInfo],
                 affinity_nodes: Iterable[NodeInfo], namespaces: NamespaceLabels) -> None:
        self.pod = pod
        self.closed: set[Domain] = set()  # by existing pods' required anti-affinity
        self.affinity_counts: Counter[Domain] = Counter()
        self.anti_counts: Counter[Domain] = Counter()
        self.weights: Counter[Domain] = Counter()
        own = pod.affinity
        for node in affinity_nodes:
            for other in node.affinity_pods.values():
                self._existing_terms(node, other, namespaces)
        if own:
            for node in nodes:
                for other in node.pods.values():
                    self._own_terms(node, other, namespaces)
        self.first_of_group = not self.affinity_counts and all(
            t.selects(pod.labels, pod.namespace, namespaces) for t in own.required)

    def _existing_terms(self, node: NodeInfo, other: PodInfo,
                        namespaces: NamespaceLabels) -> None:
        """What a placed pod's own terms say about the incoming pod."""
        pod = self.pod
        for terms, sign, closes in ((other.affinity.required_anti, 0, True),
                                    (other.affinity.required, HARD_POD_AFFINITY_WEIGHT, False),
                                    (other.affinity.preferred, 1, False),
                                    (other.affinity.preferred_anti, -1, False)):
            for term in terms:
                value = node.labels.get(term.topology_key)
                if value is None or not term.selects(pod.labels, pod.namespace, namespaces):
                    continue
                if closes:
                    self.closed.add((term.topology_key, value))
                else:
                    weight = term.weight or 1
                    self.weights[(term.topology_key, value)] += sign * weight

    def _own_terms(self, node: NodeInfo, other: PodInfo, namespaces: NamespaceLabels) -> None:
        """What the incoming pod's terms say about a placed pod."""
        own = self.pod.affinity
        if own.required and all(t.selects(other.labels, other.namespace, namespaces)
                                for t in own.required):
            self._count(self.affinity_counts, node, own.required)
        for term in own.required_anti:
            if term.selects(other.labels, other.namespace, namespaces):
                self._count(self.anti_counts, node, (term,))
        for terms, sign in ((own.preferred, 1), (own.preferred_anti, -1)):
            for term in terms:
                value = node.labels.get(term.topology_key)
                if value is not None and term.selects(other.labels, other.namespace,
                                                      namespaces):
                    self.weights[(term.topology_key, value)] += sign * term.weight

    @staticmethod
    def _count(counts: Counter[Domain], node: NodeInfo, terms: Iterable[Term]) -> None:
        for term in terms:
            value = node.labels.get(term.topology_key)
            if value is not None:
                counts[(term.topology_key, value)] += 1

    def reasons(self, node: NodeInfo) -> tuple[str, ...]:
        own = self.pod.affinity
        labels = node.labels
        if own.required:
            if any(t.topology_key not in labels for t in own.required):
                return (AFFINITY,)
            if not self.first_of_group and any(
                    self.affinity_counts[(t.topology_key, labels[t.topology_key])] <= 0
                    for t in own.required):
                return (AFFINITY,)
        for term in own.required_anti:
            value = labels.get(term.topology_key)
            if value is not None and self.anti_counts[(term.topology_key, value)] > 0:
                return (ANTI_AFFINITY,)
        if self.closed and any((key, value) in self.closed for key, value in labels.items()):
            return (EXISTING_ANTI_AFFINITY,)
        return ()

    def scores(self, nodes: list[NodeInfo]) -> list[float] | None:
        """0..100 per node in order, or None when no term weighs anything."""
        if not any(self.weights.values()):
            return None
        raw = [sum(self.weights.get(domain, 0) for domain in n.labels.items()) for n in nodes]
        low, high = min(raw), max(raw)
        if high == low:
            return [0.0] * len(nodes)
        return [MAX * (r - low) / (high - low) for r in raw]


def prepare(pod: PodInfo, nodes: list[NodeInfo], affinity_nodes: list[NodeInfo],
            namespaces: NamespaceLabels) -> InterPodAffinity | None:
    """The decision's state, or None when neither the pod nor any placed pod has terms."""
    if not pod.affinity and not affinity_nodes:
        return None
    return InterPodAffinity(pod, nodes, affinity_nodes, namespaces)
