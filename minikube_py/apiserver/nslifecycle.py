"""Namespace lifecycle admission: no new objects in a missing or terminating namespace.

As kube-apiserver's NamespaceLifecycle plugin, the check reads a watch-fed cache of
namespaces, so a create costs no extra etcd read; a namespace the cache does not
know yet (created a moment ago) is read from etcd before refusing anything. The same
cache gives PodSecurity its namespace's labels (kube's namespace lister); this
process's own namespace writes are noted at once, so a pod created right after a
relabel meets the new level.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import NamedTuple

from minikube_py.api import errors
from minikube_py.api.resources import NAMESPACES
from minikube_py.api.types import Object
from minikube_py.apiserver.objects import ObjectStore, resource_prefix
from minikube_py.store import Progress, StorageError, WatchHub

log = logging.getLogger(__name__)


def _terminating(ns: dict[str, object]) -> bool:
    meta = ns.get("metadata") or {}
    status = ns.get("status") or {}
    return bool(isinstance(meta, dict) and meta.get("deletionTimestamp")) or (
        isinstance(status, dict) and status.get("phase") == "Terminating")


class Namespace(NamedTuple):
    """What admission needs of one namespace, as of `revision`."""

    terminating: bool
    labels: dict[str, str]
    revision: int

    @classmethod
    def of(cls, ns: Object, revision: int) -> Namespace:
        labels = (ns.get("metadata") or {}).get("labels")
        return cls(_terminating(ns), dict(labels) if isinstance(labels, dict) else {}, revision)


class NamespaceLifecycle:
    """name -> Namespace, kept current by a watch on namespaces."""

    def __init__(self, store: ObjectStore, hub: WatchHub) -> None:
        self.store = store
        self.hub = hub
        self.known: dict[str, Namespace] = {}
        self.synced = False

    async def run(self) -> None:
        """List, then follow the watch; re-list after any break."""
        prefix = resource_prefix(NAMESPACES)
        while True:
            try:
                items, revision, _ = await self.store.list(NAMESPACES, None)
                self.known = {i.key[len(prefix):]: Namespace.of(json.loads(i.value),
                                                                i.mod_revision)
                              for i in items}
                self.synced = True
                async for batch in self.hub.watch(prefix, prefix, revision):
                    if isinstance(batch, Progress):
                        continue
                    for change in batch:
                        name = change.key[len(prefix):]
                        if change.type == "DELETE":
                            self.known.pop(name, None)
                        else:
                            self._note(name, Namespace.of(json.loads(change.value),
                                                          change.revision))
            except (StorageError, errors.StatusError) as e:
                log.warning("namespace cache re-listing error=%s", e)
            self.synced = False
            await asyncio.sleep(0.5)

    def _note(self, name: str, ns: Namespace) -> None:
        """Keep the newer of what we know and `ns` (a write noted by `saw` may be ahead
        of the watch)."""
        known = self.known.get(name)
        if known is None or known.revision <= ns.revision:
            self.known[name] = ns

    def saw(self, ns: Object) -> None:
        """Our own namespace write (a relabel, a delete marking it terminating), known at
        once, before its watch event arrives."""
        meta = ns.get("metadata") or {}
        self._note(str(meta.get("name")), Namespace.of(ns, int(meta["resourceVersion"])))

    def labels(self, namespace: str) -> dict[str, str] | None:
        """The namespace's labels as last seen; None if the cache cannot tell."""
        known = self.known.get(namespace) if self.synced else None
        return known.labels if known is not None else None

    async def admit(self, namespace: str) -> None:
        """404 if `namespace` does not exist, 403 if it is terminating."""
        known = self.known.get(namespace) if self.synced else None
        terminating = known.terminating if known is not None else None
        if terminating is None:
            try:
                ns = await self.store.get(NAMESPACES, None, namespace)
            except errors.StatusError as e:
                if e.code == 404:
                    raise errors.not_found(NAMESPACES, namespace) from None
                raise
            terminating = _terminating(ns)
        if terminating:
            raise errors.StatusError(403, "Forbidden", f"unable to create new content in "
                                     f"namespace {namespace} because it is being terminated",
                                     {"name": namespace, "kind": "namespaces"})
