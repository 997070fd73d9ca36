"""pvc-protection and pv-protection (kube-controller-manager's controllers of those
names): the finalizer the api-server puts on every claim and volume is removed only
once nothing uses it, so deleting a claim under a running pod, or a volume still bound
to a claim, waits (Terminating) instead of pulling storage from under a workload."""

from __future__ import annotations

import copy
from collections.abc import Hashable
from typing import TYPE_CHECKING

from minikube_py.api.meta import join_key
from minikube_py.api.resources import PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, PODS, Resource
from minikube_py.api.types import Object
from minikube_py.api.volumes import PV_PROTECTION, PVC_PROTECTION
from minikube_py.client.errors import Conflict, NotFound
from minikube_py.controllers.base import Controller, by_namespace

if TYPE_CHECKING:
    from minikube_py.client import ApiClient
    from minikube_py.controllers.base import SharedInformers
    from minikube_py.controllers.settings import ControllerManagerSettings


def claims_of(pod: Object) -> list[str]:
    """The claim names a pod mounts."""
    return [v["persistentVolumeClaim"]["claimName"]
            for v in (pod.get("spec") or {}).get("volumes") or []
            if (v.get("persistentVolumeClaim") or {}).get("claimName")]


def pod_uses(pod: Object, claim: str) -> bool:
    """A pod that may still run (not Succeeded/Failed) holds its claims."""
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed") and \
        claim in claims_of(pod)


async def release(client: ApiClient, resource: Resource, obj: Object, finalizer: str) -> None:
    obj = copy.deepcopy(obj)
    obj["metadata"]["finalizers"] = [f for f in obj["metadata"].get("finalizers") or []
                                     if f != finalizer]
    try:
        await client.update(resource, obj)
    except NotFound:
        return


class PVCProtectionController(Controller):
    name = "pvc-protection-controller"

    def __init__(self, client: ApiClient, settings: ControllerManagerSettings,
                 informers: SharedInformers | None = None) -> None:
        super().__init__(client, settings, informers)
        self.claims = self.watch(PERSISTENTVOLUMECLAIMS)
        self.pods = by_namespace(self.watch(PODS))
        self.claims.add_handlers(self.enqueue, lambda old, new: self.enqueue(new))
        self.pods.add_handlers(self._pod_changed, lambda old, new: self._pod_changed(new),
                               self._pod_changed)

    def _pod_changed(self, pod: Object) -> None:
        for name in claims_of(pod):
            self.queue.add(join_key(pod["metadata"]["namespace"], name))

    async def sync(self, key: Hashable) -> None:
        assert isinstance(key, str)
        claim = self.claims.get(key)
        if claim is None or not claim["metadata"].get("deletionTimestamp") or \
                PVC_PROTECTION not in (claim["metadata"].get("finalizers") or []):
            return
        namespace, name = claim["metadata"]["namespace"], claim["metadata"]["name"]
        if any(pod_uses(p, name) for p in self.pods.by_index("namespace", namespace)):
            return
        # The cache may lag a pod just created: ask the api-server before letting go.
        live = await self.client.list(PODS, namespace)
        if any(pod_uses(p, name) for p in live.get("items") or []):
            return
        try:
            await release(self.client, PERSISTENTVOLUMECLAIMS, claim, PVC_PROTECTION)
        except Conflict:
            self.queue.add_after(key, 0.1)


class PVProtectionController(Controller):
    name = "pv-protection-controller"

    def __init__(self, client: ApiClient, settings: ControllerManagerSettings,
                 informers: SharedInformers | None = None) -> None:
        super().__init__(client, settings, informers)
        self.volumes = self.watch(PERSISTENTVOLUMES)
        self.volumes.add_handlers(self.enqueue, lambda old, new: self.enqueue(new))

    async def sync(self, key: Hashable) -> None:
        assert isinstance(key, str)
        volume = self.volumes.get(key)
        if volume is None or not volume["metadata"].get("deletionTimestamp") or \
                PV_PROTECTION not in (volume["metadata"].get("finalizers") or []):
            return
        if (volume.get("status") or {}).get("phase") == "Bound":
            return
        try:
            await release(self.client, PERSISTENTVOLUMES, volume, PV_PROTECTION)
        except Conflict:
            self.queue.add_after(key, 0.1)
