"""Namespace lifecycle admission: no new objects in a missing or terminating namespace.

As kube-apiserver's NamespaceLifecycle plugin, the check reads a watch-fed cache of
namespaces, so a create costs no extra etcd read; a namespace the cache does not
know yet (created a moment ago) is read from etcd before refusing anything.
"""

from __future__ import annotations

import asyncio
import json
import logging

from minikube_py.api import errors
from minikube_py.api.resources import NAMESPACES
from minikube_py.apiserver.objects import ObjectStore, resource_prefix
from minikube_py.store import Progress, StorageError, WatchHub

log = logging.getLogger(__name__)


def _terminating(ns: dict[str, object]) -> bool:
    meta = ns.get("metadata") or {}
    status = ns.get("status") or {}
    return bool(isinstance(meta, dict) and meta.get("deletionTimestamp")) or (
        isinstance(status, dict) and status.get("phase") == "Terminating")


class NamespaceLifecycle:
    """name -> terminating?, kept current by a watch on namespaces."""

    def __init__(self, store: ObjectStore, hub: WatchHub) -> None:
        self.store = store
        self.hub = hub
        self.known: dict[str, bool] = {}
        self.synced = False

    async def run(self) -> None:
        """List, then follow the watch; re-list after any break."""
        prefix = resource_prefix(NAMESPACES)
        while True:
            try:
                items, revision, _ = await self.store.list(NAMESPACES, None)
                self.known = {i.key[len(prefix):]: _terminating(json.loads(i.value))
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
                            self.known[name] = _terminating(json.loads(change.value))
            except (StorageError, errors.StatusError) as e:
                log.warning("namespace cache re-listing error=%s", e)
            self.synced = False
            await asyncio.sleep(0.5)

    def mark_terminating(self, namespace: str) -> None:
        """Our own namespace delete is known at once, before its watch event arrives."""
        self.known[namespace] = True

    async def admit(self, namespace: str) -> None:
        """404 if `namespace` does not exist, 403 if it is terminating."""
        terminating = self.known.get(namespace) if self.synced else None
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
