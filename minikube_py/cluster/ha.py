"""An HA control plane in the lab: N control-plane nodes, each a full control-plane host.

Every control-plane node (its own netns and address, like a worker) runs what kubeadm
puts on one: an etcd member (client and peer TLS), an api-server on all members (its own
first), scheduler and controller-manager (Lease-elected), the DNS server, the VIP
candidate (agent/vip.py) and an agent whose Node carries kubeadm's control-plane label
and NoSchedule taint. One PKI is made before anything starts and shared, as kubeadm's
upload-certs shares it (cluster/uploadcerts.py): the cluster CA, service-account keys, tokens, the etcd CA and
the Secrets encryption key;
each node issues its own serving, etcd server and peer certificates from those CAs.
Users, agents and joining hosts reach the api-servers at the VIP.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from minikube_py.api.resources import NODES
from minikube_py.apiserver import encryption_config, etcd_pki, pki
from minikube_py.client import ApiClient
from minikube_py.client.errors import NotFound
from minikube_py.cluster import uploadcerts
from minikube_py.cluster.paths import ClusterPaths
from minikube_py.cluster.state import ClusterState, NodeRecord

ROLE_LABEL = "node-role.kubernetes.io/control-plane"
TAINT = f"{ROLE_LABEL}:NoSchedule"
ETCD_CLIENT_PORT, ETCD_PEER_PORT = 2379, 2380


def data_dir(paths: ClusterPaths, node: NodeRecord) -> Path:
    """The node's api-server data dir (pki, etcd, kubeconfigs)."""
    return paths.state_dir / "lab" / "control-plane" / node.name


def control_planes(state: ClusterState) -> list[NodeRecord]:
    return [n for n in state.nodes if n.control_plane]


def etcd_client_url(node: NodeRecord) -> str:
    return f"https://{node.ip}:{ETCD_CLIENT_PORT}"


def initial_cluster(state: ClusterState) -> str:
    return ",".join(f"{n.name}=https://{n.ip}:{ETCD_PEER_PORT}" for n in control_planes(state))


def etcd_servers(state: ClusterState, node: NodeRecord) -> list[str]:
    """Every member, the node's own first (gRPC pick_first uses it while it answers)."""
    others = [etcd_client_url(n) for n in control_planes(state) if n.name != node.name]
    return [etcd_client_url(node), *others]


def prepare_pki(paths: ClusterPaths, state: ClusterState) -> None:
    """The shared PKI in the first node's dir, copied to the others, then each node's own
    etcd certificates (made here: etcd starts before its api-server could make them)."""
    nodes = control_planes(state)
    assert state.vip is not None
    first = data_dir(paths, nodes[0]) / "pki"
    sans = (state.vip, *(n.ip for n in nodes))
    pki.ensure(first, service_ip="10.96.0.1", extra_sans=sans)
    encryption_config.ensure_default(first)  # one key: any api-server reads any Secret
    etcd_pki.ensure(first, ips=[nodes[0].ip])
    shared = uploadcerts.shared_files(first)
    for node in nodes[1:]:
        target = data_dir(paths, node) / "pki"
        uploadcerts.write_shared(target, shared)
        etcd_pki.ensure(target, ips=[node.ip])


def etcd_argv(state: ClusterState, node: NodeRecord, paths: ClusterPaths) -> list[str]:
    """The member's etcd command line (client on its address and loopback, peers on its
    address; TLS both ways)."""
    binary = shutil.which("etcd") or "/usr/bin/etcd"
    data = data_dir(paths, node)
    certs = etcd_pki.paths(data / "pki").member
    own = etcd_client_url(node)
    return [binary, "--name", node.name, "--data-dir", str(data / "etcd"),
            "--listen-client-urls", f"{own},https://127.0.0.1:{ETCD_CLIENT_PORT}",
            "--advertise-client-urls", own,
            "--listen-peer-urls", f"https://{node.ip}:{ETCD_PEER_PORT}",
            "--initial-advertise-peer-urls", f"https://{node.ip}:{ETCD_PEER_PORT}",
            "--initial-cluster", initial_cluster(state), "--initial-cluster-state", "new",
            "--initial-cluster-token", "minikube-py-lab", "--logger", "zap",
            "--log-level", "warn", *certs.flags()]


async def mark_control_planes(client: ApiClient, nodes: list[NodeRecord]) -> None:
    """kubeadm's mark-control-plane: the role label, which NodeRestriction keeps a kubelet
    from setting on itself (the taint the agent registers with)."""
    for node in nodes:
        await _label(client, node.name)


async def _label(client: ApiClient, name: str) -> None:
    await client.patch(NODES, name, {"metadata": {"labels": {ROLE_LABEL: ""}}})


async def mark_control_plane(client: ApiClient, name: str, timeout: float) -> None:
    """The same on a host whose agent has just started: once its Node has registered
    (TimeoutError after `timeout` seconds)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await _label(client, name)
            return
        except NotFound:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"node {name} did not register within {timeout:.0f} s") \
                    from None
            await asyncio.sleep(1)


def apiserver_etcd_flags(paths: ClusterPaths, node: NodeRecord) -> list[str]:
    """--etcd-cafile/--etcd-certfile/--etcd-keyfile of the node's api-server."""
    tls = etcd_pki.paths(data_dir(paths, node) / "pki").client
    return ["--etcd-cafile", str(tls.ca_file), "--etcd-certfile", str(tls.cert_file),
            "--etcd-keyfile", str(tls.key_file)]
