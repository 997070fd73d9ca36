"""The kubeconfigs a cluster hands out, and the public `cluster-info` that `join` pins.

The api-server writes its admin kubeconfig into its data dir; users get a copy at
/etc/minikube-py/admin.conf, and every node's agent a copy of its own pointing at the
address that node reaches the api-server on (127.0.0.1 on the host, the lab bridge for
lab nodes, the host's address for joined machines).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from minikube_py.api.resources import CONFIGMAPS
from minikube_py.client import ApiClient
from minikube_py.client.errors import NotFound
from minikube_py.durable import write_file


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    if not isinstance(doc, dict) or not doc.get("clusters"):
        raise ValueError(f"{path} is not a kubeconfig")
    return doc


def with_server(doc: dict[str, Any], server: str) -> dict[str, Any]:
    """A copy of `doc` whose every cluster entry points at `server`."""
    out: dict[str, Any] = yaml.safe_load(yaml.safe_dump(doc))
    for entry in out["clusters"]:
        entry["cluster"]["server"] = server
    return out


def publish(src: Path, dst: Path, server: str | None = None) -> None:
    """Copy kubeconfig `src` to `dst` (0600), optionally re-pointed at `server`."""
    doc = load(src)
    write_file(dst, yaml.safe_dump(with_server(doc, server) if server else doc))


def token_kubeconfig(server: str, ca_pem: bytes, user: str, token: str) -> str:
    """A kubeconfig of one bearer token and the pinned CA, nothing of the admin's."""
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "default",
        "clusters": [{"name": "minikube-py", "cluster": {
            "server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "default", "context": {"cluster": "minikube-py", "user": user}}],
    }
    return yaml.safe_dump(doc)


def ca_data(doc: dict[str, Any]) -> bytes:
    """The PEM CA of the kubeconfig's first cluster."""
    cluster = doc["clusters"][0]["cluster"]
    if "certificate-authority-data" in cluster:
        return base64.b64decode(cluster["certificate-authority-data"])
    return Path(cluster["certificate-authority"]).read_bytes()


def cluster_info(server: str, ca_pem: bytes) -> dict[str, Any]:
    """kubeadm's kube-public/cluster-info: the CA and address, nothing secret."""
    kubeconfig = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "", "cluster": {
            "server": server,
            "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
        "contexts": [], "users": [],
    }
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cluster-info", "namespace": "kube-public"},
            "data": {"kubeconfig": yaml.safe_dump(kubeconfig)}}


async def publish_cluster_info(client: ApiClient, server: str, ca_pem: bytes) -> None:
    """Create or refresh cluster-info, so `join` on another host can pin the CA."""
    obj = cluster_info(server, ca_pem)
    try:
        await client.get(CONFIGMAPS, "cluster-info", namespace="kube-public")
    except NotFound:
        await client.create(CONFIGMAPS, obj)
        return
    await client.patch(CONFIGMAPS, "cluster-info", {"data": obj["data"]},
                       namespace="kube-public", patch_type="merge")


async def cluster_info_server(client: ApiClient) -> str:
    """The api-server address `up` published: where other hosts reach this cluster."""
    cm = await client.get(CONFIGMAPS, "cluster-info", namespace="kube-public")
    return str(yaml.safe_load(cm["data"]["kubeconfig"])["clusters"][0]["cluster"]["server"])
