"""The ingress controller's own identity: ServiceAccount kube-system/ingress-controller
(bound to ClusterRole system:ingress-controller) and a kubeconfig holding a token for it
(identities.py)."""

from __future__ import annotations

from pathlib import Path

from minikube_py.client import ApiClient
from minikube_py.cluster import identities

NAMESPACE, NAME = "kube-system", "ingress-controller"


async def write_kubeconfig(client: ApiClient, server: str, ca_pem: bytes, path: Path) -> None:
    await identities.write_kubeconfig(client, server, ca_pem, path, namespace=NAMESPACE,
                                      name=NAME,
                                      labels={"app.kubernetes.io/name": "minikube-py-ingress"})
