"""Watching etcd: one stream per resource prefix, fanned out to every watcher.

A hundred HTTP watchers on pods must not mean a hundred etcd watches. Each
`Broadcaster` keeps one etcd watch on its prefix, a short history of recent
changes (so a watcher resuming from a recent resourceVersion is served from
memory, like kube-apiserver's watch cache) and a bounded queue per subscriber.
A subscriber that falls too far behind is dropped with `Expired`-free
termination: its HTTP watch ends and the client re-watches from the last
resourceVersion it saw. A watcher asking for a revision older than the history
gets its own etcd stream from that revision, so "410 once compacted" stays
etcd's answer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

import grpc
from aetcd import rpc
from aetcd.utils import prefix_range_end

from minikube_py.api.backoff import Backoff
from minikube_py.store.errors import Expired, StorageError, Unavailable, Undecryptable
from minikube_py.store.storage import Storage

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Change:
    """One etcd event. For DELETE, `value` is the object as it was before."""

    type: Literal["PUT", "DELETE"]
    key: str
    value: bytes
    prev_value: bytes | None
    revision: int
    created: bool


@dataclass(frozen=True, slots=True)
class Progress:
    """etcd's promise that every change up to `revision` has been delivered: what lets a
    quiet resource's watch bookmarks move forward (and stay out of compaction's way)."""

    revision: int


Batch = list[Change] | Progress


class Closed(StorageError):
    """The subscription ended (too slow, or the server is shutting down)."""


def _changes(storage: Storage, response: rpc.WatchResponse) -> list[Change]:
    """The events of one response, values opened; one no key opens is left out (logged):
    a shared stream must not end for every watcher because of one value."""
    out = []
    for event in response.events:
        kv, prev = event.kv, event.prev_kv
        key = kv.key.decode()
        has_prev = event.HasField("prev_kv")
        try:
            if event.type == rpc.Event.DELETE:
                out.append(Change("DELETE", key, storage.open_value(key, prev.value)
                                  if has_prev else b"", None, kv.mod_revision, False))
            else:
                out.append(Change("PUT", key, storage.open_value(key, kv.value),
                                  storage.open_value(key, prev.value) if has_prev else None,
                                  kv.mod_revision, kv.create_revision == kv.mod_revision))
        except Undecryptable as e:
            log.error("watch event left out: %s revision=%d", e, kv.mod_revision)
    return out


async def etcd_watch(storage: Storage, prefix: str, start_revision: int, *,
                     progress_every: float = 0.0) -> AsyncIterator[Batch]:
    """Changes under `prefix` from `start_revision` (inclusive), one batch per response;
    with `progress_every`, also a Progress that often (etcd's progress requests).

    Raises Expired when etcd has compacted past `start_revision`, Unavailable when
    the stream breaks.
    """
    assert storage.watch_stub is not None
    stop = asyncio.Event()

    async def requests() -> AsyncIterator[rpc.WatchRequest]:
        yield rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
            key=prefix.encode(), range_end=prefix_range_end(prefix.encode()),
            start_revision=start_revision, prev_kv=True))
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), progress_every or None)
            except TimeoutError:
                yield rpc.WatchRequest(progress_request=rpc.WatchProgressRequest())

    call = storage.watch_stub.Watch(requests())
    try:
        async for response in call:
            if response.compact_revision:
                raise Expired(prefix, start_revision, int(response.compact_revision))
            if response.canceled:
                raise Unavailable(prefix, f"etcd canceled the watch: {response.cancel_reason}")
            if response.events:
                changes = _changes(storage, response)
                yield changes or Progress(int(response.events[-1].kv.mod_revision))
            elif not response.created:
                yield Progress(int(response.header.revision))
    except grpc.aio.AioRpcError as e:
        raise Unavailable(prefix, f"etcd watch broke: {e.code().name}") from e
    finally:
        stop.set()
        call.cancel()
    raise Unavailable(prefix, "etcd watch stream ended")


class Subscription:
    """One watcher's view: batches of changes after `after` under `key_prefix`."""

    def __init__(self, key_prefix: str, after: int, maxsize: int) -> None:
        self.key_prefix = key_prefix
        self.after = after
        self.queue: asyncio.Queue[Batch | StorageError] = asyncio.Queue(maxsize)
        self.closed = False

    def offer(self, batch: list[Change]) -> bool:
        """Queue what concerns us; False if we are too far behind (then we are closed)."""
        if self.closed:
            return False
        mine = [c for c in batch if c.revision > self.after and c.key.startswith(self.key_prefix)]
        if not mine:
            return True
        try:
            self.queue.put_nowait(mine)
        except asyncio.QueueFull:
            self.fail(Closed(self.key_prefix, "watcher too slow"))
            return False
        return True

    def progress(self, revision: int) -> None:
        """Pass on a Progress (dropped if we are full: the next one will do)."""
        if not self.closed and revision > self.after:
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(Progress(revision))

    def fail(self, error: StorageError) -> None:
        if self.closed:
            return
        self.closed = True
        while self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(error)

    async def next(self) -> Batch:
        item = await self.queue.get()
        if isinstance(item, StorageError):
            raise item
        return item


class Broadcaster:
    """One etcd watch on a resource prefix, shared by every subscriber to it."""

    def __init__(self, storage: Storage, prefix: str, *, history: int = 1000,
                 queue_size: int = 1000, progress_every: float = 10.0) -> None:
        self.storage = storage
        self.prefix = prefix
        self.queue_size = queue_size
        self.progress_every = progress_every
        # History bounds memory: a resume from further back reads its own etcd stream.
        self.history: collections.deque[Change] = collections.deque(maxlen=history)
        self.floor = 0          # every change with revision > floor is in history
        self.last_revision = 0  # newest revision delivered, or confirmed quiet up to
        self.compacted = 0
        self.subscribers: set[Subscription] = set()
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.create_task(self._run(), name=f"watch-broadcaster:{self.prefix}")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
            self.task = None
        for sub in list(self.subscribers):
            sub.fail(Closed(self.prefix, "server shutting down"))

    async def _run(self) -> None:
        backoff = Backoff(0.1, 2.0)
        while True:
            try:
                if not self.last_revision:
                    self.last_revision = self.floor = await self.storage.current_revision()
                async for batch in etcd_watch(self.storage, self.prefix, self.last_revision + 1,
                                              progress_every=self.progress_every):
                    if isinstance(batch, Progress):
                        await self._progress(batch.revision)
                    else:
                        self._deliver(batch)
                    backoff.reset()
            except Expired:
                log.warning("watch history compacted, restarting prefix=%s", self.prefix)
                self._reset(Expired(self.prefix, self.last_revision, self.compacted))
            except Unavailable as e:
                log.warning("etcd watch lost, resuming prefix=%s rev=%d error=%s",
                            self.prefix, self.last_revision, e)
            except Exception:
                log.exception("watch broadcaster failed prefix=%s", self.prefix)
                self._reset(Closed(self.prefix, "watch broadcaster failed"))
            await backoff.sleep()

    def _reset(self, error: StorageError) -> None:
        """Forget our position: every subscriber must re-list."""
        for sub in list(self.subscribers):
            sub.fail(error)
        self.subscribers.clear()
        self.history.clear()
        self.last_revision = self.floor = 0

    def _deliver(self, batch: list[Change]) -> None:
        if len(self.history) + len(batch) > (self.history.maxlen or 0):
            overflow = len(self.history) + len(batch) - (self.history.maxlen or 0)
            for _ in range(min(overflow, len(self.history))):
                self.floor = self.history.popleft().revision
        self.history.extend(batch)
        self.last_revision = max(self.last_revision, batch[-1].revision)
        for sub in list(self.subscribers):
            if not sub.offer(batch):
                self.subscribers.discard(sub)

    async def _progress(self, revision: int) -> None:
        """Pass etcd's progress on once etcd confirms it. etcd before 3.4.24 / 3.5.8 may
        answer a progress request ahead of events it has not sent yet on the same stream
        (etcd-io/etcd#15220, seen here with 3.4.23); a bookmark, or our own resume, from
        such a revision would skip those events for good. Unconfirmed, it is dropped:
        the events are on their way, and the next request asks again."""
        if revision <= self.last_revision or not await self.storage.quiet_between(
                self.prefix, self.last_revision, revision):
            return
        self.last_revision = revision
        for sub in self.subscribers:
            sub.progress(revision)

    def note_compacted(self, revision: int) -> None:
        """The store compacted up to `revision`: older resumes must get 410."""
        self.compacted = max(self.compacted, revision)
        while self.history and self.history[0].revision < revision:
            self.floor = self.history.popleft().revision
        self.floor = max(self.floor, min(revision - 1, self.last_revision))

    def covers(self, after: int) -> bool:
        return bool(self.last_revision) and after >= self.floor and after >= self.compacted - 1

    def subscribe(self, key_prefix: str, after: int) -> Subscription:
        """Changes after revision `after`; caller checked `covers(after)`."""
        sub = Subscription(key_prefix, after, self.queue_size)
        backlog = [c for c in self.history if c.revision > after]
        if backlog and not sub.offer(backlog):
            return sub
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscribers.discard(sub)
        sub.closed = True


class WatchHub:
    """All broadcasters of one api-server, keyed by resource prefix."""

    def __init__(self, storage: Storage, *, queue_size: int = 1000,
                 resume_for: float = 30.0, progress_every: float = 10.0) -> None:
        self.storage = storage
        self.queue_size = queue_size
        self.resume_for = resume_for
        self.progress_every = progress_every
        self.broadcasters: dict[str, Broadcaster] = {}

    async def broadcaster(self, prefix: str) -> Broadcaster:
        b = self.broadcasters.get(prefix)
        if b is None:
            b = self.broadcasters[prefix] = Broadcaster(
                self.storage, prefix, queue_size=self.queue_size,
                progress_every=self.progress_every)
            b.start()
        if not b.last_revision:
            for _ in range(100):
                if b.last_revision:
                    break
                await asyncio.sleep(0.01)
        return b

    def note_compacted(self, revision: int) -> None:
        for b in self.broadcasters.values():
            b.note_compacted(revision)

    async def watch(self, prefix: str, key_prefix: str, after: int
                    ) -> AsyncIterator[Batch]:
        """Every change under `key_prefix` (inside resource `prefix`) after revision `after`.

        Served from the shared stream when it covers `after`. An older `after` (clients
        resuming after an api-server restart) first reads a dedicated etcd stream, which
        answers Expired when etcd has compacted past it, and moves onto the shared stream
        as soon as it has caught up with what the shared stream remembers.
        """
        b = await self.broadcaster(prefix)
        if after < b.compacted:
            raise Expired(key_prefix, after, b.compacted)
        if not b.covers(after):
            async for changes in self._dedicated(key_prefix, after, b):
                after = changes[-1].revision
                yield changes
        sub = b.subscribe(key_prefix, after)
        try:
            while True:
                yield await sub.next()
        finally:
            b.unsubscribe(sub)

    async def _dedicated(self, key_prefix: str, after: int, shared: Broadcaster
                         ) -> AsyncIterator[list[Change]]:
        """Our own etcd stream from `after` until `shared` covers where we are; resumed
        from the last delivered revision when the connection breaks (an etcd member
        died), giving up after `resume_for` seconds."""
        loop = asyncio.get_running_loop()
        give_up = 0.0
        while True:
            try:
                async for batch in etcd_watch(self.storage, key_prefix, after + 1):
                    if isinstance(batch, Progress):
                        continue
                    after = batch[-1].revision
                    give_up = 0.0
                    yield batch
                    if shared.covers(after):
                        return
            except Unavailable:
                now = loop.time()
                give_up = give_up or now + self.resume_for
                if now > give_up:
                    raise
                await asyncio.sleep(0.2)

    async def close(self) -> None:
        for b in self.broadcasters.values():
            await b.stop()
        self.broadcasters.clear()
