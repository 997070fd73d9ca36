"""`--use-service-account-credentials`: each controller acts as its own service account
kube-system/<name> and holds only the rights of system:controller:<name>, as
kube-controller-manager's SAControllerClientBuilder does. The controller-manager's own
identity creates the accounts and asks TokenRequest for an expiring token per account,
renewed at 80% of its life; the shared informers stay on the manager's identity.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

from minikube_py.api.resources import SERVICEACCOUNTS
from minikube_py.client import ApiClient
from minikube_py.client.errors import AlreadyExists

log = logging.getLogger(__name__)

NAMESPACE = "kube-system"
TOKEN_SECONDS = 3600
RENEW_AT = 0.8


class ServiceAccountClients:
    """One ApiClient per controller service account, its token kept fresh by `run`."""

    def __init__(self, root: ApiClient, *, token_seconds: int = TOKEN_SECONDS) -> None:
        self.root = root
        self.token_seconds = token_seconds
        self.clients: dict[str, ApiClient] = {}
        self._renew_at: dict[str, float] = {}

    async def client_for(self, account: str) -> ApiClient:
        client = self.clients.get(account)
        if client is None:
            try:
                await self.root.create(SERVICEACCOUNTS, {
                    "apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": account, "namespace": NAMESPACE}}, NAMESPACE)
            except AlreadyExists:
                pass
            config = dataclasses.replace(self.root.config, token=await self._token(account),
                                         token_file=None)
            client = self.clients[account] = ApiClient(config=config)
        return client

    async def _token(self, account: str) -> str:
        answer = await self.root.create(SERVICEACCOUNTS, {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": self.token_seconds}}, NAMESPACE, name=account,
            subresource="token")
        self._renew_at[account] = time.monotonic() + RENEW_AT * self.token_seconds
        return str(answer["status"]["token"])

    async def run(self) -> None:
        """Renew each token before it expires (a failed renewal is retried soon)."""
        while True:
            due = min(self._renew_at.values(), default=time.monotonic() + 60)
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            for account, at in list(self._renew_at.items()):
                if at <= time.monotonic():
                    try:
                        self.clients[account].use_token(await self._token(account))
                    except Exception as e:  # noqa: BLE001 - logged and retried
                        log.warning("token renewal failed account=%s error=%s", account, e)
                        self._renew_at[account] = time.monotonic() + 10

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()
