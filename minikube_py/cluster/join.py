"""`minikube-py join`: make this host a node of a cluster running elsewhere.

Every check happens before anything on this host changes: the token's and hash's shape,
the server's CA against the pinned hash (over TLS not yet verified, reading only the
public cluster-info), then, verified, the bootstrap token exchanged for this node's own
credential and kubelet serving certificate (the api-server signs a request made here, the
key never leaves the host; the token is spent by it). Only then are the kubeconfig and the
certificate written and the agent started (supervised, as `up` does, or by systemd when
install.sh asks for it).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import ssl
import tempfile
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import yaml

from minikube_py.api.resources import NODES, SECRETS
from minikube_py.client import ApiClient
from minikube_py.client.errors import AlreadyExists, ClientError, Forbidden, NotFound, Unauthorized
from minikube_py.cluster import kubeconfigs, tokens
from minikube_py.cluster.state import NodeRecord
from minikube_py.durable import write_file

CLUSTER_INFO = "/api/v1/namespaces/kube-public/configmaps/cluster-info"


class JoinError(Exception):
    """Why this host could not join; nothing was changed on it."""


@dataclasses.dataclass(frozen=True)
class JoinRequest:
    server: str
    token: str
    ca_cert_hash: str
    node_name: str
    node_ips: tuple[str, ...] = ()  # SANs of the kubelet serving certificate

    def validated(self) -> JoinRequest:
        if not self.server.startswith("https://"):
            raise JoinError("--server must be an https:// URL, e.g. https://192.168.56.10:6443")
        try:
            tokens.parse_token(self.token)
            expected = tokens.parse_hash(self.ca_cert_hash)
        except ValueError as e:
            raise JoinError(str(e)) from e
        return dataclasses.replace(self, server=self.server.rstrip("/"), ca_cert_hash=expected)


async def fetch_ca(server: str, expected_hash: str, timeout: float = 10.0) -> bytes:
    """The cluster's CA from cluster-info, accepted only if its key matches the pin."""
    insecure = ssl.create_default_context()
    insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE  # pinned below
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http, \
                http.get(server + CLUSTER_INFO, ssl=insecure) as resp:
            if resp.status != 200:
                raise JoinError(f"{server} did not hand out cluster-info (HTTP {resp.status}); "
                                "is it a minikube-py api-server, started by `up`?")
            body = await resp.json()
    except (TimeoutError, aiohttp.ClientError, OSError) as e:
        reason = e.os_error if isinstance(e, aiohttp.ClientConnectorError) else e  # no SSLContext repr
        raise JoinError(f"cannot reach {server}: {reason or type(e).__name__}") from e
    try:
        ca_pem = kubeconfigs.ca_data(yaml.safe_load(body["data"]["kubeconfig"]))
        if not tokens.hash_matches(ca_pem, expected_hash):
            raise JoinError(f"the server's CA is {tokens.ca_hash(ca_pem)}, not the pinned "
                            f"{expected_hash}: refusing to trust it")
    except (KeyError, TypeError, ValueError, yaml.YAMLError) as e:
        raise JoinError(f"cluster-info from {server} is malformed: {e}") from e
    return ca_pem


@dataclasses.dataclass(frozen=True)
class NodeCredentials:
    """What a node runs with: its API token, and its kubelet serving certificate."""

    token: str
    serving_cert: bytes
    serving_key: bytes


async def exchange(client: ApiClient, node: str, ips: Sequence[str]) -> NodeCredentials:
    """Create the node's credential Secret with `client` (a bootstrap token, or the admin
    for local nodes); the api-server answers with the signed serving certificate."""
    token = tokens.new_node_token(node)
    key_pem, csr_pem = tokens.serving_request(node, ips)
    created = await client.create(SECRETS, tokens.node_credentials_secret(node, token, csr_pem))
    cert = base64.b64decode((created.get("data") or {}).get(tokens.SERVING_CERT) or "")
    if not cert:
        raise JoinError("the api-server issued no kubelet serving certificate (an older "
                        "minikube-py?)")
    return NodeCredentials(token, cert, key_pem)


