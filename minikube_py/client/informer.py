"""Informer: a local, indexed copy of one resource kept current by list+watch.

The loop is client-go's reflector: list (in pages, see pager.py), then watch from
the list's resourceVersion; a watch that ends cleanly is resumed from the last version
seen (bookmarks included); 410 Gone means the history is compacted, so list
again and turn the difference between cache and list into add/update/delete
calls; other failures back off and resume. Handlers are plain callables run
in the loop: they should only enqueue keys (see WorkQueue) and must not block.
A `transform` (client-go's SetTransform) slims every object before it is stored or
handed to a handler, each list page as it arrives. By default it strips managedFields:
only the api-server's field manager reads them (transform=None keeps them).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
from collections.abc import AsyncGenerator, Callable
from typing import Any, Protocol

from minikube_py.api.backoff import Backoff
from minikube_py.api.meta import key as object_key
from minikube_py.api.resources import Resource
from minikube_py.api.types import Object
from minikube_py.client.cache import Indexer, IndexFunc, Keys, Objects
from minikube_py.client.errors import ClientError, Gone
from minikube_py.client.pager import PAGE_SIZE, Transform, list_all

log = logging.getLogger(__name__)

AddHandler = Callable[[Object], Any]
UpdateHandler = Callable[[Object, Object], Any]
DeleteHandler = Callable[[Object], Any]


class ListWatcher(Protocol):
    """What an Informer needs from ApiClient (the seam unit tests fake)."""

    async def list(self, resource: Resource, namespace: str | None = None, *,
                   label_selector: str | None = None, field_selector: str | None = None,
                   limit: int | None = None, continue_token: str | None = None) -> Object: ...

    def watch(self, resource: Resource, namespace: str | None = None, *,
              resource_version: str | None = None, label_selector: str | None = None,
              field_selector: str | None = None, timeout_seconds: int | None = None,
              allow_bookmarks: bool = False) -> AsyncGenerator[tuple[str, Object], None]: ...


def strip_managed_fields(obj: Object) -> Object:
    """client-go's TransformStripManagedFields, for caches that never read them (often
    the larger part of a small object). An update sent without them keeps the stored
    ones, so a cached object stays safe to write back."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


