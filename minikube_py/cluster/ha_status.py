"""`lab status` of an HA lab: each member's etcd role and raft position, who holds the
VIP (by its Lease and by the kernel), and who leads the scheduler and controller-manager."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from cni_plugins import vip
from minikube_py.api.lease import VIP_LEASE
from minikube_py.api.resources import LEASES
from minikube_py.apiserver import etcd_pki
from minikube_py.client import ApiClient
from minikube_py.client.errors import ClientError
from minikube_py.cluster import ha
from minikube_py.cluster.health import LEASE_COMPONENTS
from minikube_py.cluster.paths import ClusterPaths
from minikube_py.cluster.state import ClusterState
from minikube_py.store.members import member_status


@dataclass(frozen=True)
class MemberRow:
    node: str
    etcd: str  # leader | follower | why it did not answer
    raft_index: int | None
    raft_term: int | None
    holds_vip: bool


@dataclass(frozen=True)
class HaStatus:
    members: list[MemberRow]
    vip: str
    leases: dict[str, str]  # Lease -> holder (or why unknown)


async def collect(paths: ClusterPaths, state: ClusterState) -> HaStatus:
    assert state.vip is not None
    rows = await members(paths, state)
    leases = {}
    async with ApiClient.from_kubeconfig(paths.admin_conf, timeout=3.0, retries=0) as client:
        for name in (VIP_LEASE, *LEASE_COMPONENTS.values()):
            try:
                lease = await client.get(LEASES, name, namespace="kube-system")
                leases[name] = str((lease.get("spec") or {}).get("holderIdentity") or "none")
            except (ClientError, OSError, TimeoutError) as e:
                leases[name] = f"unknown ({e})"
    return HaStatus(rows, state.vip, leases)


async def members(paths: ClusterPaths, state: ClusterState) -> list[MemberRow]:
    """Each control-plane node's etcd role and raft position and whether it has the VIP,
    asked of the members and the kernel only: what a chaos test can poll while the API
    is away."""
    assert state.vip is not None
    nodes = ha.control_planes(state)
    statuses = await asyncio.gather(*(
        member_status(ha.etcd_client_url(n),
                      etcd_pki.paths(ha.data_dir(paths, n) / "pki").client) for n in nodes))
    rows = []
    for node, st in zip(nodes, statuses, strict=True):
        holds = await asyncio.to_thread(vip.holds, node.iface or "eth0", state.vip, node.netns)
        if isinstance(st, str):
            rows.append(MemberRow(node.name, st, None, None, holds))
        else:
            rows.append(MemberRow(node.name, "leader" if st.is_leader else "follower",
                                  st.raft_index, st.raft_term, holds))
    return rows


def render(status: HaStatus) -> str:
    """kubectl-style columns, then the Lease holders."""
    rows = [("CONTROL-PLANE", "ETCD", "RAFT-INDEX", "RAFT-TERM", "VIP")]
    rows += [(m.node, m.etcd, "" if m.raft_index is None else str(m.raft_index),
              "" if m.raft_term is None else str(m.raft_term),
              status.vip if m.holds_vip else "") for m in status.members]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    lines.append("")
    lines += [f"Lease kube-system/{name}: {holder}" for name, holder in status.leases.items()]
    return "\n".join(lines) + "\n"
