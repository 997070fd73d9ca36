"""Namespace controller: a deleted namespace is Terminating until everything in
it is gone; then its `kubernetes` finalizer is removed through /finalize and
the api-server deletes it.

Lists are read live, not from caches: deciding "empty" on a stale cache would
leave objects behind in a namespace that no longer exists.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable
from typing import TYPE_CHECKING

from minikube_py.api.customresourcedefinition import resources_of
from minikube_py.api.resources import ALL, CUSTOMRESOURCEDEFINITIONS, NAMESPACES, Resource
from minikube_py.api.types import Object
from minikube_py.client.errors import Conflict, NotFound
from minikube_py.controllers.base import Controller

if TYPE_CHECKING:
    from minikube_py.client import ApiClient
    from minikube_py.controllers.base import SharedInformers
    from minikube_py.controllers.settings import ControllerManagerSettings

log = logging.getLogger(__name__)

NAMESPACED = tuple(r for r in ALL if r.namespaced)
RETRY_SECONDS = 1.0


class NamespaceController(Controller):
    name = "namespace-controller"
    workers = 2

    def __init__(self, client: ApiClient, settings: ControllerManagerSettings,
                 informers: SharedInformers | None = None) -> None:
        super().__init__(client, settings, informers)
        self.namespaces = self.watch(NAMESPACES)
        self.namespaces.add_handlers(self._seen, lambda old, new: self._seen(new))

    def _seen(self, ns: Object) -> None:
        if ns["metadata"].get("deletionTimestamp"):
            self.enqueue(ns)

    async def sync(self, item: Hashable) -> None:
        key = str(item)  # "namespace/name" (or "name")
        ns = self.namespaces.get(key)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        remaining = 0
        for resource in NAMESPACED + await self._custom_kinds():
            items = (await self.client.list(resource, key))["items"]
            remaining += len(items)
            # Pods already terminating are finished by their node.
            await asyncio.gather(*(self._delete(resource, key, o) for o in items
                                   if not o["metadata"].get("deletionTimestamp")))
        if remaining:
            log.info("namespace emptying namespace=%s remaining=%d", key, remaining)
            self.queue.add_after(key, RETRY_SECONDS)
            return
        await self._finalize(key)

    async def _custom_kinds(self) -> tuple[Resource, ...]:
        """One served version of every namespaced custom kind, read live (as Kubernetes'
        namespace controller reads discovery): their objects go with the namespace."""
        crds = (await self.client.list(CUSTOMRESOURCEDEFINITIONS))["items"]
        kinds = (resources_of(crd) for crd in crds)
        return tuple(served[0] for served in kinds if served and served[0].namespaced)

    async def _delete(self, resource: Resource, namespace: str, obj: Object) -> None:
        try:
            await self.client.delete(resource, obj["metadata"]["name"], namespace)
        except NotFound:
            pass

    async def _finalize(self, name: str) -> None:
        try:
            ns = await self.client.get(NAMESPACES, name)
        except NotFound:
            return
        finalizers = [f for f in (ns.get("spec") or {}).get("finalizers") or []
                      if f != "kubernetes"]
        ns.setdefault("spec", {})["finalizers"] = finalizers
        try:
            await self.client.update(NAMESPACES, ns, subresource="finalize")
        except NotFound:
            return
        except Conflict:
            self.queue.add_after(name, RETRY_SECONDS)
            return
        log.info("namespace finalized namespace=%s", name)
