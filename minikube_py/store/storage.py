"""Objects in etcd: one key per object, resourceVersion = the key's mod_revision.

Every write is a transaction whose compare makes it safe to race: create only if
the key was never there (create_revision == 0), update and delete only if the
key's mod_revision is still the one the caller read. A lost race is a
`Conflict`, never a silent overwrite (DESIGN rule 2).

etcd is reached over one gRPC channel to all endpoints (pick_first fails over to
the next member when one dies). Calls that fail with UNAVAILABLE are retried
with backoff; a write retried after an ambiguous failure is recognised as ours
when the key already holds exactly the bytes we wrote.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Self, TypeVar
from urllib.parse import urlsplit

import grpc
from aetcd import rpc
from aetcd.utils import prefix_range_end

from minikube_py.api.backoff import Backoff
from minikube_py.store.encryption import Encryption
from minikube_py.store.errors import (
    Conflict,
    Expired,
    KeyExists,
    KeyNotFound,
    NoSpace,
    Unavailable,
)
from minikube_py.store.etcdtls import EtcdTLS, channel

log = logging.getLogger(__name__)

T = TypeVar("T")

_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
_CHANNEL_OPTIONS = (
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    ("grpc.max_send_message_length", 16 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
)


class Item(NamedTuple):
    """One stored object as etcd holds it (a tuple: a LIST builds thousands of these)."""

    key: str
    value: bytes
    mod_revision: int
    create_revision: int


@dataclass(frozen=True, slots=True)
class Page:
    """A consistent slice of a prefix: every item as of `revision`."""

    items: list[Item]
    revision: int
    more: bool


def grpc_target(endpoints: list[str]) -> str:
    """A gRPC target naming every member, so the channel can fail over between them."""
    hosts = []
    for url in endpoints:
        parts = urlsplit(url if "//" in url else f"http://{url}")
        host = parts.hostname or "127.0.0.1"
        host = "127.0.0.1" if host == "localhost" else host
        hosts.append(f"[{host}]:{parts.port or 2379}" if ":" in host else
                     f"{host}:{parts.port or 2379}")
    if len(hosts) == 1:
        return hosts[0]
    return "ipv4:" + ",".join(hosts) if all(not h.startswith("[") for h in hosts) \
        else "ipv6:" + ",".join(hosts)


class Leases:
    """Expiring keys share leases, as kube-apiserver's lease manager does: one lease is
    reused for a while of writes (a tenth of the TTL, at most a minute; its TTL stretched
    by that), so a burst of Events does not mean a lease per Event."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.stub: rpc.LeaseStub | None = None
        self.current: dict[int, tuple[int, float]] = {}  # ttl -> (lease id, reuse until)
        self.lock = asyncio.Lock()

    async def lease_for(self, ttl: int) -> int:
        async with self.lock:
            lease, until = self.current.get(ttl, (0, 0.0))
            if time.monotonic() < until:
                return lease
            reuse = min(60, ttl // 10)
            lease = await self.storage.grant(ttl + reuse)
            self.current[ttl] = (lease, time.monotonic() + reuse)
            return lease


class Storage:
    """Typed key-value operations over one shared etcd channel.

    `observe` (if given) is called with (operation, seconds) after every etcd call:
    the api-server's /metrics uses it for etcd latency. `encryption` seals the values of
    the keys it covers on every write and opens them on every read (watches included),
    so nothing above this layer ever sees ciphertext.
    """

    def __init__(
        self,
        endpoints: list[str],
        *,
        call_timeout: float = 5.0,
        retry_for: float = 15.0,
        observe: Callable[[str, float], None] | None = None,
        tls: EtcdTLS | None = None,
        encryption: Encryption | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.tls = tls
        self.call_timeout = call_timeout
        self.retry_for = retry_for
        self.observe = observe
        self.encryption = encryption
        self.channel: grpc.aio.Channel | None = None
        self._kv: rpc.KVStub | None = None
        self.watch_stub: rpc.WatchStub | None = None
        self.leases = Leases(self)

    async def open(self) -> None:
        self.channel = channel(grpc_target(self.endpoints), self.tls, _CHANNEL_OPTIONS)
        self._kv = rpc.KVStub(self.channel)
        self.watch_stub = rpc.WatchStub(self.channel)
        self.leases.stub = rpc.LeaseStub(self.channel)

    async def close(self) -> None:
        if self.channel is not None:
            await self.channel.close()
            self.channel = None

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def open_value(self, key: str, value: bytes) -> bytes:
        """The plain value as stored under `key` (Undecryptable if no key opens it)."""
        return value if self.encryption is None else self.encryption.open(key, value)

    def _item(self, kv: rpc.KeyValue) -> Item:
        key = kv.key.decode()
        return Item(key, self.open_value(key, kv.value), kv.mod_revision, kv.create_revision)

    @property
    def kv(self) -> rpc.KVStub:
        assert self._kv is not None, "Storage.open() was not awaited"
        return self._kv

    async def _call(self, op: str, key: str, fn: Callable[[], Awaitable[T]]) -> T:
        """Run one etcd call, retrying on UNAVAILABLE until `retry_for` seconds passed."""
        result, _retried = await self._call_retried(op, key, fn)
        return result

    async def _call_retried(self, op: str, key: str, fn: Callable[[], Awaitable[T]]
                            ) -> tuple[T, bool]:
        """As _call, also saying whether an earlier attempt failed (its effect unknown)."""
        deadline = time.monotonic() + self.retry_for
        backoff = Backoff(0.05, 1.0)
        retried = False
        while True:
            start = time.perf_counter()
            try:
                result = await fn()
            except grpc.aio.AioRpcError as e:
                code, details = e.code(), e.details() or ""
                if code == grpc.StatusCode.OUT_OF_RANGE and "compacted" in details:
                    raise Expired(key, 0, 0) from e
                if code == grpc.StatusCode.RESOURCE_EXHAUSTED and "space exceeded" in details:
                    raise NoSpace(key, details) from e
                delay = backoff.next()
                if code not in _RETRYABLE or time.monotonic() + delay > deadline:
                    raise Unavailable(key, f"etcd {op} failed: {code.name}: {details}") from e
                log.warning("etcd call failed, retrying op=%s code=%s", op, code.name)
                await asyncio.sleep(delay)
                retried = True
                continue
            if self.observe is not None:
                self.observe(op, time.perf_counter() - start)
            return result, retried

    async def _txn(self, op: str, key: str, request: rpc.TxnRequest
                   ) -> tuple[rpc.TxnResponse, bool]:
        return await self._call_retried(
            op, key, lambda: self.kv.Txn(request, timeout=self.call_timeout))

    async def current_revision(self) -> int:
        """The store's revision now (a linearizable read)."""
        request = rpc.RangeRequest(key=b"\0", count_only=True, limit=1)
        response = await self._call(
            "revision", "", lambda: self.kv.Range(request, timeout=self.call_timeout))
        return int(response.header.revision)

    async def unchanged_since(self, prefix: str, revision: int, count: int) -> int | None:
        """The revision now if nothing under `prefix` changed after `revision`: no key
        modified since and still `count` keys (so none deleted). At most one key comes
        back, no values (etcd counts before filtering: the filter needs keys_only)."""
        key, end = prefix.encode(), prefix_range_end(prefix.encode())
        request = rpc.TxnRequest(success=[
            rpc.RequestOp(request_range=rpc.RangeRequest(key=key, range_end=end,
                                                         count_only=True)),
            rpc.RequestOp(request_range=rpc.RangeRequest(key=key, range_end=end, keys_only=True,
                                                         limit=1,
                                                         min_mod_revision=revision + 1))])
        response, _ = await self._txn("unchanged", prefix, request)
        total, changed = response.responses[0].response_range, response.responses[1].response_range
        return int(response.header.revision) if total.count == count and not changed.kvs else None

    async def quiet_between(self, prefix: str, since: int, until: int) -> bool:
        """Whether `prefix` held the same keys, none modified, at `until` as at `since`
        (two historical counts and one modified-since probe, no values); False when
        `since` is compacted. A key created and deleted in between goes unseen: the
        state at `until` is still what it was at `since`."""
        key, end = prefix.encode(), prefix_range_end(prefix.encode())
        request = rpc.TxnRequest(success=[
            rpc.RequestOp(request_range=rpc.RangeRequest(key=key, range_end=end,
                                                         count_only=True, revision=since)),
            rpc.RequestOp(request_range=rpc.RangeRequest(key=key, range_end=end,
                                                         count_only=True, revision=until)),
            rpc.RequestOp(request_range=rpc.RangeRequest(key=key, range_end=end, keys_only=True,
                                                         limit=1, revision=until,
                                                         min_mod_revision=since + 1))])
        try:
            response, _ = await self._txn("quiet", prefix, request)
        except Expired:
            return False
        before, after, changed = (r.response_range for r in response.responses)
        return before.count == after.count and not changed.kvs

    async def get(self, key: str) -> Item:
        request = rpc.RangeRequest(key=key.encode())
        response = await self._call(
            "get", key, lambda: self.kv.Range(request, timeout=self.call_timeout))
        if not response.kvs:
            raise KeyNotFound(key)
        return self._item(response.kvs[0])

    async def list(
        self,
        prefix: str,
        *,
        revision: int = 0,
        limit: int = 0,
        start: str | None = None,
    ) -> Page:
        """Keys under `prefix` (from `start` on) at `revision` (0 = now), at most `limit`."""
        request = rpc.RangeRequest(
            key=(start or prefix).encode(),
            range_end=prefix_range_end(prefix.encode()),
            revision=revision,
            limit=limit,
        )
        try:
            response = await self._call(
                "list", prefix, lambda: self.kv.Range(request, timeout=self.call_timeout))
        except Expired as e:
            raise Expired(prefix, revision, 0) from e
        # A read at a past revision reports the current one in its header: keep ours.
        return Page([self._item(kv) for kv in response.kvs],
                    revision or int(response.header.revision), bool(response.more))

    async def _put_if(self, op: str, key: str, value: bytes, compare: rpc.Compare, ttl: int
                      ) -> tuple[int, rpc.KeyValue | None, bool]:
        """Put `value` if `compare` holds: (revision or 0, what the key holds if it did not,
        whether an ambiguous failure made us retry)."""
        bkey = key.encode()
        lease = await self.leases.lease_for(ttl) if ttl else 0
        request = rpc.TxnRequest(
            compare=[compare],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=bkey, value=value,
                                                              lease=lease))],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=bkey))],
        )
        response, retried = await self._txn(op, key, request)
        if response.succeeded:
            return int(response.header.revision), None, retried
        existing = response.responses[0].response_range.kvs
        return 0, (existing[0] if existing else None), retried

    async def create(self, key: str, value: bytes, *, ttl: int = 0) -> int:
        """Write a new key (expiring after `ttl` seconds if given); returns its revision.
        KeyExists if it is already there."""
        if self.encryption is not None:
            value = self.encryption.seal(key, value)
        revision, existing, retried = await self._put_if("create", key, value, rpc.Compare(
            key=key.encode(), target=rpc.Compare.CREATE, result=rpc.Compare.EQUAL,
            create_revision=0), ttl)
        if revision:
            return revision
        if retried and existing is not None and existing.value == value:
            # Our own write, applied before a connection failure made us retry.
            return int(existing.mod_revision)
        raise KeyExists(key)

    async def update(self, key: str, value: bytes, expected_revision: int, *,
                     ttl: int = 0) -> int:
        """Replace the key if its mod_revision is still `expected_revision` (a put without
        a lease would make an expiring key permanent, so `ttl` is given again)."""
        if self.encryption is not None:
            value = self.encryption.seal(key, value)
        revision, existing, retried = await self._put_if("update", key, value, rpc.Compare(
            key=key.encode(), target=rpc.Compare.MOD, result=rpc.Compare.EQUAL,
            mod_revision=expected_revision), ttl)
        if revision:
            return revision
        if existing is None:
            raise KeyNotFound(key)
        if retried and existing.value == value and existing.mod_revision > expected_revision:
            return int(existing.mod_revision)
        raise Conflict(key)

    async def delete(self, key: str, expected_revision: int | None = None) -> tuple[Item, int]:
        """Remove the key (if still at `expected_revision`); returns what was there and the
        revision of the delete."""
        bkey = key.encode()
        compare = [rpc.Compare(key=bkey, target=rpc.Compare.MOD, result=rpc.Compare.EQUAL,
                               mod_revision=expected_revision)] \
            if expected_revision is not None else \
            [rpc.Compare(key=bkey, target=rpc.Compare.CREATE, result=rpc.Compare.GREATER,
                         create_revision=0)]
        request = rpc.TxnRequest(
            compare=compare,
            success=[rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(
                key=bkey, prev_kv=True))],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=bkey))],
        )
        response, _retried = await self._txn("delete", key, request)
        if response.succeeded:
            prev = response.responses[0].response_delete_range.prev_kvs
            if prev:
                return self._item(prev[0]), int(response.header.revision)
            raise KeyNotFound(key)
        if not response.responses[0].response_range.kvs:
            raise KeyNotFound(key)
        raise Conflict(key)

    async def create_many(self, keys: Sequence[str], value: bytes) -> bool:
        """Create every key or none (allocator bookkeeping); False if any exists."""
        bkeys = [k.encode() for k in keys]
        request = rpc.TxnRequest(
            compare=[rpc.Compare(key=k, target=rpc.Compare.CREATE, result=rpc.Compare.EQUAL,
                                 create_revision=0) for k in bkeys],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=value))
                     for k in bkeys],
        )
        response, _retried = await self._txn("create", keys[0] if keys else "", request)
        return bool(response.succeeded)

    async def delete_keys(self, keys: Sequence[str]) -> None:
        """Remove keys unconditionally (allocator release)."""
        if not keys:
            return
        request = rpc.TxnRequest(success=[
            rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=k.encode()))
            for k in keys])
        await self._call("delete", keys[0], lambda: self.kv.Txn(
            request, timeout=self.call_timeout))

    async def grant(self, ttl: int) -> int:
        """A new etcd lease of `ttl` seconds; its id."""
        assert self.leases.stub is not None
        stub = self.leases.stub
        request = rpc.LeaseGrantRequest(TTL=ttl)
        response = await self._call("lease", "", lambda: stub.LeaseGrant(
            request, timeout=self.call_timeout))
        return int(response.ID)

    async def compact(self, revision: int) -> None:
        """Drop history before `revision`; already-compacted is not an error."""
        request = rpc.CompactionRequest(revision=revision)
        try:
            await self._call("compact", "", lambda: self.kv.Compact(
                request, timeout=self.call_timeout))
        except Expired:
            log.debug("compaction already past revision=%d", revision)
