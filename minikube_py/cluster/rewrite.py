"""Rewriting every object of a kind through the API: how an encryption key is rotated.

kube-apiserver seals a write with the first provider of its EncryptionConfiguration
and reads with any; after a new key is put first, every stored object must be
written once more to move onto it (Kubernetes' docs do it with `kubectl get
secrets -A -o json | kubectl replace -f -`). Each object is PUT back as read,
with its resourceVersion: a conflict means someone else wrote it since, which
sealed it with the new key already, and a 404 means it is gone; both are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from minikube_py.api.resources import Resource
from minikube_py.client import ApiClient
from minikube_py.client.errors import Conflict, NotFound

PAGE = 500


@dataclass
class Rewritten:
    """What one pass did."""

    written: int = 0
    skipped: int = 0


async def rewrite_all(client: ApiClient, resource: Resource) -> Rewritten:
    """PUT every object of `resource` (all namespaces) back unchanged, page by page."""
    done = Rewritten()
    token: str | None = None
    while True:
        page = await client.list(resource, limit=PAGE, continue_token=token)
        for obj in page.get("items") or ():
            obj.setdefault("apiVersion", resource.api_version)
            obj.setdefault("kind", resource.kind)
            try:
                await client.update(resource, obj)
                done.written += 1
            except (Conflict, NotFound):
                done.skipped += 1
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return done
