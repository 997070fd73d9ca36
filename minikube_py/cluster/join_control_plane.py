"""`minikube-py join --control-plane`: this host becomes another control-plane host, as
`kubeadm join --control-plane --certificate-key` makes it.

With the CA verified against the pinned hash: the shared PKI is fetched with the bootstrap
token and decrypted with the certificate key (cluster/uploadcerts.py) and must carry that
same CA; this host issues its own serving and etcd certificates for its address; its etcd
member is added as a learner (it counts for quorum only once promoted, after it caught up:
`minikube-py etcd member promote`, which install.sh runs once etcd started) and the env
files of the etcd and api-server units are written. Re-running finds its member already
added and adds no second one. The bootstrap token only reads the certificates; the node's
own credentials are made with the admin token they carry, so the token is not spent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from minikube_py.api.resources import ENDPOINTS
from minikube_py.apiserver import etcd_pki, pki
from minikube_py.client import ApiClient
from minikube_py.client.errors import ClientError
from minikube_py.cluster import join, uploadcerts
from minikube_py.cluster.join import JoinError, JoinRequest
from minikube_py.cluster.state import NodeRecord
from minikube_py.store import members

ETCD_CLIENT_PORT, ETCD_PEER_PORT = 2379, 2380
SERVICE_IP = "10.96.0.1"  # kubernetes.default: a SAN of every api-server's certificate


@dataclass(frozen=True)
class EtcdJoin:
    """What the new member starts with (--initial-cluster-state existing)."""

    member_id: int
    initial_cluster: str
    etcd_servers: list[str]  # every member's client URL, this host's first


async def fetch_pki(req: JoinRequest, ca_pem: bytes, certificate_key: str,
                    pki_dir: Path, node: NodeRecord) -> None:
    """The shared PKI into `pki_dir`, then this host's own certificates."""
    ca_file = join.temp_ca(ca_pem)
    try:
        async with ApiClient(req.server, token=req.token, ca_file=ca_file, retries=1) as boot:
            files = await uploadcerts.download(boot, certificate_key)
    except ClientError as e:
        raise JoinError(f"cannot read the uploaded certificates: {e}") from e
    except uploadcerts.CertsError as e:
        raise JoinError(str(e)) from e
    finally:
        Path(ca_file).unlink(missing_ok=True)
    if files.get("ca.crt") != ca_pem:
        raise JoinError("the uploaded certificates are not of the pinned cluster CA")
    uploadcerts.write_shared(pki_dir, files)
    server_host = urlsplit(req.server).hostname or ""
    pki.ensure(pki_dir, service_ip=SERVICE_IP, extra_sans=(node.ip, server_host))
    etcd_pki.ensure(pki_dir, ips=[node.ip])


def _admin(req: JoinRequest, pki_dir: Path) -> ApiClient:
    """A client with the admin token the shared PKI carries."""
    token = (pki_dir / "admin.token").read_text().strip()
    return ApiClient(req.server, token=token, ca_file=pki_dir / "ca.crt", retries=1)


async def etcd_endpoints(req: JoinRequest, pki_dir: Path) -> list[str]:
    """Every api-server's host runs a member (install.sh's layout): their client URLs,
    from the `kubernetes` Endpoints."""
    try:
        async with _admin(req, pki_dir) as admin:
            endpoints = await admin.get(ENDPOINTS, "kubernetes", "default")
    except ClientError as e:
        raise JoinError(f"cannot list the api-servers: {e}") from e
    ips = [a["ip"] for s in endpoints.get("subsets") or [] for a in s.get("addresses") or []]
    return [f"https://{ip}:{ETCD_CLIENT_PORT}" for ip in sorted(ips)]


async def node_credentials(req: JoinRequest, pki_dir: Path, ca_pem: bytes, node: NodeRecord,
                           kubeconfig: Path) -> None:
    """The agent's credentials, made with the admin token as `up` makes its own nodes':
    the bootstrap token is not spent, so several control planes may join with the one
    printed command while the uploaded certificates last (as kubeadm's)."""
    async with _admin(req, pki_dir) as admin:
        await join.local_node_kubeconfig(admin, req.server, ca_pem, node, kubeconfig)


async def add_member(pki_dir: Path, node: NodeRecord, servers: list[str]) -> EtcdJoin:
    """This host's member as a learner (once: a re-run reuses the one it added)."""
    tls = etcd_pki.paths(pki_dir).client
    peer = f"https://{node.ip}:{ETCD_PEER_PORT}"
    own = f"https://{node.ip}:{ETCD_CLIENT_PORT}"
    others = [s for s in servers if s != own]
    try:
        listed = await members.members(others, tls)
        mine = [m for m in listed if peer in m.peer_urls]
        if mine:
            member_id = mine[0].member_id
            initial = ",".join(f"{node.name if m.member_id == member_id else m.name}="
                               f"{m.peer_urls[0]}" for m in listed if m.peer_urls)
        else:
            member_id, initial = await members.add_learner(others, tls, node.name, peer)
    except members.MembershipError as e:
        raise JoinError(f"cannot add this host's etcd member: {e}") from e
    return EtcdJoin(member_id, initial, [own, *others])


def write_env(config_dir: Path, node: NodeRecord, etcd: EtcdJoin, server_host: str) -> None:
    """etcd.env and apiserver.env for systemd/minikube-py-{etcd,apiserver}.service."""
    env = {
        "etcd.env": {"MEMBER_NAME": node.name, "MEMBER_IP": node.ip,
                     "LISTEN_CLIENT_URLS": f"https://127.0.0.1:{ETCD_CLIENT_PORT},"
                                           f"https://{node.ip}:{ETCD_CLIENT_PORT}",
                     "INITIAL_CLUSTER": etcd.initial_cluster, "CLUSTER_STATE": "existing"},
        "apiserver.env": {"ETCD_SERVERS": ",".join(etcd.etcd_servers),
                          "APISERVER_ARGS": f"--advertise-address {node.ip} --bind-address "
                                            f"0.0.0.0 --tls-san {server_host}"},
    }
    config_dir.mkdir(parents=True, exist_ok=True)
    for name, lines in env.items():
        (config_dir / name).write_text("".join(f'{k}="{v}"\n' for k, v in lines.items()))
