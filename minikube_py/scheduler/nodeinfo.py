"""One node as the scheduler sees it: its allocatable resources, and running
totals of what the pods on it (bound or just assumed) request.

Totals are kept incrementally on every pod add/remove, so a filter or a score
reads a few integers instead of summing the node's pods on every decision.
"""

from __future__ import annotations

from collections import Counter

from minikube_py.api.quantity import cpu_millis, to_bytes
from minikube_py.api.types import NodeStatus, Object, Taint
from minikube_py.scheduler.podinfo import HostPort, PodInfo


def _allocatable(node: Object) -> tuple[int, int, int]:
    status = node.get("status") or {}
    alloc = status.get("allocatable") or status.get("capacity") or {}
    cpu = cpu_millis(alloc["cpu"]) if "cpu" in alloc else 0
    memory = to_bytes(alloc["memory"]) if "memory" in alloc else 0
    pods = int(alloc.get("pods", 110))
    return cpu, memory, pods


def _is_ready(node: Object) -> bool:
    status: NodeStatus = node.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


class NodeInfo:
    """A node plus the incremental request totals of its pods."""

    __slots__ = (
        "affinity_pods",
        "alloc_cpu",
        "alloc_memory",
        "alloc_pods",
        "cpu",
        "labels",
        "memory",
        "name",
        "node",
        "nonzero_cpu",
        "nonzero_memory",
        "owners",
        "pods",
        "ports",
        "ready",
        "taints",
        "unschedulable",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.node: Object | None = None
        self.labels: dict[str, str] = {}
        self.taints: list[Taint] = []
        self.ready = False
        self.unschedulable = False
        self.alloc_cpu = self.alloc_memory = self.alloc_pods = 0
        self.cpu = self.memory = self.nonzero_cpu = self.nonzero_memory = 0
        self.pods: dict[str, PodInfo] = {}
        self.affinity_pods: dict[str, PodInfo] = {}  # those with inter-pod terms
        self.ports: Counter[HostPort] = Counter()
        self.owners: Counter[str] = Counter()

    def set_node(self, node: Object) -> None:
        """Take a (new version of the) Node object; pod totals are kept."""
        self.node = node
        self.labels = dict(node["metadata"].get("labels") or {})
        spec = node.get("spec") or {}
        self.taints = list(spec.get("taints") or [])
        self.unschedulable = bool(spec.get("unschedulable"))
        self.ready = _is_ready(node)
        self.alloc_cpu, self.alloc_memory, self.alloc_pods = _allocatable(node)

    def add_pod(self, info: PodInfo) -> None:
        if info.key in self.pods:
            self.remove_pod(info.key)
        self.pods[info.key] = info
        if info.affinity:
            self.affinity_pods[info.key] = info
        self.cpu += info.cpu
        self.memory += info.memory
        self.nonzero_cpu += info.nonzero_cpu
        self.nonzero_memory += info.nonzero_memory
        self.ports.update(info.host_ports)
        if info.owner_uid:
            self.owners[info.owner_uid] += 1

    def remove_pod(self, key: str) -> PodInfo | None:
        info = self.pods.pop(key, None)
        if info is None:
            return None
        self.affinity_pods.pop(key, None)
        self.cpu -= info.cpu
        self.memory -= info.memory
        self.nonzero_cpu -= info.nonzero_cpu
        self.nonzero_memory -= info.nonzero_memory
        self.ports.subtract(info.host_ports)
        for port in info.host_ports:
            if self.ports[port] <= 0:
                del self.ports[port]
        if info.owner_uid:
            self.owners[info.owner_uid] -= 1
            if self.owners[info.owner_uid] <= 0:
                del self.owners[info.owner_uid]
        return info

    def port_conflict(self, wanted: tuple[HostPort, ...]) -> bool:
        """A host port is taken when the same protocol and port are used on the
        same IP, or either side binds 0.0.0.0 (Kubernetes' HostPortInfo)."""
        for ip, proto, port in wanted:
            for used_ip, used_proto, used_port in self.ports:
                if used_port == port and used_proto == proto and (
                    ip == used_ip or ip == "0.0.0.0" or used_ip == "0.0.0.0"
                ):
                    return True
        return False
