"""What each etcd member says of itself (etcdctl endpoint status): who leads, how far
its raft log is applied. Asked member by member on its own channel, as the shared
channel would answer from whichever member it is connected to."""

from __future__ import annotations

from dataclasses import dataclass
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
