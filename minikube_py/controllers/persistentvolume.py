"""PersistentVolume binder (kube-controller-manager's persistentvolume controller):
binds claims to volumes both ways (volume.spec.claimRef, claim.spec.volumeName, both
phases Bound), provisions local-path volumes, releases a volume whose claim is gone and
applies its reclaim policy (Retain: Released; Delete: the volume is deleted).

Keys are ("claim", "ns/name") and ("volume", name): each side is synced on its own,
level-triggered, and a change to one enqueues the other. Claims of a
WaitForFirstConsumer class wait for the scheduler's selected-node annotation.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Hashable
from typing import TYPE_CHECKING

from minikube_py.api.meta import join_key
from minikube_py.api.resources import (
    NODES,
    PERSISTENTVOLUMECLAIMS,
    PERSISTENTVOLUMES,
    STORAGECLASSES,
)
from minikube_py.api.storageclass import LOCAL_PATH_PROVISIONER
from minikube_py.api.types import Object
from minikube_py.api.volumematch import best_match, claim_class
from minikube_py.api.volumes import SELECTED_NODE
from minikube_py.client.errors import AlreadyExists, ApiError, Conflict, NotFound
from minikube_py.client.loop import cached
from minikube_py.controllers import localpath
from minikube_py.controllers.base import Controller, ensure_index

if TYPE_CHECKING:
    from minikube_py.client import ApiClient
    from minikube_py.controllers.base import SharedInformers
    from minikube_py.controllers.settings import ControllerManagerSettings

log = logging.getLogger(__name__)

BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"


def claim_key(volume: Object) -> str | None:
    ref = volume["spec"].get("claimRef") or {}
    return join_key(ref.get("namespace"), ref["name"]) if ref.get("name") else None


def _volume_name(claim: Object) -> list[str]:
    name = (claim.get("spec") or {}).get("volumeName")
    return [str(name)] if name else []


class PersistentVolumeController(Controller):
    name = "persistentvolume-binder-controller"
    workers = 32  # a bind is four writes in a row; claims are independent of each other

    def __init__(self, client: ApiClient, settings: ControllerManagerSettings,
                 informers: SharedInformers | None = None) -> None:
        super().__init__(client, settings, informers)
        self.claims = self.watch(PERSISTENTVOLUMECLAIMS)
        ensure_index(self.claims, "volumeName", _volume_name)
        self.volumes = self.watch(PERSISTENTVOLUMES)
        self.classes = self.watch(STORAGECLASSES)
        self.nodes = self.watch(NODES)
        self.claims.add_handlers(self._claim_changed, lambda old, new: self._claim_changed(new),
                                 self._claim_changed)
        self.volumes.add_handlers(self._volume_changed,
                                  lambda old, new: self._volume_changed(new),
                                  self._volume_changed)
        self.classes.add_handlers(self._class_changed, lambda old, new: self._class_changed(new))
        # volume -> claim uid we wrote into its claimRef, until the cache shows it (the
        # assume cache of Kubernetes' binder): other claims' syncs must not pick it too.
        self._assumed: dict[str, str] = {}

    def _claim_changed(self, claim: Object) -> None:
        self.queue.add(("claim", join_key(claim["metadata"].get("namespace"),
                                          claim["metadata"]["name"])))
        if claim["spec"].get("volumeName"):
            self.queue.add(("volume", claim["spec"]["volumeName"]))

    def _volume_changed(self, volume: Object) -> None:
        name = volume["metadata"]["name"]
        if (volume["spec"].get("claimRef") or {}).get("uid") == self._assumed.get(name):
            self._assumed.pop(name, None)
        self.queue.add(("volume", name))
        key = claim_key(volume)
        if key is not None:
            self.queue.add(("claim", key))
        for claim in self.claims.by_index("volumeName", name):  # claims that wait for it
            self.queue.add(("claim", join_key(claim["metadata"].get("namespace"),
                                              claim["metadata"]["name"])))

    def _class_changed(self, _: Object) -> None:
        for claim in self.claims.list():
            if claim.get("status", {}).get("phase") != "Bound":
                self._claim_changed(claim)

    def object_for(self, key: Hashable) -> Object | None:
        assert isinstance(key, tuple)
        return cached(self.claims if key[0] == "claim" else self.volumes, key[1])

    async def sync(self, key: Hashable) -> None:
        """A 409 means our cache is behind our own last write: look again shortly (not a
        failure worth a rate-limited retry)."""
        try:
            await self._sync(key)
        except Conflict:
            self.queue.add_after(key, 0.05)

    async def _sync(self, key: Hashable) -> None:
        assert isinstance(key, tuple)
        kind, name = key
        if kind == "claim":
            claim = self.claims.get(name)
            if claim is not None and not claim["metadata"].get("deletionTimestamp"):
                await self._sync_claim(claim)
        else:
            volume = self.volumes.get(name)
            if volume is not None:
                await self._sync_volume(volume)

    # -- claims ----------------------------------------------------------------------------

    async def _sync_claim(self, claim: Object) -> None:
        name = claim["spec"].get("volumeName")
        if name:
            volume = self.volumes.get(name)
            if volume is None:
                if claim.get("status", {}).get("phase") == "Bound":
                    await self._claim_status(claim, "Lost", None)
                    await self.recorder.event(claim, "Warning", "ClaimLost",
                                              "Bound claim has lost its PersistentVolume. Data "
                                              "on the volume is lost!")
                return
            ref = volume["spec"].get("claimRef") or {}
            if ref.get("uid") not in (None, claim["metadata"]["uid"]):
                return  # bound elsewhere: this claim waits (Kubernetes does the same)
            await self._bind(volume, claim)
            return
        node_name = (claim["metadata"].get("annotations") or {}).get(SELECTED_NODE)
        storage_class = self.classes.get(claim_class(claim)) if claim_class(claim) else None
        waits = storage_class is not None and \
            storage_class.get("volumeBindingMode") == "WaitForFirstConsumer"
        if waits and not node_name:
            await self.recorder.event(claim, "Normal", "WaitForFirstConsumer",
                                      "waiting for first consumer to be created before binding")
            return
        node = self.nodes.get(node_name) if node_name else None
        uid = claim["metadata"]["uid"]
        free = [v for v in self.volumes.list()
                if self._assumed.get(v["metadata"]["name"], uid) == uid]
        volume = best_match(free, claim, node, check_node=bool(node_name))
        if volume is not None:
            await self._bind(volume, claim)
            return
        await self._provision(claim, storage_class, node_name)

    async def _provision(self, claim: Object, storage_class: Object | None,
                         node_name: str | None) -> None:
        wanted = claim_class(claim)
        if not wanted:
            await self.recorder.event(claim, "Normal", "FailedBinding",
                                      "no persistent volumes available for this claim and no "
                                      "storage class is set")
            return
        if storage_class is None:
            await self.recorder.event(claim, "Warning", "ProvisioningFailed",
                                      f'storageclass.storage.k8s.io "{wanted}" not found')
            return
        provisioner = storage_class.get("provisioner", "")
        if provisioner != LOCAL_PATH_PROVISIONER:
            await self.recorder.event(
                claim, "Normal", "ExternalProvisioning",
                f"Waiting for a volume to be created either by the external provisioner "
                f"'{provisioner}' or manually by the system administrator. If volume creation "
                f"is delayed, please verify that the provisioner is running and correctly "
                f"registered.")
            return
        if not node_name:
            await self.recorder.event(claim, "Warning", "ProvisioningFailed",
                                      "local-path volumes need a node: use volumeBindingMode "
                                      "WaitForFirstConsumer")
            return
        body = localpath.volume_for(claim, storage_class, node_name)
        try:
            await self.client.create(PERSISTENTVOLUMES, body)
        except AlreadyExists:
            return
        except ApiError as e:
            await self.recorder.event(claim, "Warning", "ProvisioningFailed",
                                      f"failed to provision volume with StorageClass "
                                      f'"{wanted}": {e}')
            return
        await self.recorder.event(claim, "Normal", "ProvisioningSucceeded",
                                  f"Successfully provisioned volume {body['metadata']['name']}")

    async def _bind(self, volume: Object, claim: Object) -> None:
        """claimRef on the volume first, then volumeName on the claim, then both phases
        (the order of Kubernetes' bind: a crash in between is finished by the next sync)."""
        meta = claim["metadata"]
        ref = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace":
               meta["namespace"], "name": meta["name"], "uid": meta["uid"],
               "resourceVersion": meta.get("resourceVersion", "")}
        current = volume["spec"].get("claimRef") or {}
        if current.get("uid") != meta["uid"]:
            name = volume["metadata"]["name"]
            volume = copy.deepcopy(volume)
            volume["spec"]["claimRef"] = ref
            annotations = volume["metadata"].setdefault("annotations", {})
            annotations[BOUND_BY_CONTROLLER] = "yes"
            # Reserved before the write, not after: claims synced meanwhile by the other
            # workers pick other volumes instead of all racing for this one (100 claims
            # at once made 460 conflicting writes).
            self._assumed[name] = meta["uid"]
            try:
                volume = await self.client.update(PERSISTENTVOLUMES, volume)
            except BaseException:
                if self._assumed.get(name) == meta["uid"]:
                    del self._assumed[name]
                raise
        if volume.get("status", {}).get("phase") != "Bound":
            await self.client.update(PERSISTENTVOLUMES, {**volume, "status": {"phase": "Bound"}},
                                     subresource="status")
        if claim["spec"].get("volumeName") != volume["metadata"]["name"] or \
                (meta.get("annotations") or {}).get(BIND_COMPLETED) != "yes":
            claim = copy.deepcopy(claim)
            claim["spec"]["volumeName"] = volume["metadata"]["name"]
            claim["metadata"].setdefault("annotations", {})[BIND_COMPLETED] = "yes"
            claim = await self.client.update(PERSISTENTVOLUMECLAIMS, claim)
        await self._claim_status(claim, "Bound", volume)

    async def _claim_status(self, claim: Object, phase: str, volume: Object | None) -> None:
        status: Object = {"phase": phase}
        if volume is not None:
            status["accessModes"] = volume["spec"].get("accessModes") or []
            status["capacity"] = dict(volume["spec"].get("capacity") or {})
        if claim.get("status") == status:
            return
        await self.client.update(PERSISTENTVOLUMECLAIMS, {**claim, "status": status},
                                 subresource="status")
        if phase == "Bound" and volume is not None:
            log.info("claim bound claim=%s/%s volume=%s", claim["metadata"]["namespace"],
                     claim["metadata"]["name"], volume["metadata"]["name"])

    # -- volumes ---------------------------------------------------------------------------

    async def _sync_volume(self, volume: Object) -> None:
        key = claim_key(volume)
        phase = volume.get("status", {}).get("phase")
        if key is None:
            await self._volume_phase(volume, "Available")
            return
        claim = self.claims.get(key)
        uid = (volume["spec"].get("claimRef") or {}).get("uid")
        if not uid:  # pre-bound by name to a claim that may come later: it waits for it
            if phase in (None, "Pending"):
                await self._volume_phase(volume, "Available")
            return
        if claim is not None and claim["metadata"]["uid"] == uid:
            return
        if claim is None and phase not in ("Released", "Failed"):
            # The claim may be new and not in our cache yet: read it before releasing.
            namespace, name = key.split("/", 1)
            try:
                fresh = await self.client.get(PERSISTENTVOLUMECLAIMS, name, namespace)
            except NotFound:
                fresh = None
            if fresh is not None and fresh["metadata"]["uid"] == uid:
                return
        if phase not in ("Released", "Failed"):
            await self._volume_phase(volume, "Released")
            return
        if phase == "Released":
            await self._reclaim(volume)

    async def _reclaim(self, volume: Object) -> None:
        policy = volume["spec"].get("persistentVolumeReclaimPolicy", "Retain")
        if policy == "Retain" or volume["metadata"].get("deletionTimestamp"):
            return
        if policy == "Delete":
            if volume["metadata"].get("annotations", {}).get(
                    localpath.PROVISIONED_BY) != LOCAL_PATH_PROVISIONER:
                await self._volume_phase(volume, "Failed", "VolumeFailedDelete",
                                         "error getting deleter volume plugin for volume "
                                         f"\"{volume['metadata']['name']}\": no deletable "
                                         "volume plugin matched")
                return
            try:
                await self.client.delete(PERSISTENTVOLUMES, volume["metadata"]["name"],
                                         preconditions={"uid": volume["metadata"]["uid"]})
            except (NotFound, Conflict):
                return
            return
        await self._volume_phase(volume, "Failed", "VolumeFailedRecycle",
                                 "Recycle is not supported by this cluster")

    async def _volume_phase(self, volume: Object, phase: str, reason: str = "",
                            message: str = "") -> None:
        status: Object = {"phase": phase}
        if reason:
            status.update(reason=reason, message=message)
        current = volume.get("status") or {}
        if {k: current.get(k) for k in status} == status and \
                set(current) - {"lastPhaseTransitionTime"} <= set(status):
            return
        try:
            await self.client.update(PERSISTENTVOLUMES, {**volume, "status": status},
                                     subresource="status")
        except NotFound:
            return
        if reason:
            await self.recorder.event(volume, "Warning", reason, message)
