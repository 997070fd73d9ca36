"""Storage and WatchHub straight against a real etcd."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from minikube_py.store import (
    Conflict,
    Expired,
    KeyExists,
    KeyNotFound,
    Progress,
    Storage,
    WatchHub,
)
from tests.fixtures.etcd import EtcdCluster


@pytest.fixture
async def storage(etcd: EtcdCluster) -> AsyncIterator[Storage]:
    async with Storage(etcd.urls) as s:
        yield s


def prefix() -> str:
    return f"/registry/t{uuid.uuid4().hex[:6]}/"


async def test_create_update_delete_compare_and_swap(storage: Storage) -> None:
    key = prefix() + "ns/a"
    rev = await storage.create(key, b"1")
    with pytest.raises(KeyExists):
        await storage.create(key, b"1")
    rev2 = await storage.update(key, b"2", rev)
    assert rev2 > rev
    with pytest.raises(Conflict):
        await storage.update(key, b"3", rev)  # stale: someone wrote since
    assert (await storage.get(key)).value == b"2"
    with pytest.raises(Conflict):
        await storage.delete(key, rev)
    item, _ = await storage.delete(key, rev2)
    assert item.value == b"2"
    with pytest.raises(KeyNotFound):
        await storage.get(key)
    with pytest.raises(KeyNotFound):
        await storage.update(key, b"4", rev2)


async def test_paged_list_is_consistent_at_one_revision(storage: Storage) -> None:
    p = prefix()
    for i in range(5):
        await storage.create(f"{p}k{i}", str(i).encode())
    first = await storage.list(p, limit=2)
    assert [i.key for i in first.items] == [f"{p}k0", f"{p}k1"] and first.more
    await storage.create(f"{p}k10", b"late")  # sorts between k1 and k2
    rest = await storage.list(p, revision=first.revision, start=first.items[-1].key + "\0")
    assert rest.revision == first.revision
    assert [i.key for i in rest.items] == [f"{p}k2", f"{p}k3", f"{p}k4"]


async def test_list_at_compacted_revision_is_expired(storage: Storage) -> None:
    p = prefix()
    old = await storage.create(p + "a", b"1")
    await storage.update(p + "a", b"2", old)
    await storage.compact(await storage.current_revision())
    with pytest.raises(Expired):
        await storage.list(p, revision=old)


async def test_hub_shares_one_stream_and_resumes_from_history(storage: Storage) -> None:
    p = prefix()
    hub = WatchHub(storage)
    try:
        start = await storage.current_revision()
        seen: list[list[bytes]] = [[], []]

        async def follow(n: int, after: int, want: int) -> None:
            async for batch in hub.watch(p, p, after):
                if isinstance(batch, Progress):  # the hub's bookmark after 10 s of quiet
                    continue
                seen[n] += [c.value for c in batch]
                if len(seen[n]) >= want:
                    return
        first = asyncio.create_task(follow(0, start, 3))
        await asyncio.sleep(0.2)
        revs = [await storage.create(f"{p}{i}", str(i).encode()) for i in range(3)]
        await asyncio.wait_for(first, 10)
        assert seen[0] == [b"0", b"1", b"2"]
        assert len(hub.broadcasters) == 1
        # A late subscriber resuming after the first write gets the rest from history.
        await asyncio.wait_for(follow(1, revs[0], 2), 10)
        assert seen[1] == [b"1", b"2"]
    finally:
        await hub.close()


async def test_slow_subscriber_is_dropped_not_blocking(storage: Storage) -> None:
    p = prefix()
    hub = WatchHub(storage, queue_size=2)
    try:
        b = await hub.broadcaster(p)
        after = await storage.current_revision()
        slow = b.subscribe(p, after)
        for i in range(5):
            await storage.create(f"{p}{i}", b"x")
        await asyncio.sleep(0.5)
        assert slow.closed and slow not in b.subscribers
    finally:
        await hub.close()


async def test_watch_from_compacted_revision_is_expired(storage: Storage) -> None:
    p = prefix()
    hub = WatchHub(storage)
    try:
        old = await storage.create(p + "a", b"1")
        await storage.update(p + "a", b"2", old)
        await storage.compact(await storage.current_revision())
        with pytest.raises(Expired):
            async for _ in hub.watch(p, p, old - 1):
                pass
    finally:
        await hub.close()


async def test_fails_over_between_members(etcd_factory: Callable[..., EtcdCluster]) -> None:
    cluster = etcd_factory(3)
    async with Storage(cluster.urls) as s:
        key = prefix() + "x"
        rev = await s.create(key, b"0")
        cluster.kill(0)
        for i in range(5):
            rev = await s.update(key, str(i).encode(), rev)
        assert (await s.get(key)).value == b"4"


async def test_old_resume_catches_up_then_joins_the_shared_stream(storage: Storage) -> None:
    p = prefix()
    hub = WatchHub(storage)
    try:
        old = await storage.current_revision()
        for i in range(3):
            await storage.create(f"{p}old{i}", b"o")
        b = await hub.broadcaster(p)  # starts after the three writes: they are not in it
        assert not b.covers(old)
        got: list[bytes] = []

        async def follow() -> None:
            async for batch in hub.watch(p, p, old):
                if isinstance(batch, Progress):
                    continue
                got.extend(c.value for c in batch)
                if len(got) == 5:
                    return
        task = asyncio.create_task(follow())
        await asyncio.sleep(0.3)
        await storage.create(f"{p}new0", b"n")
        await asyncio.sleep(0.3)
        assert len(b.subscribers) == 1  # caught up: now served by the shared stream
        await storage.create(f"{p}new1", b"n")
        await asyncio.wait_for(task, 10)
        assert got == [b"o", b"o", b"o", b"n", b"n"]
    finally:
        await hub.close()


async def test_quiet_between_sees_every_change_under_the_prefix(storage: Storage) -> None:
    """What lets the hub trust an etcd progress revision (store/watch.py)."""
    p = prefix()
    await storage.create(p + "ns/a", b"1")
    start = await storage.current_revision()
    await storage.create(prefix() + "ns/elsewhere", b"1")
    assert await storage.quiet_between(p, start, await storage.current_revision())
    item = await storage.get(p + "ns/a")
    modified = await storage.update(p + "ns/a", b"2", item.mod_revision)
    assert not await storage.quiet_between(p, start, modified)
    assert await storage.quiet_between(p, modified, await storage.current_revision())
    _, deleted = await storage.delete(p + "ns/a")
    assert not await storage.quiet_between(p, modified, deleted)
    await storage.compact(deleted)
    assert not await storage.quiet_between(p, start, deleted)  # compacted: cannot tell
