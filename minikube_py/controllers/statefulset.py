"""StatefulSet controller (kube-controller-manager's stateful_set_control):
pods with stable identities `<name>-<ordinal>` (hostname, and subdomain from
serviceName), created in order and each only once its predecessors are Running
and Ready (OrderedReady) or all at once (Parallel), removed from the highest
ordinal down; RollingUpdate from the highest ordinal down to the partition,
one unavailable pod at a time (maxUnavailable), or OnDelete; status with
currentRevision / updateRevision from ControllerRevisions.

volumeClaimTemplates: each pod's claims are created before it
(statefulset_claims) and kept when the pod goes, so its replacement mounts the
same data.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
import time
from collections.abc import Hashable
from typing import TYPE_CHECKING

from minikube_py.api.meta import owner_reference, split_key
from minikube_py.api.resources import CONTROLLERREVISIONS, PODS, STATEFULSETS
from minikube_py.api.selectors import LabelSelector
from minikube_py.api.types import Object
from minikube_py.client.errors import AlreadyExists, Conflict, NotFound
from minikube_py.client.loop import cached
from minikube_py.controllers import history
from minikube_py.controllers.base import Controller, by_namespace
from minikube_py.controllers.deployment_util import scaled_value
from minikube_py.controllers.owners import claim
from minikube_py.controllers.pods import is_available, is_ready
from minikube_py.controllers.statefulset_claims import attach, create_claims

if TYPE_CHECKING:
    from minikube_py.client import ApiClient
    from minikube_py.controllers.base import SharedInformers
    from minikube_py.controllers.settings import ControllerManagerSettings

log = logging.getLogger(__name__)

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


def ordinal_of(sts: Object, pod: Object) -> int | None:
    match = re.fullmatch(re.escape(sts["metadata"]["name"]) + r"-(\d+)", pod["metadata"]["name"])
    return int(match.group(1)) if match else None


def pod_revision(pod: Object) -> str:
    return str((pod["metadata"].get("labels") or {}).get(history.HASH_LABEL, ""))


def _healthy(pod: Object) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_ready(pod) and \
        not pod["metadata"].get("deletionTimestamp")


def _terminating(pod: Object) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def pod_for(sts: Object, ordinal: int, template: Object, revision: str) -> Object:
    """newVersionedStatefulSetPod: the identity (name, hostname, subdomain, labels)
    on a pod from the revision's template."""
    name = f"{sts['metadata']['name']}-{ordinal}"
    meta = template.get("metadata") or {}
    spec = copy.deepcopy(template.get("spec") or {})
    spec["hostname"] = name
    if sts["spec"].get("serviceName"):
        spec["subdomain"] = sts["spec"]["serviceName"]
    labels = {**(meta.get("labels") or {}), history.HASH_LABEL: revision,
              POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal)}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": name, "namespace": sts["metadata"]["namespace"], "labels": labels,
        "annotations": dict(meta.get("annotations") or {}),
        "ownerReferences": [owner_reference(sts)]}, "spec": spec}


