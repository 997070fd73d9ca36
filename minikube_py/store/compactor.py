"""Periodic compaction, as kube-apiserver does it.

Every `interval` seconds we note the current revision and compact to the one
noted on the previous tick, so history always covers at least one interval:
a watcher that was briefly disconnected can resume, one that was gone longer
gets 410 and re-lists. Without this etcd grows without bound. After each
compaction, members whose file is mostly free space are defragmented, and a NOSPACE
alarm is recovered from (defrag.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import grpc

from minikube_py.store.defrag import defragment_fragmented, recover_nospace
from minikube_py.store.errors import StorageError
from minikube_py.store.storage import Storage

log = logging.getLogger(__name__)


async def compact_forever(storage: Storage, interval: float,
                          on_compacted: Callable[[int], None] | None = None) -> None:
    """Run until cancelled; etcd being unavailable only skips a tick."""
    previous = 0
    while True:
        await asyncio.sleep(interval)
        try:
            current = await storage.current_revision()
            if previous:
                await storage.compact(previous)
                log.info("compacted etcd revision=%d", previous)
                if on_compacted is not None:
                    on_compacted(previous)
                await defragment_fragmented(storage.endpoints, tls=storage.tls)
            previous = current
            await recover_nospace(storage.endpoints, tls=storage.tls)
        except (StorageError, grpc.aio.AioRpcError) as e:
            log.warning("compaction skipped error=%s", e)
