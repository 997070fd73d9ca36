"""The scheduler's picture of the cluster: nodes, and which pods (bound, or
assumed while their binding is in flight) count against each.

An assumed pod counts at once, so the next decision sees it even though the
api-server has not yet answered the binding; the informer's update for the
bound pod confirms it, a failed binding forgets it.
"""

from __future__ import annotations

import logging

from minikube_py.api.types import Object
from minikube_py.scheduler.nodeinfo import NodeInfo
from minikube_py.scheduler.podinfo import PodInfo

log = logging.getLogger(__name__)


class SchedulerCache:
    """Nodes by name, each with the pods that count against it."""

    def __init__(self) -> None:
        self._nodes: dict[str, NodeInfo] = {}
        self._pod_node: dict[str, str] = {}
        self._assumed: set[str] = set()
        self._list: list[NodeInfo] | None = None
        self._with_affinity: set[str] = set()  # nodes holding pods with inter-pod terms

    # nodes -----------------------------------------------------------------

    def set_node(self, node: Object) -> None:
        name = node["metadata"]["name"]
        info = self._nodes.get(name)
        if info is None:
            info = self._nodes[name] = NodeInfo(name)
        if info.node is None:
            self._list = None
        info.set_node(node)

    def remove_node(self, name: str) -> None:
        info = self._nodes.pop(name, None)
        if info is None:
            return
        for key in info.pods:
            self._pod_node.pop(key, None)
            self._assumed.discard(key)
        self._with_affinity.discard(name)
        self._list = None

    def nodes(self) -> list[NodeInfo]:
        """Known nodes in a stable order (the search rotates over it)."""
        if self._list is None:
            self._list = sorted(
                (n for n in self._nodes.values() if n.node is not None), key=lambda n: n.name
            )
        return self._list

    def node(self, name: str) -> NodeInfo | None:
        return self._nodes.get(name)

    def affinity_nodes(self) -> list[NodeInfo]:
        """Known nodes holding pods with inter-pod (anti-)affinity terms."""
        return [n for name in self._with_affinity
                if (n := self._nodes.get(name)) is not None and n.node is not None]

    # pods ------------------------------------------------------------------

    def _place(self, info: PodInfo, node_name: str) -> None:
        current = self._pod_node.get(info.key)
        if current is not None and current != node_name:
            self._remove(info.key)
        target = self._nodes.get(node_name)
        if target is None:  # a pod bound to a node we have not seen yet
            target = self._nodes[node_name] = NodeInfo(node_name)
        target.add_pod(info)
        self._pod_node[info.key] = node_name
        if info.affinity:
            self._with_affinity.add(node_name)

    def _remove(self, key: str) -> None:
        node_name = self._pod_node.pop(key, None)
        self._assumed.discard(key)
        if node_name is None:
            return
        info = self._nodes.get(node_name)
        if info is not None:
            info.remove_pod(key)
            if not info.affinity_pods:
                self._with_affinity.discard(node_name)
            if info.node is None and not info.pods:
                del self._nodes[node_name]

    def assume(self, info: PodInfo, node_name: str) -> None:
        """Count the pod on the node before the binding is confirmed."""
        self._place(info, node_name)
        self._assumed.add(info.key)

    def forget(self, key: str) -> None:
        """Undo an assumption whose binding failed."""
        if key in self._assumed:
            self._remove(key)

    def is_assumed(self, key: str) -> bool:
        return key in self._assumed

    def confirm(self, key: str, node_name: str) -> bool:
        """The api-server reports the pod bound to `node_name`: if it is already
        counted there (assumed, or seen before), keep that and say so, sparing a
        digest of the pod on every status update (pod requests are immutable)."""
        if self._pod_node.get(key) == node_name:
            self._assumed.discard(key)
            return True
        return False

    def set_bound_pod(self, info: PodInfo, node_name: str) -> None:
        """A pod the api-server says is on `node_name` (confirms an assumption)."""
        self._place(info, node_name)
        self._assumed.discard(info.key)

    def remove_pod(self, key: str) -> None:
        self._remove(key)