class StatefulSetController(Controller):
    name = "statefulset-controller"

    def __init__(self, client: ApiClient, settings: ControllerManagerSettings,
                 informers: SharedInformers | None = None) -> None:
        super().__init__(client, settings, informers)
        self.sets = self.watch(STATEFULSETS)
        self.pods = by_namespace(self.watch(PODS))
        self.revisions = by_namespace(self.watch(CONTROLLERREVISIONS))
        self.sets.add_handlers(self.enqueue, lambda old, new: self.enqueue(new), self.enqueue)
        for informer in (self.pods, self.revisions):
            informer.add_handlers(self._owned_changed, lambda old, new: self._owned_changed(new),
                                  self._owned_changed)
        self.clock = time.time

    def object_for(self, key: Hashable) -> Object | None:
        return cached(self.sets, key)

    def _owned_changed(self, obj: Object) -> None:
        self.enqueue_controller(obj, "StatefulSet")

    async def sync(self, key: Hashable) -> None:
        assert isinstance(key, str)
        sts = self.sets.get(key)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return
        namespace, _ = split_key(key)
        try:
            selector = LabelSelector.from_dict(sts["spec"].get("selector"))
        except ValueError:
            log.warning("invalid selector statefulset=%s", key)
            return
        revisions = history.owned(sts, self.revisions.by_index("namespace", namespace or ""))
        update = await history.current_revision(self.client, sts, revisions)
        by_name = {r["metadata"]["name"]: r for r in revisions}
        current_name = (sts.get("status") or {}).get("currentRevision")
        current = by_name.get(current_name or "", update)
        pods = await claim(self.client, PODS, sts,
                           self.pods.by_index("namespace", namespace or ""), selector)
        by_ordinal = {o: p for p in pods if (o := ordinal_of(sts, p)) is not None}
        await self._manage(sts, by_ordinal, current, update)
        live = {pod_revision(p) for p in pods}
        await history.truncate(self.client, sts, revisions, live,
                               {update["metadata"]["name"], current["metadata"]["name"]})
        await self._update_status(key, sts, by_ordinal, current, update)

    def _revision_for(self, sts: Object, ordinal: int, current: Object,
                      update: Object) -> Object:
        """Below the partition pods stay at the current revision."""
        strategy = sts["spec"].get("updateStrategy") or {}
        start = int((sts["spec"].get("ordinals") or {}).get("start", 0))
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            partition = int((strategy.get("rollingUpdate") or {}).get("partition", 0))
            if ordinal - start < partition:
                return current
        return update

    async def _manage(self, sts: Object, pods: dict[int, Object], current: Object,
                      update: Object) -> None:
        spec = sts["spec"]
        parallel = spec.get("podManagementPolicy") == "Parallel"
        start = int((spec.get("ordinals") or {}).get("start", 0))
        wanted = range(start, start + int(spec.get("replicas", 1)))
        # Failed pods are replaced: delete now, recreate on a later sync.
        failed = [p for p in pods.values()
                  if (p.get("status") or {}).get("phase") == "Failed" and not _terminating(p)]
        await self._delete(sts, failed)
        creates: list[int] = []
        for ordinal in wanted:
            pod = pods.get(ordinal)
            if pod is None or pod in failed:
                creates.append(ordinal)
                if not parallel:
                    break
            elif not parallel and not _healthy(pod):
                break  # OrderedReady: nothing after a pod that is not Running and Ready
        await self._create(sts, creates, current, update)
        if creates and not parallel:
            return
        condemned = sorted((o for o in pods if o not in wanted), reverse=True)
        if condemned:
            if not parallel:
                if any(_terminating(p) for p in pods.values()) or not all(
                        _healthy(pods[o]) for o in wanted if o in pods):
                    return
                condemned = condemned[:1]
            await self._delete(sts, [pods[o] for o in condemned if not _terminating(pods[o])])
            return
        await self._roll(sts, pods, wanted, current, update)

    async def _roll(self, sts: Object, pods: dict[int, Object], wanted: range,
                    current: Object, update: Object) -> None:
        """RollingUpdate: from the highest ordinal down to the partition, within
        maxUnavailable."""
        strategy = sts["spec"].get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        rolling = strategy.get("rollingUpdate") or {}
        max_unavailable = max(scaled_value(rolling.get("maxUnavailable"), len(wanted), "1",
                                           round_up=False), 1)
        min_ready = int(sts["spec"].get("minReadySeconds") or 0)
        now = self.clock()
        unavailable = sum(1 for o in wanted if o not in pods
                          or not is_available(pods[o], min_ready, now) or _terminating(pods[o]))
        target = history.hash_of(update)
        victims: list[Object] = []
        for ordinal in sorted(wanted, reverse=True):
            pod = pods.get(ordinal)
            if pod is None or _terminating(pod):
                continue
            if history.hash_of(self._revision_for(sts, ordinal, current, update)) != target:
                continue
            if pod_revision(pod) != target:
                if not is_available(pod, min_ready, now):
                    victims.append(pod)  # not serving: replacing it costs nothing
                elif unavailable < max_unavailable:
                    victims.append(pod)
                    unavailable += 1
                else:
                    break
        await self._delete(sts, victims)

    async def _create(self, sts: Object, ordinals: list[int], current: Object,
                      update: Object) -> None:
        if not ordinals:
            return

        async def create(ordinal: int) -> None:
            revision = self._revision_for(sts, ordinal, current, update)
            body = pod_for(sts, ordinal, history.template_of(revision),
                           history.hash_of(revision))
            attach(body["spec"], sts, ordinal)
            if not await create_claims(self.client, self.recorder, sts, ordinal,
                                       body["metadata"]["name"]):
                return
            try:
                await self.client.create(PODS, body)
            except AlreadyExists:
                return
            await self.recorder.event(sts, "Normal", "SuccessfulCreate",
                                      f"create Pod {body['metadata']['name']} in StatefulSet "
                                      f"{sts['metadata']['name']} successful")

        await asyncio.gather(*(create(o) for o in ordinals))

    async def _delete(self, sts: Object, pods: list[Object]) -> None:
        async def delete(pod: Object) -> None:
            try:
                await self.client.delete(PODS, pod["metadata"]["name"],
                                         pod["metadata"]["namespace"],
                                         preconditions={"uid": pod["metadata"]["uid"]})
            except (NotFound, Conflict):
                return
            await self.recorder.event(sts, "Normal", "SuccessfulDelete",
                                      f"delete Pod {pod['metadata']['name']} in StatefulSet "
                                      f"{sts['metadata']['name']} successful")

        await asyncio.gather(*(delete(p) for p in pods))

    async def _update_status(self, key: str, sts: Object, pods: dict[int, Object],
                             current: Object, update: Object) -> None:
        min_ready = int(sts["spec"].get("minReadySeconds") or 0)
        now = self.clock()
        alive = [p for p in pods.values() if not _terminating(p)
                 and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        current_hash, update_hash = history.hash_of(current), history.hash_of(update)
        status: Object = {
            "observedGeneration": sts["metadata"].get("generation", 0),
            "replicas": len(alive),
            "readyReplicas": sum(1 for p in alive if is_ready(p)),
            "availableReplicas": sum(1 for p in alive if is_available(p, min_ready, now)),
            "currentReplicas": sum(1 for p in alive if pod_revision(p) == current_hash),
            "updatedReplicas": sum(1 for p in alive if pod_revision(p) == update_hash),
            "currentRevision": current["metadata"]["name"],
            "updateRevision": update["metadata"]["name"],
            "collisionCount": int((sts.get("status") or {}).get("collisionCount") or 0),
        }
        replicas = int(sts["spec"].get("replicas", 1))
        if status["updatedReplicas"] == replicas and status["readyReplicas"] == replicas \
                and len(alive) == replicas:
            status["currentRevision"] = status["updateRevision"]
            status["currentReplicas"] = status["updatedReplicas"]
        if status == (sts.get("status") or {}):
            return
        try:
            await self.client.update(STATEFULSETS, {**sts, "status": status},
                                     subresource="status")
        except NotFound:
            return
        except Conflict:
            self.queue.add_after(key, 0.1)
            return
        waits = [p for p in alive if min_ready and is_ready(p)
                 and not is_available(p, min_ready, now)]
        if waits:
            self.queue.add_after(key, float(min_ready))
