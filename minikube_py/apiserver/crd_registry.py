"""Which custom kinds this api-server process serves, learned by watching CRDs.

As the RBAC index, every api-server process (each worker too) lists
CustomResourceDefinitions once and follows their watch, registering one strategy per
served version in api.registry: a CRD's kinds are routable, in discovery and in
OpenAPI as soon as its event arrives (milliseconds after the create), and gone when it
is. The primary process (not the workers) also finishes a CRD's deletion as
apiextensions' finalizing controller does: every object of the kind is deleted, then
the cleanup finalizer is removed so the CRD itself goes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from minikube_py.api import customresourcedefinition, registry
from minikube_py.api.customresource import CustomResourceStrategy
from minikube_py.api.resources import CUSTOMRESOURCEDEFINITIONS, Resource
from minikube_py.api.shape import as_dict
from minikube_py.api.types import Object
from minikube_py.apiserver.following import follow
from minikube_py.apiserver.objects import ObjectStore, resource_prefix
from minikube_py.store import WatchHub

log = logging.getLogger(__name__)


class CrdRegistry:
    """Keeps api.registry's custom kinds equal to the stored CRDs."""

    def __init__(self, store: ObjectStore, hub: WatchHub, *, finalize: bool) -> None:
        self.store = store
        self.hub = hub
        self.finalize = finalize
        self.served: dict[str, list[Resource]] = {}  # CRD name -> its registered versions
        self.generation = 0  # bumped on every change (OpenAPI documents are cached by it)
        self.synced = asyncio.Event()

    async def run(self) -> None:
        await follow(self.store, self.hub, CUSTOMRESOURCEDEFINITIONS, listed=self._listed,
                     changed=self._changed)

    async def _listed(self, crds: list[Object]) -> None:
        for name in set(self.served) - {_name(c) for c in crds}:
            self._remove(name)
        for crd in crds:
            await self._apply(crd)
        self.synced.set()

    async def _changed(self, change: str, crd: Object) -> None:
        if change == "DELETE":
            self._remove(_name(crd))
        else:
            await self._apply(crd)

    async def _apply(self, crd: dict[str, Any]) -> None:
        name = _name(crd)
        self._remove(name)
        strategies = CustomResourceStrategy.for_crd(crd)
        for strategy in strategies:
            registry.register_custom(strategy)
        self.served[name] = [s.resource for s in strategies]
        self.generation += 1
        log.info("custom kinds served crd=%s versions=%s", name,
                 [r.version for r in self.served[name]])
        meta = as_dict(crd.get("metadata"))
        if self.finalize and meta.get("deletionTimestamp") and \
                customresourcedefinition.CLEANUP_FINALIZER in (meta.get("finalizers") or ()):
            await self._finish_deletion(name, strategies[0].resource if strategies else None)

    def _remove(self, name: str) -> None:
        for resource in self.served.pop(name, []):
            registry.unregister_custom(resource)
        self.generation += 1

    async def _finish_deletion(self, name: str, resource: Resource | None) -> None:
        """Delete every object of the kind, then drop the cleanup finalizer."""
        if resource is not None:
            storage = self.store.storage
            keys = [i.key for i in (await storage.list(resource_prefix(resource))).items]
            for at in range(0, len(keys), 100):  # etcd's limit on operations per txn: 128
                await storage.delete_keys(keys[at:at + 100])
        crd = await self.store.get(CUSTOMRESOURCEDEFINITIONS, None, name)
        meta = crd["metadata"]
        meta["finalizers"] = [f for f in meta.get("finalizers") or ()
                              if f != customresourcedefinition.CLEANUP_FINALIZER]
        expected = int(meta["resourceVersion"])
        if meta["finalizers"]:
            await self.store.update(CUSTOMRESOURCEDEFINITIONS, crd, expected)
        else:
            await self.store.delete(CUSTOMRESOURCEDEFINITIONS, crd, expected)
        log.info("custom resource definition finalized crd=%s", name)


def _name(crd: dict[str, Any]) -> str:
    return str(as_dict(crd.get("metadata")).get("name", ""))
