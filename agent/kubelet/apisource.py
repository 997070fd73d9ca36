"""`ObjectSource` over the api-server: ConfigMaps, Secrets and SA tokens on demand."""

from __future__ import annotations

from typing import Any

from minikube_py.api.resources import SERVICEACCOUNTS, Resource
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

    async def token(self, namespace: str, account: str, spec: dict[str, Any]
                    ) -> dict[str, Any] | None:
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {k: v for k, v in spec.items() if v is not None}}
        try:
            answer: dict[str, Any] = await self.client.create(
                SERVICEACCOUNTS, body, namespace, name=account, subresource="token")
        except NotFound:
            return None
        return answer
