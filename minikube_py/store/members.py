"""etcd membership, as etcdctl's `endpoint status` and `member add|promote|remove|list`.

Status is asked member by member on its own channel (the shared channel would answer
from whichever member it is connected to): who leads, how far its raft log is applied.
A host joins as a learner and is promoted once it has caught up; a removed host's
member is removed, so the quorum is counted over the members that are really there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import grpc
from aetcd import rpc

from minikube_py.store.etcdtls import EtcdTLS, channel


@dataclass(frozen=True)
class MemberStatus:
    endpoint: str
    member_id: int
    leader_id: int
    raft_index: int
    raft_term: int
    db_size: int

    @property
    def is_leader(self) -> bool:
        return self.member_id == self.leader_id


async def member_status(endpoint: str, tls: EtcdTLS | None, timeout: float = 2.0
                        ) -> MemberStatus | str:
    """The member's status, or why it gave none."""
    url = urlsplit(endpoint)
    async with channel(f"{url.hostname}:{url.port}", tls) as member:
        try:
            status = await rpc.MaintenanceStub(member).Status(rpc.StatusRequest(),
                                                              timeout=timeout)
        except grpc.aio.AioRpcError as e:
            return f"{e.code().name}: {e.details()}"
    return MemberStatus(endpoint, int(status.header.member_id), int(status.leader),
                        int(status.raftIndex), int(status.raftTerm), int(status.dbSize))


class MembershipError(Exception):
    """A membership change etcd refused or that did not finish; the message says why."""


@dataclass(frozen=True)
class Member:
    member_id: int
    name: str
    peer_urls: list[str]
    client_urls: list[str]
    is_learner: bool


async def _cluster_call(endpoints: list[str], tls: EtcdTLS | None, call: str,
                        request: object, timeout: float) -> Any:
    """One Cluster RPC on the first member that answers."""
    last = "no endpoints"
    for endpoint in endpoints:
        url = urlsplit(endpoint)
        async with channel(f"{url.hostname}:{url.port}", tls) as member:
            try:
                return await getattr(rpc.ClusterStub(member), call)(request, timeout=timeout)
            except grpc.aio.AioRpcError as e:
                last = f"{endpoint}: {e.code().name}: {e.details()}"
                if e.code() not in (grpc.StatusCode.UNAVAILABLE,
                                    grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise MembershipError(last) from e
    raise MembershipError(f"etcd {call} failed: {last}")


async def members(endpoints: list[str], tls: EtcdTLS | None, timeout: float = 5.0
                  ) -> list[Member]:
    response = await _cluster_call(endpoints, tls, "MemberList", rpc.MemberListRequest(),
                                   timeout)
    return [Member(int(m.ID), m.name, list(m.peerURLs), list(m.clientURLs), bool(m.isLearner))
            for m in response.members]


async def add_learner(endpoints: list[str], tls: EtcdTLS | None, name: str, peer_url: str,
                      timeout: float = 5.0) -> tuple[int, str]:
    """Add a non-voting member (etcd's learner: it catches up before it counts for quorum,
    so a slow join never costs the cluster its majority). Returns its ID and the
    --initial-cluster the new member starts with (--initial-cluster-state existing)."""
    response = await _cluster_call(endpoints, tls, "MemberAdd", rpc.MemberAddRequest(
        peerURLs=[peer_url], isLearner=True), timeout)
    new = int(response.member.ID)
    cluster = [f"{name if int(m.ID) == new else m.name}={m.peerURLs[0]}"
               for m in response.members if m.peerURLs]
    return new, ",".join(cluster)


async def promote(endpoints: list[str], tls: EtcdTLS | None, member_id: int,
                  timeout: float = 120.0) -> None:
    """Make the learner a voting member once it has caught up with the leader (etcd
    refuses until then: retried every second until `timeout`)."""
    await _until(timeout, f"learner {member_id:x} not promoted", lambda: _cluster_call(
        endpoints, tls, "MemberPromote", rpc.MemberPromoteRequest(ID=member_id), 5.0))


async def remove(endpoints: list[str], tls: EtcdTLS | None, name: str,
                 timeout: float = 30.0) -> int:
    """Remove the member called `name` (kubeadm reset's etcd member remove); its ID."""
    found = [m for m in await members(endpoints, tls) if m.name == name]
    if not found:
        raise MembershipError(f"no etcd member named {name!r}")
    await remove_id(endpoints, tls, found[0].member_id, timeout)
    return found[0].member_id


async def remove_id(endpoints: list[str], tls: EtcdTLS | None, member_id: int,
                    timeout: float = 30.0) -> None:
    """Remove a member by ID (an unstarted one has no name yet). etcd refuses while the
    rest have not all been connected for a few seconds (a removal must leave a healthy
    quorum): retried until `timeout`."""
    await _until(timeout, f"member {member_id:x} not removed", lambda: _cluster_call(
        endpoints, tls, "MemberRemove", rpc.MemberRemoveRequest(ID=member_id), 5.0))


async def _until(timeout: float, what: str, call: Callable[[], Awaitable[object]]) -> None:
    """`call` every second until it succeeds; MembershipError after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await call()
            return
        except MembershipError as e:
            if asyncio.get_running_loop().time() > deadline:
                raise MembershipError(f"{what}: {e}") from e
            await asyncio.sleep(1.0)
