"""Where the kubelet reads ConfigMaps and Secrets from, and asks service-account tokens of.

A seam of our own: the kubelet passes an API-backed source, tests of the Docker side
pass `DictSource`. A missing object is `None`, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from minikube_py.api.resources import SERVICEACCOUNTS, Resource


class ObjectSource(Protocol):
    async def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""

    async def list(self, resource: Resource, namespace: str) -> list[dict[str, Any]]:
        """All objects of a kind in a namespace."""

    async def token(self, namespace: str, account: str, spec: dict[str, Any]
                    ) -> dict[str, Any] | None:
        """A TokenRequest's answer for the account (None: the account does not exist)."""


class DictSource:
    """Objects held in memory, keyed by (plural, namespace, name)."""

    def __init__(self, objects: Iterable[tuple[Resource, dict[str, Any]]] = ()) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.tokens_issued = 0
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

    async def token(self, namespace: str, account: str, spec: dict[str, Any]
                    ) -> dict[str, Any] | None:
        """A token naming what it was asked for, if the account is held."""
        if (SERVICEACCOUNTS.plural, namespace, account) not in self.objects:
            return None
        self.tokens_issued += 1
        return {"spec": spec, "status": {"token": f"token-{namespace}-{account}-"
                                                  f"{self.tokens_issued}"}}
