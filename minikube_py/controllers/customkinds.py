"""The custom kinds a controller that must see every kind follows (the garbage collector,
which Kubernetes builds from discovery): CustomResourceDefinitions name them.

Per CRD, one informer at its preferred served version is started when the CRD appears,
replaced when that version changes and stopped when the CRD goes. Once its first list is
in, the kind is reported synced: what named it before could not be resolved, and an
object of it created and deleted before that list sent no event at all. An ownerReference
may name any served version, so every served apiVersion resolves to the followed one.
A kind stays resolvable after its CRD is deleted: a reference to it then names an owner
that can no longer exist (a live GET answers 404), so its dependents are collected
rather than kept forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from minikube_py.api.customresourcedefinition import resources_of
from minikube_py.api.resources import Resource
from minikube_py.api.types import Object
from minikube_py.client.informer import Informer, ListWatcher
from minikube_py.client.tasks import log_failure, stop_tasks

log = logging.getLogger(__name__)

Follow = Callable[[Resource, Informer], None]  # add indexes and handlers before it runs
Synced = Callable[[Resource], None]  # the kind's informer has its first list


class CustomKinds:
    """Informers of the custom kinds defined now, kept equal to the CRDs."""

    def __init__(self, client: ListWatcher, follow: Follow,
                 synced: Synced = lambda resource: None) -> None:
        self.client = client
        self._follow = follow
        self._synced = synced
        self._by_kind: dict[tuple[str, str], Resource] = {}  # (apiVersion, kind) -> followed
        self._by_gvr: dict[tuple[str, str, str], Resource] = {}
        self._running: dict[str, tuple[Resource, Informer, asyncio.Task[Any]]] = {}

    # -- lookups -------------------------------------------------------------------

    def for_kind(self, api_version: str, kind: str) -> Resource | None:
        return self._by_kind.get((api_version, kind))

    def lookup(self, group: str, version: str, plural: str) -> Resource | None:
        return self._by_gvr.get((group, version, plural))

    def informer(self, resource: Resource) -> Informer | None:
        """The running informer of `resource`'s kind (whatever version it is named by)."""
        for followed, informer, _ in self._running.values():
            if (followed.group, followed.plural) == (resource.group, resource.plural):
                return informer
        return None

    def followed(self) -> list[tuple[Resource, Informer]]:
        return [(resource, informer) for resource, informer, _ in self._running.values()]

    # -- CRD events ----------------------------------------------------------------

    def crd_changed(self, crd: Object) -> None:
        name = str(crd.get("metadata", {}).get("name", ""))
        served = resources_of(crd)
        if not served:
            self.crd_removed(crd)
            return
        followed = served[0]
        for resource in served:
            self._by_kind[(resource.api_version, resource.kind)] = followed
        self._by_gvr[(followed.group, followed.version, followed.plural)] = followed
        running = self._running.get(name)
        if running is not None and running[0] == followed:
            return
        self._stop(name)
        informer = Informer(self.client, followed)
        self._follow(followed, informer)
        task = asyncio.create_task(self._run(followed, informer),
                                   name=f"informer-{followed.plural}.{followed.group}")
        task.add_done_callback(log_failure)
        self._running[name] = (followed, informer, task)
        log.info("following custom kind kind=%s apiVersion=%s", followed.kind,
                 followed.api_version)

    async def _run(self, resource: Resource, informer: Informer) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(informer.run(), name=f"list-watch-{resource.plural}")
            await informer.wait_synced()
            self._synced(resource)

    def crd_removed(self, crd: Object) -> None:
        self._stop(str(crd.get("metadata", {}).get("name", "")))

    def _stop(self, name: str) -> None:
        running = self._running.pop(name, None)
        if running is not None:
            running[2].cancel()

    async def run(self) -> None:
        """Until cancelled; then every informer started here is stopped and awaited."""
        try:
            await asyncio.Event().wait()
        finally:
            tasks = [task for _, _, task in self._running.values()]
            self._running.clear()
            await stop_tasks(tasks)
