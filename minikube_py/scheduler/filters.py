"""Filters: can this pod run on this node? Each answers with the reasons it
cannot (Kubernetes' wording, which the unschedulable message counts), in
Kubernetes' plugin order; the first filter that fails decides for the node."""

from __future__ import annotations

from collections.abc import Callable

from minikube_py.api.nodeaffinity import required_matches
from minikube_py.api.taints import untolerated
from minikube_py.api.types import Taint
from minikube_py.scheduler.nodeinfo import NodeInfo
from minikube_py.scheduler.podinfo import PodInfo

NOT_READY = "node(s) were not ready"
UNSCHEDULABLE = "node(s) were unschedulable"
AFFINITY = "node(s) didn't match Pod's node affinity/selector"
PORTS = "node(s) didn't have free ports for the requested pod ports"
TOO_MANY_PODS = "Too many pods"

Filter = Callable[[PodInfo, NodeInfo], tuple[str, ...]]
_OK: tuple[str, ...] = ()


def node_ready(pod: PodInfo, node: NodeInfo) -> tuple[str, ...]:
    return _OK if node.ready else (NOT_READY,)


def node_unschedulable(pod: PodInfo, node: NodeInfo) -> tuple[str, ...]:
    """A cordoned node takes only pods that tolerate its unschedulable taint."""
    if not node.unschedulable:
        return _OK
    cordon: Taint = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
    return _OK if untolerated([cordon], pod.tolerations, ("NoSchedule",)) is None else (
        UNSCHEDULABLE,
    )


def taint_toleration(pod: PodInfo, node: NodeInfo) -> tuple[str, ...]:
    if not node.taints:
        return _OK
    taint = untolerated(node.taints, pod.tolerations, ("NoSchedule", "NoExecute"))
    if taint is None:
        return _OK
    return (f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}",)


def node_affinity(pod: PodInfo, node: NodeInfo) -> tuple[str, ...]:
    if not pod.node_selector and pod.required_terms is None:
        return _OK
    ok = required_matches(pod.node_selector, pod.required_terms, node.labels, node.name)
    return _OK if ok else (AFFINITY,)


def node_ports(pod: PodInfo, node: NodeInfo) -> tuple[str, ...]:
    if not pod.host_ports or not node.ports:
        return _OK
    return (PORTS,) if node.port_conflict(pod.host_ports) else _OK


def resources_fit(pod: PodInfo, node: NodeInfo) -> tuple[str, ...]:
    """Every shortfall is a reason of its own, as Kubernetes' NodeResourcesFit."""
    reasons = []
    if len(node.pods) + 1 > node.alloc_pods:
        reasons.append(TOO_MANY_PODS)
    if pod.cpu and node.cpu + pod.cpu > node.alloc_cpu:
        reasons.append("Insufficient cpu")
    if pod.memory and node.memory + pod.memory > node.alloc_memory:
        reasons.append("Insufficient memory")
    return tuple(reasons)


FILTERS: tuple[Filter, ...] = (
    node_ready, node_unschedulable, taint_toleration, node_affinity, node_ports, resources_fit,
)


def is_simple(pod: PodInfo) -> bool:
    """No selector, affinity, host ports or claims: `fits_quickly` can decide for it."""
    return not pod.node_selector and pod.required_terms is None and not pod.host_ports \
        and not pod.claims


def fits_quickly(pod: PodInfo, node: NodeInfo) -> bool:
    """The common case in one expression, for a simple pod: an untainted,
    ready, schedulable node with room. False means "ask `check`", which alone
    explains refusals, so the two cannot disagree about a reason."""
    return (node.ready and not node.unschedulable and not node.taints
            and len(node.pods) < node.alloc_pods
            and node.cpu + pod.cpu <= node.alloc_cpu
            and node.memory + pod.memory <= node.alloc_memory)


def check(pod: PodInfo, node: NodeInfo) -> tuple[str, ...]:
    """The reasons `pod` cannot go to `node`; empty when it fits."""
    for f in FILTERS:
        reasons = f(pod, node)
        if reasons:
            return reasons
    return _OK
