"""ReplicaSet controller: keeps `spec.replicas` active pods matching the
selector, and reports status.

Pods are created in slow-start batches (1, 2, 4, ...) so a broken template
fails once rather than N times; outstanding creations and deletions are
remembered (expectations) so a burst of events never makes it overshoot.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Hashable
from typing import TYPE_CHECKING

from minikube_py.api.meta import generated_name, join_key, owner_of, owner_reference, split_key
from minikube_py.api.meta import key as object_key
from minikube_py.api.resources import PODS, REPLICASETS, REPLICATIONCONTROLLERS, Resource
from minikube_py.api.selectors import LabelSelector
from minikube_py.api.types import Object, ReplicaSetSpec, ReplicaSetStatus
from minikube_py.client.errors import AlreadyExists, ClientError, Conflict, NotFound
from minikube_py.controllers.base import Controller, by_namespace
from minikube_py.controllers.expectations import Expectations
from minikube_py.controllers.owners import claim
from minikube_py.controllers.pods import (
    is_active,
    is_available,
    is_ready,
    pods_to_delete,
    ready_since,
)

if TYPE_CHECKING:
    from minikube_py.client import ApiClient
    from minikube_py.controllers.base import SharedInformers
    from minikube_py.controllers.settings import ControllerManagerSettings

log = logging.getLogger(__name__)

BURST = 500  # most pods created or deleted in one sync (Kubernetes' burstReplicas)


def pod_from_template(rs: Object) -> Object:
    template = rs["spec"].get("template") or {}
    meta = template.get("metadata") or {}
    name = generated_name(f"{rs['metadata']['name']}-")
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": rs["metadata"]["namespace"],
            "labels": dict(meta.get("labels") or {}),
            "annotations": dict(meta.get("annotations") or {}),
            "ownerReferences": [owner_reference(rs)],
        },
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def compute_status(rs: Object, pods: list[Object], now: float) -> ReplicaSetStatus:
    """Status from the active pods the ReplicaSet owns (pure)."""
    spec: ReplicaSetSpec = rs["spec"]
    old: ReplicaSetStatus = rs.get("status") or {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = int(spec.get("minReadySeconds", 0) or 0)
    status: ReplicaSetStatus = {"conditions": old["conditions"]} if "conditions" in old else {}
    status.update({
        "replicas": len(pods),
        "fullyLabeledReplicas": sum(
            1 for p in pods
            if all((p["metadata"].get("labels") or {}).get(k) == v
                   for k, v in template_labels.items())),
        "readyReplicas": sum(1 for p in pods if is_ready(p)),
        "availableReplicas": sum(1 for p in pods if is_available(p, min_ready, now)),
        "observedGeneration": rs["metadata"].get("generation", 0),
    })
    return status


def seconds_until_available(rs: Object, pods: list[Object], now: float) -> float | None:
    """When the next ready pod passes minReadySeconds (status must change then)."""
    min_ready = int(rs["spec"].get("minReadySeconds", 0) or 0)
    waits = [ready_since(p) + min_ready - now for p in pods
             if min_ready and is_ready(p) and not is_available(p, min_ready, now)]
    return max(min(waits), 0.0) + 0.5 if waits else None


def selector_of(owner: Object) -> LabelSelector:
    """A ReplicaSet's LabelSelector, or a ReplicationController's plain label map."""
    selector = (owner.get("spec") or {}).get("selector")
    if owner.get("kind") == "ReplicationController":
        return LabelSelector.from_dict({"matchLabels": selector or {}})
    return LabelSelector.from_dict(selector)


class ReplicaSetController(Controller):
    name = "replicaset-controller"
    workers = 4
    # The kind kept at `replicas` pods; ReplicationControllerController changes it.
    resource: Resource = REPLICASETS

    def __init__(self, client: ApiClient, settings: ControllerManagerSettings,
                 informers: SharedInformers | None = None) -> None:
        super().__init__(client, settings, informers)
        self.expectations = Expectations()
        self.replicasets = self.watch(self.resource)
        self.pods = self.watch(PODS)
        self.replicasets.add_handlers(self.enqueue, lambda old, new: self.enqueue(new),
                                      self._rs_deleted)
        self.pods.add_handlers(self._pod_added, self._pod_updated, self._pod_deleted)
        by_namespace(self.pods)

    # -- handlers ------------------------------------------------------------------

    def _rs_deleted(self, rs: Object) -> None:
        self.expectations.forget(object_key(rs))
        self.enqueue(rs)

    def _owner_key(self, pod: Object) -> str | None:
        ref = owner_of(pod)
        if ref is None or ref.get("kind") != self.resource.kind:
            return None
        return join_key(pod["metadata"]["namespace"], ref["name"])

    def _enqueue_matching(self, pod: Object) -> None:
        """An orphan: every ReplicaSet that might adopt it takes a look."""
        ns, labels = pod["metadata"]["namespace"], pod["metadata"].get("labels") or {}
        for rs in self.replicasets.list():
            if rs["metadata"]["namespace"] != ns:
                continue
            try:
                if selector_of(rs).matches(labels):
                    self.enqueue(rs)
            except ValueError:
                continue

    def _pod_added(self, pod: Object) -> None:
        key = self._owner_key(pod)
        if key is None:
            if owner_of(pod) is None:
                self._enqueue_matching(pod)
            return
        if pod["metadata"].get("deletionTimestamp"):
            self._pod_deleted(pod)
            return
        self.expectations.creation_observed(key)
        self.queue.add(key)

    def _pod_updated(self, old: Object, new: Object) -> None:
        if new["metadata"].get("deletionTimestamp") and not old["metadata"].get(
                "deletionTimestamp"):
            self._pod_deleted(new)
            return
        old_key, key = self._owner_key(old), self._owner_key(new)
        if old_key and old_key != key:
            self.queue.add(old_key)
        if key:
            self.queue.add(key)
            if (new["metadata"].get("labels") != old["metadata"].get("labels")):
                self._enqueue_matching(new)  # released: someone else may adopt it
        elif owner_of(new) is None:
            self._enqueue_matching(new)

    def _pod_deleted(self, pod: Object) -> None:
        key = self._owner_key(pod)
        if key is None:
            return
        self.expectations.deletion_observed(key, f"{pod['metadata']['namespace']}/"
                                                 f"{pod['metadata']['name']}")
        self.queue.add(key)

    # -- sync ----------------------------------------------------------------------

    async def sync(self, item: Hashable) -> None:
        key = str(item)  # "namespace/name" (or "name")
        rs = self.replicasets.get(key)
        if rs is None:
            self.expectations.forget(key)
            return
        namespace, _ = split_key(key)
        try:
            selector = selector_of(rs)
        except ValueError:
            log.warning("invalid selector %s=%s", self.resource.singular, key)
            return
        candidates = [p for p in self.pods.by_index("namespace", namespace or "")
                      if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        owned = await claim(self.client, PODS, rs, candidates, selector)
        active = [p for p in owned if is_active(p)]
        error: ClientError | None = None
        if self.expectations.satisfied(key) and not rs["metadata"].get("deletionTimestamp"):
            error = await self._manage(key, rs, active)
        now = time.time()
        await self._update_status(rs, compute_status(rs, active, now))
        wait = seconds_until_available(rs, active, now)
        if wait is not None:  # re-added after every sync: an earlier delayed add may win
            self.queue.add_after(key, wait)
        if error is not None:
            raise error

    async def _manage(self, key: str, rs: Object, active: list[Object]) -> ClientError | None:
        diff = len(active) - int(rs["spec"].get("replicas", 1))
        if diff < 0:
            return await self._create(key, rs, min(-diff, BURST))
        if diff > 0:
            await self._delete(key, rs, pods_to_delete(active, min(diff, BURST)))
        return None

    async def _create(self, key: str, rs: Object, count: int) -> ClientError | None:
        self.expectations.expect(key, adds=count)
        batch, remaining = 1, count
        while remaining > 0:
            size = min(batch, remaining)
            results = await asyncio.gather(
                *(self.client.create(PODS, pod_from_template(rs)) for _ in range(size)),
                return_exceptions=True)
            remaining -= size
            failures = [r for r in results if isinstance(r, BaseException)]
            for created in results:
                if not isinstance(created, BaseException):
                    await self.recorder.event(rs, "Normal", "SuccessfulCreate",
                                              f"Created pod: {created['metadata']['name']}")
            for failure in failures:
                self.expectations.creation_observed(key)
                if not isinstance(failure, AlreadyExists):
                    await self.recorder.event(rs, "Warning", "FailedCreate",
                                              f"Error creating: {failure}")
            if failures:
                for _ in range(remaining):  # those are never going to be created now
                    self.expectations.creation_observed(key)
                first = failures[0]
                if isinstance(first, ClientError):
                    return first
                raise first
            batch *= 2
        return None

    async def _delete(self, key: str, rs: Object, victims: list[Object]) -> None:
        keys = {object_key(p) for p in victims}
        self.expectations.expect(key, deletes=keys)

        async def delete(pod: Object) -> None:
            name, ns = pod["metadata"]["name"], pod["metadata"]["namespace"]
            try:
                await self.client.delete(PODS, name, ns)
            except NotFound:
                self.expectations.deletion_observed(key, join_key(ns, name))
                return
            except ClientError:
                self.expectations.deletion_observed(key, join_key(ns, name))
                raise
            await self.recorder.event(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")

        await asyncio.gather(*(delete(p) for p in victims))

    async def _update_status(self, rs: Object, status: ReplicaSetStatus) -> None:
        current = rs.get("status") or {}
        if all(current.get(k) == v for k, v in status.items()):
            return
        body = {**rs, "status": status}
        try:
            await self.client.update(self.resource, body, subresource="status")
        except NotFound:
            return
        except Conflict:
            self.queue.add_after(object_key(rs), 0.1)


class ReplicationControllerController(ReplicaSetController):
    """core/v1 ReplicationControllers: the same machinery over an equality selector."""

    name = "replication-controller"
    resource = REPLICATIONCONTROLLERS
