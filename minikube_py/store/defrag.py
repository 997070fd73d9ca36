"""Defragmentation of etcd members whose database is mostly free space, and recovery
from etcd's NOSPACE alarm.

Compaction frees pages inside etcd's bbolt file but never shrinks it; the space counts
against the member's quota (NOSPACE comes from the file's size, not its contents), so a
member whose free space is at least `min_free_bytes` and half its file is defragmented,
one member at a time (a member blocks while it defragments). Each member is asked on
its own channel: the api-server's shared channel balances over all of them.

A NOSPACE alarm (a member's file reached its quota: etcd then refuses every write) is
logged as an error on each look; once compaction has freed space, the members holding
it are defragmented and the alarm disarmed (etcd's documented recovery). If the data
itself fills the quota the alarm comes back, and the error says so again.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import grpc
from aetcd import rpc

from minikube_py.store.etcdtls import EtcdTLS, channel

log = logging.getLogger(__name__)

MIN_FREE_BYTES = 100 * 1024 * 1024
DEFRAG_TIMEOUT = 120.0


async def defragment_fragmented(endpoints: list[str], min_free_bytes: int = MIN_FREE_BYTES,
                                timeout: float = 5.0, tls: EtcdTLS | None = None) -> list[str]:
    """Defragment each member with that much free space (0: every member); returns
    those defragmented."""
    done: list[str] = []
    for endpoint in endpoints:
        url = urlsplit(endpoint)
        async with channel(f"{url.hostname}:{url.port}", tls) as member:
            stub = rpc.MaintenanceStub(member)
            try:
                status = await stub.Status(rpc.StatusRequest(), timeout=timeout)
                free = status.dbSize - status.dbSizeInUse
                if min_free_bytes and (free < min_free_bytes or free * 2 < status.dbSize):
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


async def recover_nospace(endpoints: list[str], timeout: float = 5.0,
                          tls: EtcdTLS | None = None) -> list[int]:
    """With a NOSPACE alarm raised: defragment every member, then disarm the alarms;
    returns the alarmed member IDs (none: nothing done)."""
    url = urlsplit(endpoints[0])
    async with channel(f"{url.hostname}:{url.port}", tls) as member:
        stub = rpc.MaintenanceStub(member)
        alarms = await stub.Alarm(rpc.AlarmRequest(action=rpc.AlarmRequest.GET),
                                  timeout=timeout)
        members = [a.memberID for a in alarms.alarms if a.alarm == rpc.NOSPACE]
        if not members:
            return []
        log.error("etcd NOSPACE alarm: writes are refused; defragmenting members=%s",
                  [f"{m:x}" for m in members])
        await defragment_fragmented(endpoints, min_free_bytes=0, timeout=timeout, tls=tls)
        for member in members:
            await stub.Alarm(rpc.AlarmRequest(action=rpc.AlarmRequest.DEACTIVATE,
                                              memberID=member, alarm=rpc.NOSPACE),
                             timeout=timeout)
        log.info("etcd NOSPACE alarm disarmed members=%s", [f"{m:x}" for m in members])
        return members
