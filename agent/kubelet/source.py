"""Where the kubelet reads ConfigMaps, Secrets and service-account tokens from.

A seam of our own: the kubelet passes an API-backed source, tests of the Docker side
pass `DictSource`. A missing object is `None`, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from minikube_py.api.resources import SECRETS, SERVICEACCOUNTS, Resource
from minikube_py.api.secret import SERVICE_ACCOUNT_NAME_ANNOTATION, SERVICE_ACCOUNT_TOKEN


class ObjectSource(Protocol):
    async def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""

    async def list(self, resource: Resource, namespace: str) -> list[dict[str, Any]]:
        """All objects of a kind in a namespace."""


async def service_account_secret(source: ObjectSource, namespace: str,
                                 service_account: str) -> dict[str, Any] | None:
    """The token Secret the service-account controller wrote for `service_account`.

    Found through the ServiceAccount's `secrets` references, one GET each: a node may not
    list Secrets, only get those its pods use (apiserver/authz.py)."""
    sa = await source.get(SERVICEACCOUNTS, namespace, service_account)
    for ref in (sa or {}).get("secrets") or []:
        secret = await source.get(SECRETS, namespace, str(ref.get("name", "")))
        if secret is None:
            continue
        annotations = secret.get("metadata", {}).get("annotations") or {}
        if (secret.get("type") == SERVICE_ACCOUNT_TOKEN
                and annotations.get(SERVICE_ACCOUNT_NAME_ANNOTATION) == service_account
                and (secret.get("data") or {}).get("token")):
            return secret
    return None


class DictSource:
    """Objects held in memory, keyed by (plural, namespace, name)."""

    def __init__(self, objects: Iterable[tuple[Resource, dict[str, Any]]] = ()) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        for resource, obj in objects:
            self.put(resource, obj)

    def put(self, resource: Resource, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.objects[(resource.plural, meta.get("namespace", ""), meta["name"])] = obj

    async def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((resource.plural, namespace, name))

    async def list(self, resource: Resource, namespace: str) -> list[dict[str, Any]]:
        return [o for (p, ns, _), o in self.objects.items()
                if p == resource.plural and ns == namespace]
