"""The watch cache: every object under a resource prefix, in memory, kept by its watch.

A LIST without `limit` used to be a whole-prefix etcd range per call: every value over
gRPC and parsed, thousands of times a minute for a large collection polled by clients.
As kube-apiserver's cacher, the first list of a resource starts a cache (one list, then
the WatchHub's shared stream) and later lists are answered from it:
- `any`: the cache as it is (resourceVersion=0, which promises nothing fresher);
- consistent (resourceVersion unset, as kube's ConsistentListFromCache): only once etcd
  confirms the cache is current, so a list never misses a write acknowledged before it.
  The confirmation is one count-only transaction (no values read): nothing under the
  prefix modified after the cache's revision, and as many keys as it holds (so nothing
  deleted either). A cache behind the writes gets a moment to catch up, else None and
  the caller reads etcd.

The cache's revision is that of the last change it applied, never an etcd progress
notification: etcd 3.4 may send those ahead of events still in flight.
"""

from __future__ import annotations

import asyncio
import bisect
import logging

from minikube_py.api.backoff import Backoff
from minikube_py.store.errors import StorageError
from minikube_py.store.storage import Item, Storage
from minikube_py.store.watch import Batch, Progress, WatchHub

log = logging.getLogger(__name__)

# How often a consistent read re-checks a cache that is behind, waiting for it meanwhile.
_CATCH_UP_TRIES = 3
_CATCH_UP_WAIT = 0.05


class PrefixCache:
    """The objects under one prefix as of `revision` (0: not synced, do not use)."""

    def __init__(self, storage: Storage, hub: WatchHub, prefix: str) -> None:
        self.storage = storage
        self.hub = hub
        self.prefix = prefix
        self.items: dict[str, Item] = {}
        self.revision = 0
        self._keys: list[str] | None = []  # sorted; None after a create or delete
        self._updated = asyncio.Event()

    async def run(self) -> None:
        """Forever: list, then apply the watch; any break re-lists."""
        backoff = Backoff(0.5, 5.0)
        while True:
            try:
                page = await self.storage.list(self.prefix)
                self.items = {i.key: i for i in page.items}
                self._keys, self.revision = None, page.revision
                self._notify()
                async for batch in self.hub.watch(self.prefix, self.prefix, page.revision):
                    self.apply(batch)
                    backoff.reset()
            except StorageError as e:
                log.warning("watch cache re-listing prefix=%s error=%s", self.prefix, e)
            self.revision = 0
            await backoff.sleep()

    def apply(self, batch: Batch) -> None:
        if isinstance(batch, Progress):
            return
        for change in batch:
            if change.type == "DELETE":
                if self.items.pop(change.key, None) is not None:
                    self._keys = None
                continue
            old = self.items.get(change.key)
            if old is None:
                self._keys = None
            created = change.revision if change.created or old is None else old.create_revision
            self.items[change.key] = Item(change.key, change.value, change.revision, created)
        if batch:
            self.revision = batch[-1].revision
            self._notify()

    def _notify(self) -> None:
        self._updated.set()
        self._updated = asyncio.Event()

    def scope(self, key_prefix: str) -> list[Item]:
        """The items whose keys start with `key_prefix`, in key order (as etcd lists)."""
        if self._keys is None:
            self._keys = sorted(self.items)
        keys = self._keys
        start = bisect.bisect_left(keys, key_prefix)
        end = bisect.bisect_left(keys, key_prefix + "\U0010ffff", start)
        return [self.items[k] for k in keys[start:end]]

    async def current(self) -> int | None:
        """The etcd revision the cache is exactly as of, checked now; None if it is behind
        (after a few short waits for it to catch up)."""
        for _ in range(_CATCH_UP_TRIES):
            if not self.revision:
                return None
            revision, count, updated = self.revision, len(self.items), self._updated
            now = await self.storage.unchanged_since(self.prefix, revision, count)
            if not self.revision:  # the watch broke meanwhile: what we hold may be stale
                return None
            if now is not None:
                # Anything applied meanwhile is newer still: the cache is as of `now` or later.
                return max(now, self.revision)
            try:
                await asyncio.wait_for(updated.wait(), _CATCH_UP_WAIT)
            except TimeoutError:
                pass
        return None


class WatchCache:
    """One PrefixCache per resource prefix, started by its first list."""

    def __init__(self, storage: Storage, hub: WatchHub) -> None:
        self.storage = storage
        self.hub = hub
        self.caches: dict[str, PrefixCache] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def _cache(self, prefix: str) -> PrefixCache:
        cache = self.caches.get(prefix)
        if cache is None:
            cache = self.caches[prefix] = PrefixCache(self.storage, self.hub, prefix)
            task = asyncio.create_task(cache.run(), name=f"watch-cache:{prefix}")
            self.tasks.add(task)
        return cache

    async def list(self, prefix: str, key_prefix: str, *, consistent: bool
                   ) -> tuple[list[Item], int] | None:
        """The items under `key_prefix` (inside resource `prefix`) and their revision;
        None when the cache cannot answer (not synced yet, or behind a consistent read)."""
        cache = self._cache(prefix)
        revision = await cache.current() if consistent else cache.revision or None
        if revision is None:
            return None
        return cache.scope(key_prefix), revision

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()
