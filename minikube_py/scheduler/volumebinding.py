"""The VolumeBinding plugin: a pod's claims decide where it may run.

A bound claim pins the pod to the nodes its volume's node affinity allows; an unbound
claim of a WaitForFirstConsumer class needs a node with a matching free volume or a
provisioner that can make one there; an unbound claim of an Immediate class waits for
the binder. Once a node is chosen, PreBind writes `volume.kubernetes.io/selected-node`
on the unbound claims and waits for the PV binder (controllers/persistentvolume.py) to
bind them before the pod is bound, so the kubelet never sees an unbound claim.
"""

from __future__ import annotations

import asyncio
import time

from minikube_py.api.meta import join_key, split_key
from minikube_py.api.resources import PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, STORAGECLASSES
from minikube_py.api.types import Object
from minikube_py.api.volumematch import best_match, claim_class, node_allows
from minikube_py.api.volumes import SELECTED_NODE
from minikube_py.client import ApiClient, Informer
from minikube_py.scheduler.nodeinfo import NodeInfo
from minikube_py.scheduler.podinfo import PodInfo

CONFLICT = "node(s) had volume node affinity conflict"
UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
NO_VOLUME = "node(s) didn't find available persistent volumes to bind"


def _node(info: NodeInfo) -> Object:
    return info.node or {"metadata": {"name": info.name, "labels": info.labels}}


class VolumeBinding:
    """Claims, volumes and classes as the scheduler sees them (its own informers)."""

    def __init__(self, client: ApiClient, bind_timeout: float = 600.0) -> None:
        self.claims, self.volumes, self.classes = (
            Informer(client, r)
            for r in (PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, STORAGECLASSES))
        self.bind_timeout = bind_timeout

    @property
    def informers(self) -> tuple[Informer, ...]:
        return self.claims, self.volumes, self.classes

    def _claim(self, pod: PodInfo, name: str) -> Object | None:
        return self.claims.get(join_key(split_key(pod.key)[0], name))

    def filter(self, pod: PodInfo, info: NodeInfo) -> tuple[str, ...]:
        """Why `pod`'s claims keep it off `info` (Kubernetes' reasons); () if they don't."""
        node = _node(info)
        for name in pod.claims:
            claim = self._claim(pod, name)
            if claim is None:
                return (f'persistentvolumeclaim "{name}" not found',)
            if claim["metadata"].get("deletionTimestamp"):
                return (f'persistentvolumeclaim "{name}" is being deleted',)
            bound_to = claim["spec"].get("volumeName")
            if bound_to:
                volume = self.volumes.get(bound_to)
                if volume is None:
                    return ("pvc(s) bound to non-existent pv(s)",)
                if not node_allows(volume, node):
                    return (CONFLICT,)
                continue
            storage_class = self.classes.get(claim_class(claim))
            if storage_class is None or \
                    storage_class.get("volumeBindingMode") != "WaitForFirstConsumer":
                return (UNBOUND_IMMEDIATE,)
            if best_match(self.volumes.list(), claim, node, check_node=True) is None and \
                    not storage_class.get("provisioner"):
                return (NO_VOLUME,)
        return ()

    async def prebind(self, client: ApiClient, pod: PodInfo, node_name: str) -> None:
        """Select `node_name` on the pod's unbound claims and wait until all are bound;
        TimeoutError after bind_timeout (the pod is then retried)."""
        namespace = pod.key.split("/", 1)[0]
        for name in pod.claims:
            claim = self._claim(pod, name)
            if claim is None or claim["spec"].get("volumeName"):
                continue
            if (claim["metadata"].get("annotations") or {}).get(SELECTED_NODE) != node_name:
                await client.patch(PERSISTENTVOLUMECLAIMS, name, {"metadata": {
                    "annotations": {SELECTED_NODE: node_name}}}, namespace)
        deadline = time.monotonic() + self.bind_timeout
        while not all(((self._claim(pod, n) or {}).get("status") or {}).get("phase") == "Bound"
                      for n in pod.claims):
            if time.monotonic() > deadline:
                raise TimeoutError(f"binding volumes: timed out waiting for the condition "
                                   f"(pod {pod.key})")
            await asyncio.sleep(0.1)