class Informer:
    """List+watch one resource (optionally one namespace / selector) into a cache."""

    def __init__(self, client: ListWatcher, resource: Resource, namespace: str | None = None, *,
                 label_selector: str | None = None, field_selector: str | None = None,
                 resync_period: float | None = None,
                 watch_timeout: tuple[int, int] = (300, 600), page_size: int = PAGE_SIZE,
                 transform: Transform | None = strip_managed_fields) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.resync_period = resync_period
        self.watch_timeout = watch_timeout
        self.page_size = page_size
        self.transform = transform
        self.cache = Indexer()
        self.resource_version: str | None = None
        self.list_count = 0
        self._handlers: list[tuple[AddHandler | None, UpdateHandler | None,
                                   DeleteHandler | None]] = []
        self._synced = asyncio.Event()

    def __repr__(self) -> str:
        return f"Informer({self.resource.plural}, namespace={self.namespace!r})"

    # -- cache access ------------------------------------------------------------

    def get(self, key: str) -> Object | None:
        return self.cache.get(key)

    def list(self) -> Objects:
        return self.cache.list()

    def keys(self) -> Keys:
        return self.cache.keys()

    def add_index(self, name: str, fn: IndexFunc) -> None:
        self.cache.add_index(name, fn)

    def by_index(self, name: str, value: str) -> Objects:
        return self.cache.by_index(name, value)

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        """Return once the first list has filled the cache."""
        await self._synced.wait()

    # -- handlers ----------------------------------------------------------------

    def add_handlers(self, on_add: AddHandler | None = None,
                     on_update: UpdateHandler | None = None,
                     on_delete: DeleteHandler | None = None) -> None:
        """Register callbacks; added after sync, `on_add` is replayed for the cache."""
        for fn in (on_add, on_update, on_delete):
            if fn is not None and inspect.iscoroutinefunction(fn):
                raise TypeError(f"informer handlers are plain callables, not coroutines: {fn!r}")
        self._handlers.append((on_add, on_update, on_delete))
        if on_add is not None and self.has_synced:
            for obj in self.cache.list():
                self._call(on_add, obj)

    def _call(self, fn: Callable[..., Any], *args: Object) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("informer handler failed resource=%s key=%s handler=%s",
                          self.resource.plural, object_key(args[-1]),
                          getattr(fn, "__qualname__", fn))

    def _added(self, obj: Object) -> None:
        for on_add, _, _ in self._handlers:
            if on_add is not None:
                self._call(on_add, obj)

    def _updated(self, old: Object, new: Object) -> None:
        for _, on_update, _ in self._handlers:
            if on_update is not None:
                self._call(on_update, old, new)

    def _deleted(self, obj: Object) -> None:
        for _, _, on_delete in self._handlers:
            if on_delete is not None:
                self._call(on_delete, obj)

    # -- applying what the server says ---------------------------------------------

    def _complete(self, obj: Object) -> Object:
        """The transform, then apiVersion/kind, which list items come without, so that
        owners/events can refer to the object."""
        if self.transform is not None:
            obj = self.transform(obj)
        obj.setdefault("apiVersion", self.resource.api_version)
        obj.setdefault("kind", self.resource.kind)
        return obj

    def _upsert(self, obj: Object) -> None:
        old = self.cache.put(object_key(obj), obj)
        if old is None:
            self._added(obj)
        elif (old.get("metadata") or {}).get("resourceVersion") != \
                (obj.get("metadata") or {}).get("resourceVersion"):
            self._updated(old, obj)

    def replace(self, items: Objects, resource_version: str) -> None:
        """Make the cache equal to a fresh list, calling handlers for each difference
        (`items` as `_list` hands them: transformed and completed already)."""
        fresh = {object_key(o): o for o in items}
        for key in set(self.cache.keys()) - fresh.keys():
            old = self.cache.remove(key)
            if old is not None:
                self._deleted(old)
        for obj in fresh.values():
            self._upsert(obj)
        self.resource_version = resource_version
        self._synced.set()

    def apply(self, event_type: str, obj: Object) -> None:
        """One watch event into the cache and the handlers."""
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if event_type in ("ADDED", "MODIFIED"):
            self._upsert(self._complete(obj))
        elif event_type == "DELETED":
            if self.cache.remove(object_key(obj)) is not None:
                self._deleted(self._complete(obj))
        elif event_type != "BOOKMARK":
            log.warning("unknown watch event type=%s resource=%s", event_type,
                        self.resource.plural)
            return
        if rv:
            self.resource_version = rv

    # -- the loop ------------------------------------------------------------------

    async def _list(self) -> None:
        listed = await list_all(self.client, self.resource, self.namespace,
                                label_selector=self.label_selector,
                                field_selector=self.field_selector, page_size=self.page_size,
                                transform=self._complete)
        self.list_count += 1
        self.replace(listed.items, listed.resource_version)
        log.debug("listed resource=%s items=%d pages=%d rv=%s", self.resource.plural,
                  len(self.cache), listed.pages, listed.resource_version)

    async def _watch(self) -> None:
        events = self.client.watch(
            self.resource, self.namespace, resource_version=self.resource_version,
            label_selector=self.label_selector, field_selector=self.field_selector,
            timeout_seconds=random.randint(*self.watch_timeout), allow_bookmarks=True)
        async with contextlib.aclosing(events):
            async for event_type, obj in events:
                self.apply(event_type, obj)

    async def run(self) -> None:
        """List and watch forever; cancel the task to stop."""
        resync = asyncio.create_task(self._resync_loop(), name=f"resync-{self.resource.plural}")
        backoff = Backoff(0.2, 30.0, jitter=0.2)
        need_list = True
        try:
            while True:
                try:
                    if need_list:
                        await self._list()
                        need_list = False
                    await self._watch()
                    backoff.reset()
                except Gone:
                    log.info("watch expired, re-listing resource=%s rv=%s",
                             self.resource.plural, self.resource_version)
                    if not need_list:
                        need_list = True
                        continue  # the first 410 re-lists at once; repeats back off
                    await backoff.sleep()
                except (ClientError, ValueError) as e:
                    delay = backoff.next()
                    log.warning("list/watch failed resource=%s error=%r retry_in=%.2fs",
                                self.resource.plural, e, delay)
                    await asyncio.sleep(delay)
        finally:
            resync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await resync

    async def _resync_loop(self) -> None:
        """Every resync_period, on_update(obj, obj) for everything: level-triggered repair."""
        if not self.resync_period:
            return
        await self._synced.wait()
        while True:
            await asyncio.sleep(self.resync_period)
            for obj in self.cache.list():
                self._updated(obj, obj)
