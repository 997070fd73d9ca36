"""WATCH over HTTP: newline-delimited watch events, streamed.

resourceVersion unset or "0" first sends the current objects as ADDED (read
at one revision) and then every change after that revision; any other value
resumes after it. A watch-list (sendInitialEvents=true, listoptions.py) sends the
current objects whatever resourceVersion says, then a BOOKMARK marking their end
(client-go >= 1.35 informers wait for it). Changes come from the shared per-resource etcd stream
(store.watch.WatchHub). With selectors, an object that stops matching is sent
as DELETED and one that starts matching as ADDED, as Kubernetes does. A
revision etcd has compacted away is answered with an ERROR event carrying a
410 Expired Status.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import AsyncIterator, Callable

import orjson
from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.types import Object
from minikube_py.apiserver import codec, listoptions, views
from minikube_py.apiserver.authn import USER
from minikube_py.apiserver.listing import Filter, whole_list
from minikube_py.apiserver.objects import (
    decode,
    parse_resource_version,
    resource_prefix,
    scope_prefix,
    served_as,
    with_version,
)
from minikube_py.apiserver.state import HUB, METRICS, SETTINGS, WATCH_PUMPS
from minikube_py.apiserver.tables import to_table
from minikube_py.apiserver.target import Target
from minikube_py.store import Batch, Change, Closed, Expired, Item, Progress, StorageError

log = logging.getLogger(__name__)

BOOKMARK_INTERVAL = 30.0
_LIVENESS_CHECK = 5.0


async def stop_watches(app: web.Application) -> None:
    """on_shutdown: end every open watch now instead of waiting for its timeout."""
    pumps = app[WATCH_PUMPS]
    for pump in list(pumps):
        pump.cancel()


Event = tuple[str, bytes, int]  # (type, stored object bytes, resourceVersion)


def translate(change: Change, flt: Filter) -> Event | None:
    """The watch event a change means to this watcher, if any (decoding only to filter)."""
    if change.type == "DELETE":
        if flt.everything or flt.matches_stored(change.value):
            return "DELETED", change.value, change.revision
        return None
    if flt.everything:
        return ("ADDED" if change.created else "MODIFIED"), change.value, change.revision
    matches = flt.matches_stored(change.value)
    was = change.prev_value is not None and flt.matches_stored(change.prev_value)
    if matches:
        return ("MODIFIED" if was else "ADDED"), change.value, change.revision
    return ("DELETED", change.value, change.revision) if was else None


class Backlog:
    """What the hub delivered and the client has not taken yet, bounded in changes.

    A client that stops reading blocks our writes while the hub keeps delivering. Past
    `bound` changes waiting, `overflow` closes the watch (aborting its connection: a
    blocked write never finishes) and the client re-lists, as kube-apiserver's cacher
    closes an unresponsive watcher, instead of the changes piling up in memory.
    """

    def __init__(self, bound: int, overflow: Callable[[], None]) -> None:
        self.queue: asyncio.Queue[Batch | StorageError] = asyncio.Queue()
        self.changes = 0
        self.bound = bound
        self.overflow = overflow

    def put(self, item: Batch | StorageError) -> bool:
        """Queue `item`; False (and the watch closed) once the bound is passed. One batch
        into an empty backlog always fits: etcd may deliver a burst in one response."""
        if isinstance(item, list):
            if self.changes and self.changes + len(item) > self.bound:
                self.overflow()
                return False
            self.changes += len(item)
        self.queue.put_nowait(item)
        return True

    async def get(self) -> Batch | StorageError:
        item = await self.queue.get()
        if isinstance(item, list):
            self.changes -= len(item)
        return item


async def _pump(source: AsyncIterator[Batch], backlog: Backlog) -> None:
    """Move batches from the hub into the handler's backlog (so it can wait with
    timeouts), until the backlog overflows."""
    try:
        async for batch in source:
            if not backlog.put(batch):
                return
    except StorageError as e:
        backlog.put(e)
    finally:
        backlog.put(Closed("", "watch source ended"))


class WatchStream:
    """One HTTP watch response: encodes events (Object or Table) and writes them."""

    def __init__(self, request: web.Request, target: Target) -> None:
        self.request = request
        self.resource = target.resource
        self.view = views.negotiate(request, views.OBJECT_VIEWS)
        self.response = web.StreamResponse(headers={"Content-Type": codec.JSON_TYPE,
                                                    "Cache-Control": "no-cache, private"})
        self.response.enable_chunked_encoding()
        self.last_revision = 0

    async def start(self) -> None:
        await self.response.prepare(self.request)

    def _line(self, event_type: str, value: bytes, revision: int) -> bytes:
        value = served_as(self.resource, value)
        if self.view is not None:
            obj = decode(value, revision)
            kind, version = self.view
            return self._encode(event_type, views.partial(obj, version) if kind == views.PARTIAL
                                else to_table(self.request, self.resource, [obj], version,
                                              {"resourceVersion": str(revision)}))
        return b"".join((b'{"type":"', event_type.encode(), b'","object":',
                         with_version(value, revision), b"}\n"))

    @staticmethod
    def _encode(event_type: str, obj: Object) -> bytes:
        return orjson.dumps({"type": event_type, "object": obj}) + b"\n"

    async def send(self, event_type: str, obj: Object) -> None:
        """A BOOKMARK or ERROR event (built here, not stored)."""
        await self.response.write(self._encode(event_type, obj))

    async def send_many(self, events: list[Event]) -> None:
        if not events:
            return
        await self.response.write(b"".join(self._line(*e) for e in events))
        self.last_revision = max(self.last_revision, max(e[2] for e in events))

    async def bookmark(self, *, initial_events_end: bool = False) -> None:
        meta: dict[str, object] = {"resourceVersion": str(self.last_revision)}
        if initial_events_end:
            meta["annotations"] = {listoptions.INITIAL_EVENTS_END: "true"}
        await self.send("BOOKMARK", {"kind": self.resource.kind,
                                     "apiVersion": self.resource.api_version,
                                     "metadata": meta})

    async def error(self, status: errors.StatusError) -> None:
        await self.send("ERROR", status.to_status())

    @property
    def client_gone(self) -> bool:
        transport = self.request.transport
        return transport is None or transport.is_closing()


def _too_slow(request: web.Request) -> None:
    """The client stopped reading: drop its connection (and whatever it has not read)."""
    user = request.get(USER)
    log.warning("closing unresponsive watch user=%s path=%s",
                user.name if user is not None else "", request.path)
    request.app[METRICS].slow_watchers_closed += 1
    if request.transport is not None:
        request.transport.abort()


async def watch_handler(request: web.Request, target: Target) -> web.StreamResponse:
    resource, app = target.resource, request.app
    flt = Filter.from_request(request, resource)
    # kube-apiserver's jitter (re-watches of many clients spread out), also the cap.
    longest = app[SETTINGS].min_request_timeout * (1 + random.random())
    requested = codec.query_int(request, "timeoutSeconds")
    timeout = requested if requested is not None and 0 < requested < longest else longest
    bookmarks = codec.go_bool(request.query.get("allowWatchBookmarks"), "allowWatchBookmarks")
    options = listoptions.from_request(request, watch=True)
    rv_text = options.resource_version
    after = parse_resource_version(rv_text)
    stream = WatchStream(request, target)
    namespace = flt.narrow_namespace(target.namespace)
    key_prefix = scope_prefix(resource, namespace)
    if target.name:
        key_prefix += target.name
    initial: list[Item] = []
    if rv_text in ("", "0") or options.send_initial_events:
        # The state "not older than" resourceVersion ("0": any, else the latest), then the
        # changes after it; sendInitialEvents=false keeps only the starting point.
        initial, after = await whole_list(app, resource, target.namespace, flt,
                                          "0" if rv_text == "0" else "")
        if target.name:  # a watch of one object starts with that object only
            initial = [i for i in initial if i.key == key_prefix]
        if options.send_initial_events is False:
            initial = []
    await stream.start()
    stream.last_revision = after
    await stream.send_many([("ADDED", i.value, i.mod_revision) for i in initial])
    if options.send_initial_events and bookmarks:
        await stream.bookmark(initial_events_end=True)
    backlog = Backlog(app[SETTINGS].watch_queue_size, functools.partial(_too_slow, request))
    pump = asyncio.create_task(_pump(app[HUB].watch(resource_prefix(resource), key_prefix,
                                                    after), backlog), name="watch-pump")
    app[WATCH_PUMPS].add(pump)
    app[METRICS].watchers += 1
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    next_bookmark = loop.time() + BOOKMARK_INTERVAL
    try:
        while True:
            now = loop.time()
            if now >= deadline or stream.client_gone:
                break
            if bookmarks and now >= next_bookmark:
                await stream.bookmark()
                next_bookmark = now + BOOKMARK_INTERVAL
            wait = min(deadline, next_bookmark if bookmarks else deadline) - now
            try:
                item = await asyncio.wait_for(backlog.get(), min(wait, _LIVENESS_CHECK))
            except TimeoutError:
                continue
            if isinstance(item, Expired):
                await stream.error(errors.expired(f"too old resource version: {after} "
                                                  f"({item.compacted})"))
                break
            if isinstance(item, Closed):
                break
            if isinstance(item, StorageError):
                await stream.error(errors.StatusError(500, "InternalError",
                                                      f"etcd watch failed: {item}"))
                break
            if isinstance(item, Progress):
                # Nothing of ours changed up to here: the next bookmark may say so.
                stream.last_revision = max(stream.last_revision, item.revision)
                continue
            changes = [c for c in item if c.key == key_prefix] if target.name else item
            await stream.send_many([e for e in (translate(c, flt) for c in changes)
                                    if e is not None])
    except ConnectionResetError:
        return stream.response
    finally:
        app[METRICS].watchers -= 1
        app[WATCH_PUMPS].discard(pump)
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, StorageError):
            await pump
    if bookmarks and not stream.client_gone:
        with contextlib.suppress(ConnectionResetError):
            await stream.bookmark()
    return stream.response
