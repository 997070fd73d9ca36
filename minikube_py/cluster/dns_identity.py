"""The cluster DNS server's own identity: ServiceAccount kube-system/kube-dns and a
kubeconfig holding a token for it (TokenRequest), so the server runs with the rights RBAC
gives that account, not the admin's. `up` writes it once the api-server answers; the
supervisor starts the server when the file exists."""

from __future__ import annotations

import contextlib
from pathlib import Path

from minikube_py.api.resources import SERVICEACCOUNTS
from minikube_py.client import ApiClient
from minikube_py.client.errors import AlreadyExists
from minikube_py.cluster import kubeconfigs
from minikube_py.durable import write_file

NAMESPACE, NAME = "kube-system", "kube-dns"
USER = f"system:serviceaccount:{NAMESPACE}:{NAME}"
# A year: `up` writes a fresh one at every start, and the token dies with the account.
TOKEN_SECONDS = 365 * 24 * 3600


async def write_kubeconfig(client: ApiClient, server: str, ca_pem: bytes, path: Path) -> None:
    with contextlib.suppress(AlreadyExists):
        await client.create(SERVICEACCOUNTS, {
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": NAME, "namespace": NAMESPACE,
                         "labels": {"k8s-app": "kube-dns"}}}, NAMESPACE)
    review = await client.create(SERVICEACCOUNTS, {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": TOKEN_SECONDS}}, NAMESPACE, subresource="token",
        name=NAME)
    write_file(path, kubeconfigs.token_kubeconfig(
        server, ca_pem, USER, review["status"]["token"]))
