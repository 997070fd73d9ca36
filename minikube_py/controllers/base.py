"""What every controller here shares: the client's SyncLoop (informers whose
handlers only enqueue keys -> WorkQueue -> workers calling an idempotent
`sync(key)`, rate-limited retries, given up after 15 with an Event), over
informers shared by the whole controller-manager.

A controller is:

    class FooController(Controller):
        name = "foo-controller"          # queue name, Events' component
        workers = 2                      # optional

        def __init__(self, client, settings, informers=None):
            super().__init__(client, settings, informers)
            self.foos = self.watch(FOOS)  # the first watched kind is what keys name
            self.foos.add_handlers(self.enqueue, lambda old, new: self.enqueue(new),
                                   self.enqueue)
            self.pods = self.watch(PODS)  # handlers enqueue the owning Foo's key

        async def sync(self, key):       # "namespace/name" (or "name")
            foo = self.foos.get(key)
            if foo is None:
                return                   # gone: nothing to do, not an error
            ...                          # raise to be retried with back-off

and an entry in `manager.CONTROLLERS`. Keys of another shape (tuples)
override `object_for(key)` so a key given up still gets its Event.

Informers are shared between the controllers of one controller-manager
(`SharedInformers`), so pods are listed and watched once, not once per
controller: the first controller to run an informer runs it, the others wait
for it to sync.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable

from minikube_py.api.meta import key as object_key
from minikube_py.api.resources import Resource
from minikube_py.api.types import Object
from minikube_py.client import ApiClient, Informer, run_tasks
from minikube_py.client.cache import IndexFunc
from minikube_py.client.loop import SyncLoop, cached
from minikube_py.controllers.owners import controller_key
from minikube_py.controllers.settings import ControllerManagerSettings

log = logging.getLogger(__name__)


class SharedInformers:
    """One Informer per resource (cluster-wide) for a set of controllers."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self._informers: dict[str, Informer] = {}
        self._running: set[str] = set()

    def get(self, resource: Resource) -> Informer:
        informer = self._informers.get(resource.plural)
        if informer is None:
            informer = self._informers[resource.plural] = Informer(self.client, resource)
        return informer

    async def run(self, resources: list[Resource]) -> None:
        """Run those of `resources` nobody runs yet; return once all are synced
        and keep the ones started here running until cancelled."""
        mine = [r for r in resources if r.plural not in self._running]
        self._running.update(r.plural for r in mine)
        tasks = [asyncio.create_task(self.get(r).run(), name=f"informer-{r.plural}")
                 for r in mine]
        try:
            await asyncio.gather(*(self.get(r).wait_synced() for r in resources))
            if tasks:
                await asyncio.gather(*tasks)
            else:
                await asyncio.Event().wait()
        finally:
            self._running.difference_update(r.plural for r in mine)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def ensure_index(informer: Informer, name: str, fn: IndexFunc) -> None:
    """Add an index unless a controller sharing the informer already did; shared
    index names mean the same thing everywhere ("namespace", "node", "uid")."""
    try:
        informer.add_index(name, fn)
    except ValueError:
        pass


def by_namespace(informer: Informer) -> Informer:
    """The informer, with the shared "namespace" index."""
    ensure_index(informer, "namespace", lambda o: [o["metadata"].get("namespace", "")])
    return informer


class Controller(SyncLoop):
    """Base: subclasses set `name`, `watch()` resources in `__init__` with handlers
    that only enqueue keys, and implement `sync(key)` (see the module docstring)."""

    name = "controller"
    workers = 2

    def __init__(self, client: ApiClient, settings: ControllerManagerSettings,
                 informers: SharedInformers | None = None) -> None:
        super().__init__(client)
        self.settings = settings
        self.informers = informers or SharedInformers(client)
        self._watched: list[Resource] = []

    def watch(self, resource: Resource) -> Informer:
        """The shared informer of `resource`, run (and waited for) with this controller."""
        if resource not in self._watched:
            self._watched.append(resource)
        return self.informers.get(resource)

    def enqueue(self, obj: Object) -> None:
        self.queue.add(object_key(obj))

    def enqueue_controller(self, obj: Object, kind: str) -> None:
        """Queue the `kind` object that controls `obj` (its controller ownerReference), if
        any: how a controller hears that one of its pods, jobs or revisions changed."""
        key = controller_key(obj, kind)
        if key is not None:
            self.queue.add(key)

    def object_for(self, key: Hashable) -> Object | None:
        return cached(self.informers.get(self._watched[0]), key) if self._watched else None

    def due(self, key: Hashable, left: float | None) -> bool:
        """For controllers that act when a time passes (TTLs, expirations): True once
        `left` seconds are up; a future time queues the key again for then; None (nothing
        to wait for) is False."""
        if left is None:
            return False
        if left > 0:
            self.queue.add_after(key, left)
            return False
        return True

    async def run(self) -> None:
        """Forever: informers, then workers once they are synced."""
        await run_tasks({
            f"{self.name}-informers": self.informers.run(self._watched),
            f"{self.name}-workers": self._work(),
        })

    async def _work(self) -> None:
        for resource in self._watched:
            await self.informers.get(resource).wait_synced()
        log.info("controller synced controller=%s", self.name)
        await self.run_workers()
