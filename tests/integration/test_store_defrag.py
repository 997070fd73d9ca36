"""Defragmentation against a real etcd: values written, deleted and compacted leave the
database file large and mostly free; the member is defragmented and its file shrinks; a
member without that much free space is left alone. A member with a small quota filled up
raises NOSPACE; once keys are deleted and compacted, recovery disarms it and writes work."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc
import pytest
from aetcd import rpc

from minikube_py.store import Storage
from minikube_py.store.defrag import defragment_fragmented, recover_nospace
from tests.fixtures.etcd import EtcdCluster

MB = 1024 * 1024


async def db_size(url: str) -> tuple[int, int]:
    async with grpc.aio.insecure_channel(url.split("//")[1]) as channel:
        status = await rpc.MaintenanceStub(channel).Status(rpc.StatusRequest(), timeout=5)
        return status.dbSize, status.dbSizeInUse


async def test_a_mostly_free_member_is_defragmented(etcd: EtcdCluster) -> None:
    url = etcd.urls[0]
    async with Storage([url]) as storage:
        for i in range(40):
            await storage.kv.Put(rpc.PutRequest(key=f"/big/{i}".encode(), value=b"x" * MB))
        assert await defragment_fragmented([url], min_free_bytes=8 * MB) == []  # all in use
        await storage.kv.DeleteRange(rpc.DeleteRangeRequest(key=b"/big/", range_end=b"/big0"))
        await storage.compact(await storage.current_revision())
        for _ in range(100):  # etcd compacts in the background; freed pages count once
            await storage.kv.Put(rpc.PutRequest(key=b"/small", value=b"x"))  # a later commit
            before, in_use = await db_size(url)
            if before - in_use >= 30 * MB:
                break
            await asyncio.sleep(0.1)
    assert before - in_use >= 30 * MB
    assert await defragment_fragmented([url], min_free_bytes=8 * MB) == [url]
    after, _ = await db_size(url)
    assert after < before / 4
    assert await defragment_fragmented([url], min_free_bytes=8 * MB) == []


async def test_a_nospace_alarm_is_recovered_from_once_space_is_freed(
        etcd_factory: Callable[..., EtcdCluster]) -> None:
    small_etcd = etcd_factory(1, quota_bytes=16 * MB).urls[0]  # etcd's default is 2 GiB
    async with Storage([small_etcd]) as storage:
        await storage.current_revision()  # waits out etcd's start (the store retries)
        with pytest.raises(grpc.aio.AioRpcError, match="database space exceeded"):
            for i in range(64):
                await storage.kv.Put(rpc.PutRequest(key=f"/big/{i}".encode(), value=b"x" * MB))
        with pytest.raises(grpc.aio.AioRpcError, match="database space exceeded"):
            await storage.kv.Put(rpc.PutRequest(key=b"/small", value=b"x"))  # alarm raised
        await storage.kv.DeleteRange(rpc.DeleteRangeRequest(key=b"/big/", range_end=b"/big0"))
        await storage.compact(await storage.current_revision())
        await asyncio.sleep(1)  # etcd compacts in the background
        [member] = await recover_nospace([small_etcd])
        assert member != 0
        await storage.kv.Put(rpc.PutRequest(key=b"/after", value=b"ok"))  # writes again
        assert await recover_nospace([small_etcd]) == []
