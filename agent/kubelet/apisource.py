"""`ObjectSource` over the api-server: ConfigMaps, Secrets and SA tokens on demand."""

from __future__ import annotations

from typing import Any

from minikube_py.api.resources import Resource
from minikube_py.client import ApiClient
from minikube_py.client.errors import NotFound


class ApiSource:
    def __init__(self, client: ApiClient) -> None:
        self.client = client

    async def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self.client.get(resource, name, namespace=namespace)
        except NotFound:
            return None

    async def list(self, resource: Resource, namespace: str) -> list[dict[str, Any]]:
        return list((await self.client.list(resource, namespace=namespace)).get("items") or [])
