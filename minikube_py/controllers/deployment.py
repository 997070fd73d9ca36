"""Deployment controller: rolls a pod template out through ReplicaSets.

Each distinct template gets a ReplicaSet named `<deployment>-<pod-template-hash>`
carrying the hash in its labels and selector and a revision annotation. A
RollingUpdate grows the new ReplicaSet and shrinks old ones within
maxSurge/maxUnavailable (deployment_util); Recreate scales the old ones to
zero and waits for their pods to go before scaling the new one up. Rolling
back (kubectl rollout undo) is a template change back to an old template: its
ReplicaSet becomes the new one again with the next revision number. The
deprecated rollback request (spec.rollbackTo / the deprecated.deployment.
rollback.to annotation) is turned into that template change here.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Hashable
from typing import TYPE_CHECKING

from minikube_py.api.meta import join_key, owner_of, owner_reference, split_key
from minikube_py.api.meta import key as object_key
from minikube_py.api.resources import DEPLOYMENTS, REPLICASETS
from minikube_py.api.selectors import LabelSelector
from minikube_py.api.types import Object
from minikube_py.client.errors import AlreadyExists, Conflict, NotFound
from minikube_py.controllers import deployment_util as du
from minikube_py.controllers.base import Controller, by_namespace
from minikube_py.controllers.deployment_scale import is_scaling_event, proportional_sizes
from minikube_py.controllers.deployment_status import seconds_to_deadline, update_conditions
from minikube_py.controllers.owners import claim

if TYPE_CHECKING:
    from minikube_py.client import ApiClient
    from minikube_py.controllers.base import SharedInformers
    from minikube_py.controllers.settings import ControllerManagerSettings

log = logging.getLogger(__name__)


ROLLBACK_ANNOTATION = "deprecated.deployment.rollback.to"


def rollback_requested(d: Object) -> int | None:
    """The revision a deprecated rollback asks for (0 = the previous one), or None:
    `spec.rollbackTo.revision` (extensions/v1beta1) or the annotation that
    kubectl set for apps/v1beta1."""
    value = (d["metadata"].get("annotations") or {}).get(ROLLBACK_ANNOTATION)
    if value is None and isinstance(d["spec"].get("rollbackTo"), dict):
        value = d["spec"]["rollbackTo"].get("revision", 0)
    if value is None:
        return None
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return 0


def _recreate(d: Object) -> bool:
    return (d["spec"].get("strategy") or {}).get("type") == "Recreate"


def _created(rs: Object) -> str:
    return str(rs["metadata"].get("creationTimestamp") or "")


class DeploymentController(Controller):
    name = "deployment-controller"
    workers = 4

    def __init__(self, client: ApiClient, settings: ControllerManagerSettings,
                 informers: SharedInformers | None = None) -> None:
        super().__init__(client, settings, informers)
        self.deployments = self.watch(DEPLOYMENTS)
        self.replicasets = self.watch(REPLICASETS)
        self.deployments.add_handlers(self.enqueue, lambda old, new: self.enqueue(new),
                                      self.enqueue)
        self.replicasets.add_handlers(self._rs_changed, lambda old, new: self._rs_changed(new),
                                      self._rs_changed)
        by_namespace(self.replicasets)

    def _rs_changed(self, rs: Object) -> None:
        ref = owner_of(rs)
        ns = rs["metadata"]["namespace"]
        if ref is not None:
            if ref.get("kind") == "Deployment":
                self.queue.add(join_key(ns, ref["name"]))
            return
        labels = rs["metadata"].get("labels") or {}
        for d in self.deployments.list():
            if d["metadata"]["namespace"] == ns:
                try:
                    if LabelSelector.from_dict(d["spec"].get("selector")).matches(labels):
                        self.enqueue(d)
                except ValueError:
                    continue

    # -- sync ----------------------------------------------------------------------

    async def sync(self, item: Hashable) -> None:
        key = str(item)  # "namespace/name" (or "name")
        deployment = self.deployments.get(key)
        if deployment is None:
            return
        d = copy.deepcopy(deployment)
        namespace, _ = split_key(key)
        try:
            selector = LabelSelector.from_dict(d["spec"].get("selector"))
        except ValueError:
            return
        if selector.is_everything:
            await self.recorder.event(d, "Warning", "SelectingAll",
                                      "This deployment is selecting all pods. A non-empty "
                                      "selector is required.")
            return
        owned = await claim(self.client, REPLICASETS, d,
                            self.replicasets.by_index("namespace", namespace or ""), selector)
        if rollback_requested(d) is not None and not d["metadata"].get("deletionTimestamp"):
            await self._rollback(d, owned)  # its template update brings us back here
            return
        new_rs = self._find_new(d, owned)
        olds = sorted((rs for rs in owned if rs is not new_rs), key=_created)
        created = False
        if d["metadata"].get("deletionTimestamp"):
            pass
        elif d["spec"].get("paused"):
            if new_rs is not None and not any(du.spec_replicas(rs) for rs in olds):
                new_rs = await self._scale(d, new_rs, du.spec_replicas(d))
        else:
            if new_rs is None:
                if (d["spec"].get("strategy") or {}).get("type") == "Recreate" and \
                        not await self._recreate_old_gone(d, olds):
                    await self._finish(d, owned, None, False)
                    return
                new_rs = await self._create_new(d, olds)
                created = new_rs is not None
                if new_rs is None:
                    return
            else:
                new_rs = await self._sync_revision(d, new_rs, olds)
                if not _recreate(d) and is_scaling_event(d, owned):
                    new_rs, olds = await self._scale_proportionally(d, new_rs, olds)
                    await self._finish(d, olds + [new_rs], new_rs, False)
                    return
            olds = await self._roll(d, new_rs, olds)
        await self._finish(d, olds + ([new_rs] if new_rs else []), new_rs, created)

    async def _rollback(self, d: Object, owned: list[Object]) -> None:
        """The deprecated rollback request: copy an old revision's template back
        (what modern `kubectl rollout undo` does client-side) and clear the request."""
        wanted = rollback_requested(d) or 0
        revisions = sorted({du.revision(rs) for rs in owned}, reverse=True)
        if wanted == 0:  # the one before the current
            wanted = revisions[1] if len(revisions) > 1 else -1
        source = next((rs for rs in owned if du.revision(rs) == wanted), None)
        ops: list[Object] = []
        if ROLLBACK_ANNOTATION in (d["metadata"].get("annotations") or {}):
            ops.append({"op": "remove",
                        "path": f"/metadata/annotations/{ROLLBACK_ANNOTATION}"})
        if "rollbackTo" in d["spec"]:
            ops.append({"op": "remove", "path": "/spec/rollbackTo"})
        if source is None:
            await self.recorder.event(d, "Warning", "RollbackRevisionNotFound",
                                      "Unable to find the revision to rollback to.")
        else:
            ops.append({"op": "replace", "path": "/spec/template",
                        "value": du.without_hash(source["spec"]["template"])})
            await self.recorder.event(d, "Normal", "DeploymentRollback",
                                      f"Rolled back deployment \"{d['metadata']['name']}\" "
                                      f"to revision {wanted}")
        try:
            await self.client.patch(DEPLOYMENTS, d["metadata"]["name"], ops,
                                    d["metadata"]["namespace"], patch_type="json")
        except NotFound:
            pass

    def _find_new(self, d: Object, owned: list[Object]) -> Object | None:
        matching = [rs for rs in owned
                    if du.equal_ignore_hash(rs["spec"].get("template") or {},
                                            d["spec"].get("template") or {})]
        return min(matching, key=_created) if matching else None

    async def _create_new(self, d: Object, olds: list[Object]) -> Object | None:
        template = du.pruned(d["spec"]["template"])
        collisions = int((d.get("status") or {}).get("collisionCount", 0) or 0)
        pod_hash = du.template_hash(template, collisions)
        template.setdefault("metadata", {}).setdefault("labels", {})[du.HASH_LABEL] = pod_hash
        selector = copy.deepcopy(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[du.HASH_LABEL] = pod_hash
        surge, _ = du.fenceposts(d)
        annotations = {k: v for k, v in (d["metadata"].get("annotations") or {}).items()
                       if not k.startswith("kubectl.kubernetes.io/last-applied")
                       and k != du.REVISION}
        annotations.update({
            du.REVISION: str(du.max_revision(olds) + 1),
            du.DESIRED_REPLICAS: str(du.spec_replicas(d)),
            du.MAX_REPLICAS: str(du.spec_replicas(d) + surge),
        })
        rs: Object = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{d['metadata']['name']}-{pod_hash}",
                         "namespace": d["metadata"]["namespace"],
                         "labels": dict(template["metadata"]["labels"]),
                         "annotations": annotations,
                         "ownerReferences": [owner_reference(d)]},
            "spec": {"replicas": 0, "minReadySeconds": d["spec"].get("minReadySeconds", 0),
                     "selector": selector, "template": template},
        }
        is_recreate = (d["spec"].get("strategy") or {}).get("type") == "Recreate"
        rs["spec"]["replicas"] = du.spec_replicas(d) if is_recreate else du.new_rs_target(
            d, olds + [rs], rs)
        try:
            created = await self.client.create(REPLICASETS, rs)
        except AlreadyExists:
            existing = self.replicasets.get(join_key(d["metadata"]["namespace"],
                                                     rs["metadata"]["name"]))
            if existing is not None and du.equal_ignore_hash(
                    existing["spec"].get("template") or {}, d["spec"]["template"]):
                return existing  # ours, the cache had not seen it yet
            status = {**(d.get("status") or {}), "collisionCount": collisions + 1}
            await self._write_status(d, status)  # a hash collision: next hash
            return None
        await self._scaled_event(d, created, 0, du.spec_replicas(created))
        return created

    async def _sync_revision(self, d: Object, new_rs: Object, olds: list[Object]) -> Object:
        """The new ReplicaSet carries the highest revision (a rollback bumps it)
        and the Deployment's current minReadySeconds."""
        min_ready = d["spec"].get("minReadySeconds", 0)
        if new_rs["spec"].get("minReadySeconds", 0) != min_ready:
            new_rs = await self._patch_rs(new_rs, {"spec": {"minReadySeconds": min_ready}})
        newest = du.max_revision(olds)
        if du.revision(new_rs) > newest:
            return new_rs
        annotations = dict(new_rs["metadata"].get("annotations") or {})
        old_revision = annotations.get(du.REVISION)
        history = [h for h in annotations.get(du.REVISION_HISTORY, "").split(",") if h]
        if old_revision:
            history.append(old_revision)
        annotations[du.REVISION] = str(newest + 1)
        annotations[du.REVISION_HISTORY] = ",".join(history)
        return await self._patch_rs(new_rs, {"metadata": {"annotations": annotations}})

    async def _recreate_old_gone(self, d: Object, olds: list[Object]) -> bool:
        """Recreate: scale every old ReplicaSet to 0; true once their pods are gone."""
        for rs in olds:
            if du.spec_replicas(rs):
                await self._scale(d, rs, 0)
        return all(du.status_of(rs, "replicas") == 0 for rs in olds)

    async def _roll(self, d: Object, new_rs: Object, olds: list[Object]) -> list[Object]:
        """One step of the rollout; returns the old ReplicaSets as now scaled."""
        if (d["spec"].get("strategy") or {}).get("type") == "Recreate":
            if await self._recreate_old_gone(d, olds):
                await self._scale(d, new_rs, du.spec_replicas(d))
            return olds
        target = du.new_rs_target(d, olds + [new_rs], new_rs)
        if target != du.spec_replicas(new_rs):
            new_rs = await self._scale(d, new_rs, target)
        budget = du.old_scale_down_budget(d, olds + [new_rs], new_rs)
        olds = list(olds)
        for i, rs in enumerate(olds):  # unhealthy old pods go first, oldest set first
            unhealthy = du.spec_replicas(rs) - du.status_of(rs, "availableReplicas")
            if budget <= 0:
                break
            if unhealthy > 0:
                n = min(budget, unhealthy)
                olds[i] = await self._scale(d, rs, du.spec_replicas(rs) - n)
                budget -= n
        budget = du.available_scale_down_budget(d, olds + [new_rs])
        for i, rs in enumerate(olds):
            if budget <= 0:
                break
            n = min(budget, du.spec_replicas(rs))
            if n:
                olds[i] = await self._scale(d, rs, du.spec_replicas(rs) - n)
                budget -= n
        return olds

    async def _scale_proportionally(self, d: Object, new_rs: Object,
                                    olds: list[Object]) -> tuple[Object, list[Object]]:
        """spec.replicas changed mid-rollout: every active set takes its share
        (deployment_scale); the rollout goes on from there on the next sync."""
        sizes = proportional_sizes(d, new_rs, olds)

        async def apply(rs: Object) -> Object:
            name = rs["metadata"]["name"]
            return await self._scale(d, rs, sizes[name], annotate=True) if name in sizes else rs
        return await apply(new_rs), [await apply(rs) for rs in olds]

    async def _scale(self, d: Object, rs: Object, replicas: int, *, annotate: bool = False) -> Object:
        """Resize `rs`, stamping the deployment size it was sized for (the next scaling
        event is measured against it); `annotate` rewrites stale stamps at the same size."""
        before = du.spec_replicas(rs)
        surge, _ = du.fenceposts(d)
        annotations = {du.DESIRED_REPLICAS: str(du.spec_replicas(d)),
                       du.MAX_REPLICAS: str(du.spec_replicas(d) + surge)}
        current = rs["metadata"].get("annotations") or {}
        if before == replicas and (not annotate or all(
                current.get(k) == v for k, v in annotations.items())):
            return rs
        scaled = await self._patch_rs(rs, {"spec": {"replicas": replicas},
                                           "metadata": {"annotations": annotations}})
        if before != replicas:
            await self._scaled_event(d, scaled, before, replicas)
        return scaled

    async def _scaled_event(self, d: Object, rs: Object, before: int, after: int) -> None:
        direction = "up" if after > before else "down"
        await self.recorder.event(d, "Normal", "ScalingReplicaSet",
                                  f"Scaled {direction} replica set {rs['metadata']['name']} "
                                  f"to {after} from {before}")

    async def _patch_rs(self, rs: Object, patch: Object) -> Object:
        patch.setdefault("metadata", {})["resourceVersion"] = rs["metadata"]["resourceVersion"]
        return await self.client.patch(REPLICASETS, rs["metadata"]["name"], patch,
                                       rs["metadata"]["namespace"], patch_type="merge")

    async def _finish(self, d: Object, all_rs: list[Object], new_rs: Object | None,
                      created: bool) -> None:
        """Revision annotation, history clean-up, status and conditions."""
        if new_rs is not None and (d["metadata"].get("annotations") or {}).get(
                du.REVISION) != str(du.revision(new_rs)):
            try:
                patched = await self.client.patch(DEPLOYMENTS, d["metadata"]["name"], {
                    "metadata": {"annotations": {du.REVISION: str(du.revision(new_rs))}}},
                    d["metadata"]["namespace"], patch_type="merge")
            except NotFound:
                return
            # The status below is written over this version, not the one we read.
            d["metadata"]["resourceVersion"] = patched["metadata"]["resourceVersion"]
        await self._cleanup_history(d, [rs for rs in all_rs if rs is not new_rs])
        now = time.time()
        status = du.calculate_status(d, all_rs, new_rs)
        update_conditions(d, status, new_rs["metadata"]["name"] if new_rs else None,
                          created_new_rs=created, now=now)
        await self._write_status(d, status)
        wait = seconds_to_deadline(d, status, now)
        if wait is not None:
            self.queue.add_after(object_key(d), wait)

    async def _cleanup_history(self, d: Object, olds: list[Object]) -> None:
        limit = d["spec"].get("revisionHistoryLimit", 10)
        if limit is None:
            return
        idle = sorted((rs for rs in olds if du.spec_replicas(rs) == 0
                       and du.status_of(rs, "replicas") == 0
                       and not rs["metadata"].get("deletionTimestamp")), key=du.revision)
        for rs in idle[:max(len(idle) - int(limit), 0)]:
            try:
                await self.client.delete(REPLICASETS, rs["metadata"]["name"],
                                         rs["metadata"]["namespace"])
            except NotFound:
                pass

    async def _write_status(self, d: Object, status: Object) -> None:
        if status == (d.get("status") or {}):
            return
        try:
            await self.client.update(DEPLOYMENTS, {**d, "status": status}, subresource="status")
        except NotFound:
            return
        except Conflict:
            self.queue.add_after(object_key(d), 0.1)
