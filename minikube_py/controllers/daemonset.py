"""DaemonSet controller (kube-controller-manager's daemon controller): one pod
per node that wants it (nodeSelector, node affinity, taints against the
template's tolerations plus the automatic ones), rolled to the current
ControllerRevision with RollingUpdate (maxUnavailable, maxSurge) or left for
the user to delete with OnDelete, and status counters.

Pods are pinned to their node by node affinity and bound by the scheduler, as
Kubernetes does since 1.12; a new node gets its pod, a removed node's pod is
deleted, and a node whose NoExecute taints the pod does not tolerate loses it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Hashable
from typing import TYPE_CHECKING

from minikube_py.api.meta import key as object_key
from minikube_py.api.meta import split_key
from minikube_py.api.resources import CONTROLLERREVISIONS, DAEMONSETS, NODES, PODS
from minikube_py.api.selectors import LabelSelector
from minikube_py.api.types import Object
from minikube_py.client.errors import ClientError, Conflict, NotFound
from minikube_py.client.loop import cached
from minikube_py.controllers import daemonset_pods as dp
from minikube_py.controllers import history
from minikube_py.controllers.base import Controller, by_namespace
from minikube_py.controllers.deployment_util import scaled_value
from minikube_py.controllers.expectations import Expectations
from minikube_py.controllers.owners import claim, controller_key
from minikube_py.controllers.pods import is_available, is_ready, parse_time

if TYPE_CHECKING:
    from minikube_py.client import ApiClient
    from minikube_py.controllers.base import SharedInformers
    from minikube_py.controllers.settings import ControllerManagerSettings

log = logging.getLogger(__name__)



def _alive(pod: Object) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and \
        (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


class DaemonSetController(Controller):
    name = "daemonset-controller"
    workers = 2

    def __init__(self, client: ApiClient, settings: ControllerManagerSettings,
                 informers: SharedInformers | None = None) -> None:
        super().__init__(client, settings, informers)
        self.expectations = Expectations()
        self.daemonsets = self.watch(DAEMONSETS)
        self.pods = by_namespace(self.watch(PODS))
        self.nodes = self.watch(NODES)
        self.revisions = by_namespace(self.watch(CONTROLLERREVISIONS))
        self.daemonsets.add_handlers(self.enqueue, lambda old, new: self.enqueue(new),
                                     self.enqueue)
        self.pods.add_handlers(self._pod_added, lambda old, new: self._owned_changed(new),
                               self._owned_changed)
        self.nodes.add_handlers(self._node_changed, lambda old, new: self._node_changed(new),
                                self._node_changed)
        self.revisions.add_handlers(self._owned_changed,
                                    lambda old, new: self._owned_changed(new))
        self.clock = time.time

    def object_for(self, key: Hashable) -> Object | None:
        return cached(self.daemonsets, key)

    def _owner_key(self, obj: Object) -> str | None:
        return controller_key(obj, "DaemonSet")

    def _pod_added(self, pod: Object) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.queue.add(key)

    def _owned_changed(self, obj: Object) -> None:
        self.enqueue_controller(obj, "DaemonSet")

    def _node_changed(self, node: Object) -> None:
        for ds in self.daemonsets.list():
            self.enqueue(ds)

    # -- sync ---------------------------------------------------------------------------------

    async def sync(self, key: Hashable) -> None:
        assert isinstance(key, str)
        ds = self.daemonsets.get(key)
        if ds is None:
            self.expectations.forget(key)
            return
        if ds["metadata"].get("deletionTimestamp"):
            return
        namespace, _ = split_key(key)
        try:
            selector = LabelSelector.from_dict(ds["spec"].get("selector"))
        except ValueError:
            log.warning("invalid selector daemonset=%s", key)
            return
        revisions = history.owned(ds, self.revisions.by_index("namespace", namespace or ""))
        current = await history.current_revision(self.client, ds, revisions)
        digest = history.hash_of(current)
        pods = await claim(self.client, PODS, ds,
                           self.pods.by_index("namespace", namespace or ""), selector)
        nodes = {n["metadata"]["name"]: n for n in self.nodes.list()}
        by_node: dict[str, list[Object]] = {}
        for pod in pods:
            by_node.setdefault(dp.target_node(pod) or "", []).append(pod)
        if self.expectations.satisfied(key):
            create = await self._manage(ds, nodes, by_node, digest)
            strategy = (ds["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate")
            if strategy == "RollingUpdate":
                create += await self._roll(ds, nodes, by_node, digest)
            await self._create(key, ds, create, digest)  # one expectation for all of them
        live = {str((p["metadata"].get("labels") or {}).get(history.HASH_LABEL)) for p in pods}
        await history.truncate(self.client, ds, revisions, live,
                               {current["metadata"]["name"]})
        await self._update_status(ds, nodes, by_node, digest)

    async def _manage(self, ds: Object, nodes: dict[str, Object],
                      by_node: dict[str, list[Object]], digest: str) -> list[str]:
        """Place: a pod where one should run and none does (the nodes returned); none
        where none should."""
        create: list[str] = []
        delete: list[Object] = []
        for name, node in nodes.items():
            run, keep = dp.should_run(ds, node)
            pods = by_node.get(name, [])
            failed = [p for p in pods if (p.get("status") or {}).get("phase") == "Failed"]
            alive = [p for p in pods if _alive(p)]
            if not keep:
                delete += alive
                continue
            delete += failed
            if run and not alive:
                create.append(name)
            same = [p for p in alive if
                    (p["metadata"].get("labels") or {}).get(history.HASH_LABEL) == digest]
            if len(same) > 1:  # duplicates of one revision: keep the oldest
                same.sort(key=lambda p: parse_time(p["metadata"].get("creationTimestamp")))
                delete += same[1:]
        for name, pods in by_node.items():
            if name not in nodes:  # the node is gone (or the pod names none)
                delete += [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        await self._delete(ds, delete)
        return create

    async def _roll(self, ds: Object, nodes: dict[str, Object],
                    by_node: dict[str, list[Object]], digest: str) -> list[str]:
        """Replace old-revision pods within maxUnavailable, or surge new ones first (the
        nodes returned get a new pod beside their old one)."""
        rolling = (ds["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {}
        wanted = [n for n, node in nodes.items() if dp.should_run(ds, node)[0]]
        desired = len(wanted)
        max_surge = scaled_value(rolling.get("maxSurge"), desired, "0", round_up=True)
        max_unavailable = scaled_value(rolling.get("maxUnavailable"), desired, "1", round_up=True)
        if max_surge == 0 and max_unavailable == 0:
            max_unavailable = 1
        min_ready = int(ds["spec"].get("minReadySeconds") or 0)
        now = self.clock()
        delete: list[Object] = []
        surge_nodes: list[str] = []
        unavailable = 0
        candidates: list[Object] = []
        surging = 0
        for name in wanted:
            alive = [p for p in by_node.get(name, []) if _alive(p)]
            old = [p for p in alive
                   if (p["metadata"].get("labels") or {}).get(history.HASH_LABEL) != digest]
            new = [p for p in alive if p not in old]
            if not old:
                if not any(is_available(p, min_ready, now) for p in new):
                    unavailable += 1
                continue
            old_available = [p for p in old if is_available(p, min_ready, now)]
            if max_surge == 0:
                if not old_available:
                    delete += old  # not serving anyway: replace at once
                    unavailable += 1
                else:
                    candidates += old
                continue
            if new:
                surging += 1
                if any(is_available(p, min_ready, now) for p in new):
                    delete += old
            elif not old_available:
                delete += old
            else:
                surge_nodes.append(name)
        surge: list[str] = []
        if max_surge == 0:
            delete += candidates[:max(max_unavailable - unavailable, 0)]
        else:
            surge = surge_nodes[:max(max_surge - surging, 0)]
        await self._delete(ds, delete)
        return surge

    async def _create(self, key: str, ds: Object, node_names: list[str], digest: str) -> None:
        if not node_names:
            return
        self.expectations.expect(key, adds=len(node_names))
        results = await asyncio.gather(
            *(self.client.create(PODS, dp.pod_for(ds, n, digest)) for n in node_names),
            return_exceptions=True)
        failure: BaseException | None = None
        for node_name, result in zip(node_names, results, strict=True):
            if isinstance(result, BaseException):
                self.expectations.creation_observed(key)
                failure = failure or result
                await self.recorder.event(ds, "Warning", "FailedCreate",
                                          f"Error creating: {result}")
            else:
                await self.recorder.event(ds, "Normal", "SuccessfulCreate",
                                          f"Created pod: {result['metadata']['name']}")
                log.info("daemon pod created daemonset=%s node=%s", key, node_name)
        if isinstance(failure, ClientError):
            raise failure

    async def _delete(self, ds: Object, pods: list[Object]) -> None:
        async def delete(pod: Object) -> None:
            meta = pod["metadata"]
            try:
                await self.client.delete(PODS, meta["name"], meta["namespace"])
            except NotFound:
                return
            await self.recorder.event(ds, "Normal", "SuccessfulDelete",
                                      f"Deleted pod: {meta['name']}")

        unique = {p["metadata"]["name"]: p for p in pods}
        await asyncio.gather(*(delete(p) for p in unique.values()))

    async def _update_status(self, ds: Object, nodes: dict[str, Object],
                             by_node: dict[str, list[Object]], digest: str) -> None:
        min_ready = int(ds["spec"].get("minReadySeconds") or 0)
        now = self.clock()
        counts = dict.fromkeys(("desiredNumberScheduled", "currentNumberScheduled",
                                "numberMisscheduled", "numberReady", "updatedNumberScheduled",
                                "numberAvailable"), 0)
        for name, node in nodes.items():
            run, _ = dp.should_run(ds, node)
            alive = [p for p in by_node.get(name, []) if _alive(p)]
            if not run:
                counts["numberMisscheduled"] += bool(alive)
                continue
            counts["desiredNumberScheduled"] += 1
            counts["currentNumberScheduled"] += bool(alive)
            counts["numberReady"] += any(is_ready(p) for p in alive)
            counts["numberAvailable"] += any(is_available(p, min_ready, now) for p in alive)
            counts["updatedNumberScheduled"] += any(
                (p["metadata"].get("labels") or {}).get(history.HASH_LABEL) == digest
                for p in alive)
        status: Object = {**counts, "observedGeneration": ds["metadata"].get("generation", 0)}
        unavailable = counts["desiredNumberScheduled"] - counts["numberAvailable"]
        if unavailable:
            status["numberUnavailable"] = unavailable
        if (ds.get("status") or {}).get("collisionCount"):
            status["collisionCount"] = ds["status"]["collisionCount"]
        if status == (ds.get("status") or {}):
            return
        try:
            await self.client.update(DAEMONSETS, {**ds, "status": status}, subresource="status")
        except NotFound:
            return
        except Conflict:
            self.queue.add_after(object_key(ds), 0.1)
        waits = [p for pods in by_node.values() for p in pods
                 if min_ready and is_ready(p) and not is_available(p, min_ready, now)]
        if waits:
            self.queue.add_after(object_key(ds),
                                 float(min_ready))
