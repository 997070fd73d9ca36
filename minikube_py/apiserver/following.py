"""List, then follow the watch, for the api-server's own in-memory views (RBAC index,
CRD registry): one loop that re-lists after any break, as an informer does, but reading
etcd directly (they are the api-server's, not clients')."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import orjson

from minikube_py.api import errors
from minikube_py.api.resources import Resource
from minikube_py.api.types import Object
from minikube_py.apiserver.objects import ObjectStore, resource_prefix
from minikube_py.store import Progress, StorageError, WatchHub

log = logging.getLogger(__name__)

# Called with every stored object after each (re-)list, then with each change.
Listed = Callable[[list[Object]], Awaitable[None]]
Changed = Callable[[str, Object], Awaitable[None]]  # ("DELETE" | "PUT", object)


async def follow(store: ObjectStore, hub: WatchHub, resource: Resource, *,
                 listed: Listed, changed: Changed) -> None:
    """Forever: list `resource`, hand the objects to `listed`, then each change to
    `changed`; a broken watch or storage error re-lists after 0.5 s."""
    prefix = resource_prefix(resource)
    while True:
        try:
            items, revision, _ = await store.list(resource, None)
            await listed([orjson.loads(i.value) for i in items])
            async for batch in hub.watch(prefix, prefix, revision):
                if isinstance(batch, Progress):
                    continue
                for change in batch:
                    await changed(change.type, orjson.loads(change.value))
        except (StorageError, errors.StatusError) as e:
            log.warning("re-listing resource=%s error=%s", resource.plural, e)
        await asyncio.sleep(0.5)