async def obtain_credentials(req: JoinRequest, ca_pem: bytes) -> NodeCredentials:
    """Exchange the bootstrap token for this node's own token and serving certificate
    (docs/interfaces.md, "Node credentials")."""
    ca_file = temp_ca(ca_pem)
    try:
        async with ApiClient(req.server, token=req.token, ca_file=ca_file, retries=1) as boot:
            creds = await exchange(boot, req.node_name, req.node_ips)
        async with ApiClient(req.server, token=creds.token, ca_file=ca_file,
                             retries=1) as node:
            try:  # proves the new credential is accepted
                await node.get(NODES, req.node_name)
            except NotFound:
                pass
    except Unauthorized as e:
        raise JoinError("the bootstrap token was refused (wrong or expired, or spent by "
                        "another join); make a new one on the control plane: minikube-py "
                        "token create") from e
    except AlreadyExists as e:
        raise JoinError(f"a node named {req.node_name} already joined; pick another --node-name "
                        f"or delete secret kube-system/node-credentials-{req.node_name}") from e
    except Forbidden as e:
        raise JoinError(f"the api-server refused: {e.message}") from e
    except ClientError as e:
        raise JoinError(f"joining failed: {e}") from e
    finally:
        Path(ca_file).unlink(missing_ok=True)
    return creds


def temp_ca(ca_pem: bytes) -> str:
    with tempfile.NamedTemporaryFile("wb", suffix=".crt", delete=False) as f:
        f.write(ca_pem)
        return f.name


def kubelet_config(server: str, ca_pem: bytes, node: str, token: str) -> str:
    """The node's kubeconfig: the pinned CA and its own token, nothing of the admin's."""
    return kubeconfigs.token_kubeconfig(server, ca_pem, f"system:node:{node}", token)


def serving_files(kubeconfig: Path) -> tuple[Path, Path]:
    """Where the node's serving certificate and key go: pki/ beside its kubeconfig (the
    agent's --state-dir when `up`, `lab` or `join` supervise it)."""
    return kubeconfig.parent / "pki" / "kubelet.crt", kubeconfig.parent / "pki" / "kubelet.key"


def write_credentials(kubeconfig: Path, server: str, ca_pem: bytes, node: str,
                      creds: NodeCredentials) -> None:
    crt, key = serving_files(kubeconfig)
    write_file(key, creds.serving_key)
    write_file(crt, creds.serving_cert, mode=0o644)
    write_file(kubeconfig, kubelet_config(server, ca_pem, node, creds.token))


async def join(req: JoinRequest, ca_pem: bytes, kubeconfig_path: Path) -> None:
    """With a verified CA (`fetch_ca`): obtain credentials, write the node's kubeconfig
    and serving certificate."""
    creds = await obtain_credentials(req, ca_pem)
    write_credentials(kubeconfig_path, req.server, ca_pem, req.node_name, creds)


def write_agent_env(path: Path, node: NodeRecord, kubeconfig: Path,
                    taints: Sequence[str] = ()) -> None:
    """The EnvironmentFile of systemd/minikube-py-agent.service; `taints` (checked
    `key[=value]:Effect`) the Node registers with."""
    crt, key = serving_files(kubeconfig)
    args = f"--tls-cert-file {crt} --tls-private-key-file {key}"
    if taints:
        args += f" --register-with-taints {','.join(taints)}"
    lines = {"NODE_NAME": node.name, "NODE_IP": node.ip, "KUBECONFIG": str(kubeconfig),
             "AGENT_ARGS": f"--iface {node.iface} {args}" if node.iface else args}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f'{k}="{v}"\n' for k, v in lines.items()))


async def local_node_kubeconfig(admin: ApiClient, server: str, ca_pem: bytes,
                                node: NodeRecord, path: Path) -> None:
    """For the nodes `up` and `lab up` run themselves: the exchange `join` does, made by the
    admin (its Node may exist from an earlier run, which a bootstrap token may not claim),
    so every agent runs as system:node:<n> with a serving certificate for its address. A
    credential left from an earlier run whose token we no longer hold is replaced."""
    with contextlib.suppress(NotFound):
        await admin.delete(SECRETS, f"node-credentials-{node.name}", namespace="kube-system")
    try:
        creds = await exchange(admin, node.name, [node.ip])
    except ClientError as e:
        raise JoinError(f"cannot make credentials for node {node.name}: {e}") from e
    write_credentials(path, server, ca_pem, node.name, creds)
