"""A host component's own identity: its ServiceAccount and a kubeconfig holding a token
for it (TokenRequest), so it runs with the rights RBAC gives that account, not the
admin's. `up` writes these once the api-server answers (the DNS server's, the metrics
server's); the supervisor starts a component when its file exists."""

from __future__ import annotations

import contextlib
from pathlib import Path

from minikube_py.api.resources import SERVICEACCOUNTS
from minikube_py.client import ApiClient
from minikube_py.client.errors import AlreadyExists
from minikube_py.cluster import kubeconfigs
from minikube_py.durable import write_file

# A year: `up` writes a fresh one at every start, and the token dies with the account.
TOKEN_SECONDS = 365 * 24 * 3600


async def write_kubeconfig(client: ApiClient, server: str, ca_pem: bytes, path: Path, *,
                           namespace: str, name: str, labels: dict[str, str]) -> None:
    """Ensure ServiceAccount namespace/name and write a kubeconfig with a token for it."""
    with contextlib.suppress(AlreadyExists):
        await client.create(SERVICEACCOUNTS, {
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace, "labels": labels}}, namespace)
    review = await client.create(SERVICEACCOUNTS, {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": TOKEN_SECONDS}}, namespace, subresource="token",
        name=name)
    write_file(path, kubeconfigs.token_kubeconfig(
        server, ca_pem, f"system:serviceaccount:{namespace}:{name}",
        review["status"]["token"]))
