"""Defragmentation of etcd members whose database is mostly free space.

Compaction frees pages inside etcd's bbolt file but never shrinks it; the space counts
against the member's quota (NOSPACE comes from the file's size, not its contents), so a
member whose free space is at least `min_free_bytes` and half its file is defragmented,
one member at a time (a member blocks while it defragments). Each member is asked on
its own channel: the api-server's shared channel balances over all of them.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import grpc
from aetcd import rpc

log = logging.getLogger(__name__)

MIN_FREE_BYTES = 100 * 1024 * 1024
DEFRAG_TIMEOUT = 120.0


async def defragment_fragmented(endpoints: list[str], min_free_bytes: int = MIN_FREE_BYTES,
                                timeout: float = 5.0) -> list[str]:
    """Defragment each member with that much free space; returns those defragmented."""
    done: list[str] = []
    for endpoint in endpoints:
        url = urlsplit(endpoint)
        async with grpc.aio.insecure_channel(f"{url.hostname}:{url.port}") as channel:
            stub = rpc.MaintenanceStub(channel)
            try:
                status = await stub.Status(rpc.StatusRequest(), timeout=timeout)
                free = status.dbSize - status.dbSizeInUse
                if free < min_free_bytes or free * 2 < status.dbSize:
                    continue
                await stub.Defragment(rpc.DefragmentRequest(), timeout=DEFRAG_TIMEOUT)
            except grpc.aio.AioRpcError as e:
                log.warning("etcd defragmentation skipped endpoint=%s error=%s", endpoint,
                            e.details())
                continue
            log.info("etcd defragmented endpoint=%s free_bytes=%d db_bytes=%d", endpoint,
                     free, status.dbSize)
            done.append(endpoint)
    return done
