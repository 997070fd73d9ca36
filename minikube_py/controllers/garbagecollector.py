"""Garbage collector: ownerReferences made to hold.

- A dependent whose owners are all gone is deleted (Background propagation:
  the api-server removed the owner at once, we remove what it owned).
- An owner deleted with propagationPolicy=Orphan carries the `orphan`
  finalizer: its dependents lose their ownerReference to it, then the
  finalizer goes and the api-server deletes the owner.
- An owner deleted with Foreground carries `foregroundDeletion`: its
  dependents are deleted first (themselves in the foreground when they block
  their owner's deletion), and the finalizer goes once none is left.

Custom kinds count as built-in ones: their CRDs are followed (customkinds.py), so a
custom object may own or be owned by any object.

"Gone" is decided by the informer caches and confirmed with a live GET (by
name, comparing uid) before anything is deleted, so a cache that lags behind
a new owner never costs its dependents.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, cast

from minikube_py.api.meta import key as object_key
from minikube_py.api.meta import split_key
from minikube_py.api.resources import (
    ALL,
    CUSTOMRESOURCEDEFINITIONS,
    EVENTS,
    Resource,
    for_kind,
    lookup,
)
from minikube_py.api.types import Object
from minikube_py.client.errors import ClientError, Conflict, NotFound
from minikube_py.client.informer import AddHandler, DeleteHandler, Informer, UpdateHandler
from minikube_py.client.tasks import run_tasks
from minikube_py.controllers.base import Controller, ensure_index
from minikube_py.controllers.customkinds import CustomKinds

if TYPE_CHECKING:
    from minikube_py.client import ApiClient
    from minikube_py.controllers.base import SharedInformers
    from minikube_py.controllers.settings import ControllerManagerSettings

log = logging.getLogger(__name__)
_Item = tuple[str, str, str, str]  # (group, version, plural, key): the queue's keys

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
FOREGROUND_POLICY = "Foreground"
# Namespaces are watched too: one deleted with Foreground or Orphan carries that
# finalizer like any owner, and only we remove it.
WATCHED = tuple(r for r in ALL if r is not EVENTS)


def _refs(obj: Object) -> list[Object]:
    return list(obj["metadata"].get("ownerReferences") or [])


class GarbageCollector(Controller):
    name = "garbage-collector-controller"
    workers = 4

    def __init__(self, client: ApiClient, settings: ControllerManagerSettings,
                 informers: SharedInformers | None = None) -> None:
        super().__init__(client, settings, informers)
        self.custom = CustomKinds(client, self._follow, self.custom_kind_synced)
        for resource in WATCHED:
            self._follow(resource, self.watch(resource))
        self.informers.get(CUSTOMRESOURCEDEFINITIONS).add_handlers(
            self.custom.crd_changed, lambda old, new: self.custom.crd_changed(new),
            self.custom.crd_removed)

    async def run(self) -> None:
        await run_tasks({f"{self.name}-main": super().run(),
                         f"{self.name}-custom-kinds": self.custom.run()})

    def _follow(self, resource: Resource, informer: Informer) -> None:
        ensure_index(informer, "uid", lambda o: [o["metadata"].get("uid", "")])
        ensure_index(informer, "owner", lambda o: [r.get("uid", "") for r in _refs(o)])
        informer.add_handlers(*self._handlers(resource))

    # -- handlers ------------------------------------------------------------------

    def _handlers(self, resource: Resource) -> tuple[AddHandler, UpdateHandler, DeleteHandler]:
        """(add, update, delete) handlers bound to one resource."""
        return (lambda obj: self._changed(resource, obj),
                lambda old, new: self._changed(resource, new),
                lambda obj: self._deleted(resource, obj))

    def _item(self, resource: Resource, obj: Object) -> _Item:
        return (resource.group, resource.version, resource.plural, object_key(obj))

    def _changed(self, resource: Resource, obj: Object) -> None:
        meta = obj["metadata"]
        finalizers = meta.get("finalizers") or []
        if meta.get("ownerReferences") or (meta.get("deletionTimestamp") and (
                ORPHAN in finalizers or FOREGROUND in finalizers)):
            self.queue.add(self._item(resource, obj))

    def _deleted(self, resource: Resource, obj: Object) -> None:
        """Its dependents may be dangling now; its owners may be waiting for it."""
        for dependent_resource, dependent in self._dependents(obj["metadata"].get("uid", "")):
            self.queue.add(self._item(dependent_resource, dependent))
        for ref in _refs(obj):
            owner = self._cached_owner(ref)
            if owner is not None:
                self.queue.add(self._item(owner[0], owner[1]))

    def custom_kind_synced(self, kind: Resource) -> None:
        """Look again at every object that names `kind` as an owner's: until now such a
        reference was unresolvable (kept), or its owner may have been created and deleted
        before the kind's first list, leaving no delete event to queue it (Kubernetes'
        collector retries what its RESTMapper could not resolve)."""
        for resource, informer in self._followed():
            for obj in informer.list():
                if any(self._same_kind(self._owner_resource(r), kind) for r in _refs(obj)):
                    self.queue.add(self._item(resource, obj))

    # -- lookups -------------------------------------------------------------------

    def _followed(self) -> list[tuple[Resource, Informer]]:
        return [(r, self.informers.get(r)) for r in WATCHED] + self.custom.followed()

    @staticmethod
    def _same_kind(resource: Resource | None, kind: Resource) -> bool:
        return resource is not None and (resource.group, resource.plural) == (kind.group,
                                                                                kind.plural)

    def _dependents(self, uid: str) -> list[tuple[Resource, Object]]:
        if not uid:
            return []
        return [(r, o) for r, informer in self._followed()
                for o in informer.by_index("owner", uid)]

    def _informer(self, resource: Resource) -> Informer | None:
        return self.custom.informer(resource) if resource.custom \
            else self.informers.get(resource)

    def _resource(self, group: str, version: str, plural: str) -> Resource | None:
        return lookup(group, version, plural) or self.custom.lookup(group, version, plural)

    def _owner_resource(self, ref: Object) -> Resource | None:
        api_version, kind = ref.get("apiVersion", ""), ref.get("kind", "")
        return for_kind(api_version, kind) or self.custom.for_kind(api_version, kind)

    def _cached_owner(self, ref: Object) -> tuple[Resource, Object] | None:
        resource = self._owner_resource(ref)
        informer = None if resource is None else self._informer(resource)
        if resource is None or informer is None:
            return None
        found = informer.by_index("uid", ref.get("uid", ""))
        return (resource, found[0]) if found else None

    def _cached_owner_in(self, ref: dict[str, Any], namespace: str | None
                         ) -> dict[str, Any] | None:
        """The cached owner, if it can own something in `namespace`: a namespaced
        owner only in its dependent's namespace (as Kubernetes: one elsewhere with
        that uid is no owner, OwnerRefInvalidNamespace)."""
        cached = self._cached_owner(ref)
        if cached is None:
            return None
        resource, owner = cached
        if resource.namespaced and owner["metadata"].get("namespace") != namespace:
            return None
        return owner

    async def _live_owner(self, ref: Object, namespace: str | None) -> Object | None:
        """The owner as the api-server has it now, or None if gone (or replaced)."""
        resource = self._owner_resource(ref)
        if resource is None:
            return None  # a kind we do not serve cannot exist
        try:
            owner = await self.client.get(resource, ref.get("name", ""),
                                          namespace if resource.namespaced else None)
        except NotFound:
            return None
        return owner if owner["metadata"].get("uid") == ref.get("uid") else None

    # -- sync ----------------------------------------------------------------------

    def object_for(self, item: Hashable) -> Object | None:
        group, version, plural, key = cast(_Item, item)
        resource = self._resource(group, version, plural)
        informer = None if resource is None else self._informer(resource)
        return None if informer is None else informer.get(key)

    async def sync(self, item: Hashable) -> None:
        group, version, plural, _ = cast(_Item, item)
        resource = self._resource(group, version, plural)
        obj = self.object_for(item)
        if resource is None or obj is None:
            return
        meta = obj["metadata"]
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp") and ORPHAN in finalizers:
            await self._orphan_dependents(resource, obj)
            return
        if meta.get("deletionTimestamp") and FOREGROUND in finalizers:
            await self._delete_dependents_first(resource, obj)
            return
        if _refs(obj) and not meta.get("deletionTimestamp"):
            await self._check_owners(resource, obj)

    async def _check_owners(self, resource: Resource, obj: Object) -> None:
        namespace = obj["metadata"].get("namespace")
        solid, dangling, waiting = [], [], []
        for ref in _refs(obj):
            owner_resource = self._owner_resource(ref)
            if owner_resource is None:
                # A kind no CRD has defined (yet): unresolvable, so never taken for
                # gone, as Kubernetes' collector keeps what its RESTMapper cannot resolve.
                solid.append(ref)
                continue
            if not resource.namespaced and owner_resource.namespaced:
                solid.append(ref)  # unresolvable: no namespace to look in; never collected
                continue
            owner = self._cached_owner_in(ref, namespace) or await self._live_owner(ref,
                                                                                 namespace)
            if owner is None:
                dangling.append(ref)
            elif owner["metadata"].get("deletionTimestamp") and FOREGROUND in (
                    owner["metadata"].get("finalizers") or []):
                waiting.append(ref)
            else:
                solid.append(ref)
        if solid:
            if dangling:  # keep the object, drop references to what is gone
                await self._patch(resource, obj, {"metadata": {"ownerReferences": [
                    r for r in _refs(obj) if r not in dangling]}})
            return
        if not dangling and not waiting:
            return
        blocking = any(r.get("blockOwnerDeletion") for r in waiting)
        policy = FOREGROUND_POLICY if waiting and blocking else "Background"
        log.info("collecting %s=%s policy=%s", resource.kind, object_key(obj), policy)
        await self._delete(resource, obj, policy)

    async def _orphan_dependents(self, resource: Resource, owner: Object) -> None:
        uid = owner["metadata"]["uid"]
        for dep_resource, dep in self._dependents(uid):
            await self._patch(dep_resource, dep, {"metadata": {"ownerReferences": [
                r for r in _refs(dep) if r.get("uid") != uid]}})
        await self._remove_finalizer(resource, owner, ORPHAN)

    async def _delete_dependents_first(self, resource: Resource, owner: Object) -> None:
        dependents = self._dependents(owner["metadata"]["uid"])
        pending = []
        for dep_resource, dep in dependents:
            if not dep["metadata"].get("deletionTimestamp"):
                has_own = bool(self._dependents(dep["metadata"].get("uid", "")))
                pending.append(self._delete(dep_resource, dep,
                                            FOREGROUND_POLICY if has_own else "Background"))
        await asyncio.gather(*pending)
        if not dependents:
            await self._remove_finalizer(resource, owner, FOREGROUND)
        # else: each dependent's deletion enqueues this owner again

    async def _delete(self, resource: Resource, obj: Object, policy: str) -> None:
        meta = obj["metadata"]
        try:
            await self.client.delete(resource, meta["name"], meta.get("namespace"),
                                     propagation_policy=policy,
                                     preconditions={"uid": meta.get("uid")})
        except (NotFound, Conflict):
            pass

    async def _patch(self, resource: Resource, obj: Object, patch: Object) -> None:
        meta = obj["metadata"]
        patch["metadata"]["uid"] = meta.get("uid")
        try:
            await self.client.patch(resource, meta["name"], patch, meta.get("namespace"),
                                    patch_type="merge")
        except NotFound:
            pass

    async def _remove_finalizer(self, resource: Resource, obj: Object, finalizer: str) -> None:
        meta = obj["metadata"]
        remaining = [f for f in meta.get("finalizers") or [] if f != finalizer]
        patch = {"metadata": {"finalizers": remaining,
                              "resourceVersion": meta["resourceVersion"]}}
        try:
            await self.client.patch(resource, meta["name"], patch, meta.get("namespace"),
                                    patch_type="merge")
        except NotFound:
            pass
        except ClientError:
            namespace, name = split_key(object_key(obj))
            log.info("finalizer removal raced finalizer=%s object=%s/%s", finalizer,
                     namespace, name)
            raise

