"""Disruption controller (kube-controller-manager's disruption.go): keeps each
PodDisruptionBudget's status (expected, healthy and desired pods, and how many
disruptions are allowed now) that the eviction subresource reads.

Integer minAvailable counts the selected pods; a percentage or maxUnavailable
counts from the replicas of the pods' controllers (Deployment, ReplicaSet,
StatefulSet, ReplicationController), as Kubernetes does. Pods an eviction
recorded in disruptedPods are not counted healthy until they are gone or two
minutes have passed (the eviction never happened).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable
from typing import TYPE_CHECKING

from minikube_py.api.meta import get_condition, join_key, owner_of, set_condition, split_key
from minikube_py.api.poddisruptionbudget import scaled, selects
from minikube_py.api.resources import (
    DEPLOYMENTS,
    PODDISRUPTIONBUDGETS,
    PODS,
    REPLICASETS,
    STATEFULSETS,
    for_kind,
)
from minikube_py.api.types import Object
from minikube_py.client.errors import Conflict, NotFound
from minikube_py.client.loop import cached
from minikube_py.controllers.base import Controller, by_namespace
from minikube_py.controllers.pods import format_time, is_ready, parse_time

if TYPE_CHECKING:
    from minikube_py.client import ApiClient, Informer
    from minikube_py.controllers.base import SharedInformers
    from minikube_py.controllers.settings import ControllerManagerSettings

log = logging.getLogger(__name__)

DELETION_TIMEOUT = 120.0  # Kubernetes' DeletionTimeout for disruptedPods entries


class DisruptionController(Controller):
    name = "disruption-controller"

    def __init__(self, client: ApiClient, settings: ControllerManagerSettings,
                 informers: SharedInformers | None = None) -> None:
        super().__init__(client, settings, informers)
        self.budgets = by_namespace(self.watch(PODDISRUPTIONBUDGETS))
        self.pods = by_namespace(self.watch(PODS))
        self.budgets.add_handlers(self.enqueue, lambda old, new: self.enqueue(new))
        self.pods.add_handlers(self._pod_changed, lambda old, new: self._pod_changed(new),
                               self._pod_changed)
        self.owners: dict[str, Informer] = {}
        for resource in (DEPLOYMENTS, REPLICASETS, STATEFULSETS,
                         for_kind("v1", "ReplicationController")):
            if resource is not None:
                informer = self.owners[resource.kind] = self.watch(resource)
                informer.add_handlers(self._owner_changed,
                                      lambda old, new: self._owner_changed(new))
        self.clock = time.time

    def object_for(self, key: Hashable) -> Object | None:
        return cached(self.budgets, key)

    def _pod_changed(self, pod: Object) -> None:
        for budget in self.budgets.by_index("namespace", pod["metadata"]["namespace"]):
            if selects(budget, pod):
                self.enqueue(budget)

    def _owner_changed(self, owner: Object) -> None:
        for budget in self.budgets.by_index("namespace", owner["metadata"]["namespace"]):
            self.enqueue(budget)

    # -- expected pods ---------------------------------------------------------------------

    def _controller(self, namespace: str, ref: Object | None) -> tuple[str, Object] | None:
        """The scaled controller behind a pod (a Deployment behind its ReplicaSet)."""
        if ref is None or ref.get("kind") not in self.owners:
            return None
        owner = self.owners[ref["kind"]].get(join_key(namespace, ref["name"]))
        if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
            return None
        if ref["kind"] == "ReplicaSet":
            above = self._controller(namespace, owner_of(owner))
            if above is not None:
                return above
        return owner["metadata"]["uid"], owner

    def _scale_total(self, namespace: str, pods: list[Object]) -> int:
        controllers: dict[str, Object] = {}
        for pod in pods:
            found = self._controller(namespace, owner_of(pod))
            if found is not None:
                controllers[found[0]] = found[1]
        return sum(int((c.get("spec") or {}).get("replicas", 1)) for c in controllers.values())

    def expected_and_desired(self, budget: Object, pods: list[Object]) -> tuple[int, int]:
        spec = budget.get("spec") or {}
        namespace = budget["metadata"]["namespace"]
        high, low = spec.get("maxUnavailable"), spec.get("minAvailable")
        if high is not None:
            expected = self._scale_total(namespace, pods)
            return expected, max(expected - scaled(high, expected, round_up=True), 0)
        if low is not None:
            if isinstance(low, int):
                return len(pods), low
            expected = self._scale_total(namespace, pods)
            return expected, scaled(low, expected, round_up=True)
        return 0, 0

    # -- sync ----------------------------------------------------------------------------------

    async def sync(self, key: Hashable) -> None:
        assert isinstance(key, str)
        budget = self.budgets.get(key)
        if budget is None or budget["metadata"].get("deletionTimestamp"):
            return
        namespace, _ = split_key(key)
        pods = [p for p in self.pods.by_index("namespace", namespace or "")
                if selects(budget, p)]
        now = self.clock()
        status = dict(budget.get("status") or {})
        live = {p["metadata"]["name"]: p for p in pods
                if not p["metadata"].get("deletionTimestamp")}
        disrupted = {name: at for name, at in (status.get("disruptedPods") or {}).items()
                     if name in live and parse_time(at) + DELETION_TIMEOUT > now}
        expected, desired = self.expected_and_desired(budget, pods)
        healthy = sum(1 for name, p in live.items() if is_ready(p) and name not in disrupted)
        allowed = healthy - desired
        if expected <= 0 or allowed <= 0:
            allowed = 0
        status.update(currentHealthy=healthy, desiredHealthy=desired, expectedPods=expected,
                      disruptionsAllowed=allowed,
                      observedGeneration=budget["metadata"].get("generation", 1))
        if disrupted:
            status["disruptedPods"] = disrupted
            soonest = min(parse_time(at) for at in disrupted.values()) + DELETION_TIMEOUT
            self.queue.add_after(key, max(soonest - now, 0.0) + 0.1)
        else:
            status.pop("disruptedPods", None)
        status["conditions"] = [dict(c) for c in status.get("conditions") or []]
        sufficient = allowed > 0
        set_condition(status, {"type": "DisruptionAllowed", "status": str(sufficient),
                               "reason": "SufficientPods" if sufficient else "InsufficientPods",
                               "message": "",
                               "observedGeneration": budget["metadata"].get("generation", 1)},
                      now=format_time(now))
        if status == (budget.get("status") or {}):
            return
        if not pods and get_condition(budget, "DisruptionAllowed") is None:
            await self.recorder.event(budget, "Normal", "NoPods", "No matching pods found")
        try:
            await self.client.update(PODDISRUPTIONBUDGETS, {**budget, "status": status},
                                     subresource="status")
        except NotFound:
            return
        except Conflict:
            self.queue.add_after(key, 0.1)

