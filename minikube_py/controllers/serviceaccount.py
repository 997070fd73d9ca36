"""Service accounts: a `default` ServiceAccount in every namespace
(ServiceAccountController), and the legacy token Secrets (TokenController).

As Kubernetes >= 1.24, no token Secret is made for an account by itself: pods get
expiring tokens bound to them (the api-server's TokenRequest, asked by the kubelet). A
`kubernetes.io/service-account-token` Secret someone creates, annotated with its
account's name, is still filled (token, ca.crt, namespace) and tied to the account's uid;
it is deleted when its account is gone (or was replaced)."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Hashable
from pathlib import Path
from typing import TYPE_CHECKING

from minikube_py.api.meta import join_key, split_key
from minikube_py.api.meta import key as object_key
from minikube_py.api.resources import NAMESPACES, SECRETS, SERVICEACCOUNTS
from minikube_py.api.sa_token import claims_for, load_private_key, sign_token
from minikube_py.api.secret import SERVICE_ACCOUNT_NAME_ANNOTATION, SERVICE_ACCOUNT_TOKEN
from minikube_py.api.types import Object
from minikube_py.client.errors import AlreadyExists, NotFound
from minikube_py.controllers.base import Controller, ensure_index

if TYPE_CHECKING:
    from minikube_py.client import ApiClient
    from minikube_py.controllers.base import SharedInformers
    from minikube_py.controllers.settings import ControllerManagerSettings

log = logging.getLogger(__name__)

UID_ANNOTATION = "kubernetes.io/service-account.uid"


class ServiceAccountController(Controller):
    name = "serviceaccount-controller"

    def __init__(self, client: ApiClient, settings: ControllerManagerSettings,
                 informers: SharedInformers | None = None) -> None:
        super().__init__(client, settings, informers)
        self.namespaces = self.watch(NAMESPACES)
        self.accounts = self.watch(SERVICEACCOUNTS)
        self.namespaces.add_handlers(self.enqueue, lambda old, new: self.enqueue(new))
        self.accounts.add_handlers(on_delete=lambda sa: self.queue.add(
            sa["metadata"]["namespace"]))

    async def sync(self, item: Hashable) -> None:
        key = str(item)  # "namespace/name" (or "name")
        ns = self.namespaces.get(key)
        if ns is None or ns["metadata"].get("deletionTimestamp"):
            return
        if self.accounts.get(join_key(key, "default")) is not None:
            return
        try:
            await self.client.create(SERVICEACCOUNTS, {
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": key}})
        except AlreadyExists:
            pass


def _b64(text: str | bytes) -> str:
    return base64.b64encode(text if isinstance(text, bytes) else text.encode()).decode()


def _account_of(secret: Object) -> list[str]:
    """Index a token Secret by "namespace/account"."""
    if secret.get("type") != SERVICE_ACCOUNT_TOKEN:
        return []
    name = (secret["metadata"].get("annotations") or {}).get(SERVICE_ACCOUNT_NAME_ANNOTATION,
                                                             "")
    return [join_key(secret["metadata"]["namespace"], name)]


class TokenController(Controller):
    name = "serviceaccount-token-controller"

    def __init__(self, client: ApiClient, settings: ControllerManagerSettings,
                 informers: SharedInformers | None = None) -> None:
        super().__init__(client, settings, informers)
        key_file = settings.service_account_private_key_file
        self.key = load_private_key(Path(key_file).read_bytes()) if key_file else None
        self.root_ca = Path(settings.root_ca_file).read_bytes() if settings.root_ca_file else b""
        self.accounts = self.watch(SERVICEACCOUNTS)
        self.secrets = self.watch(SECRETS)
        ensure_index(self.secrets, "account", _account_of)
        self.accounts.add_handlers(on_delete=self._account_deleted)
        self.secrets.add_handlers(self._add, lambda old, new: self._add(new))

    def _add(self, secret: Object) -> None:
        self.queue.add(object_key(secret))

    def _account_deleted(self, sa: Object) -> None:
        """Its token Secrets must go too."""
        for secret in self.secrets.by_index("account", object_key(sa)):
            self._add(secret)

    async def run(self) -> None:
        if self.key is None:
            log.warning("no --service-account-private-key-file: token controller is off")
            await asyncio.Event().wait()  # idle, not ended: an ended task stops the manager
        await super().run()

    def object_for(self, item: Hashable) -> Object | None:
        return self.secrets.get(str(item))

    async def sync(self, item: Hashable) -> None:
        await self._check_secret(str(item))

    async def _check_secret(self, key: str) -> None:
        secret = self.secrets.get(key)
        if secret is None or secret.get("type") != SERVICE_ACCOUNT_TOKEN:
            return
        annotations = secret["metadata"].get("annotations") or {}
        owner = annotations.get(SERVICE_ACCOUNT_NAME_ANNOTATION, "")
        namespace, _ = split_key(key)
        sa = self.accounts.get(join_key(namespace, owner))
        if sa is None:
            try:  # confirm live: the cache may not have seen a new account yet
                sa = await self.client.get(SERVICEACCOUNTS, owner, namespace)
            except NotFound:
                sa = None
        uid = annotations.get(UID_ANNOTATION)
        if sa is None or (uid and sa["metadata"]["uid"] != uid):
            try:
                await self.client.delete(SECRETS, secret["metadata"]["name"], namespace)
            except NotFound:
                pass
        elif not uid or not (secret.get("data") or {}).get("token"):
            await self._fill(secret, sa)

    def _data(self, sa: Object, secret_name: str) -> dict[str, str]:
        assert self.key is not None
        meta = sa["metadata"]
        token = sign_token(self.key, claims_for(meta["namespace"], meta["name"], meta["uid"],
                                                secret_name))
        data = {"token": _b64(token), "namespace": _b64(meta["namespace"])}
        if self.root_ca:
            data["ca.crt"] = _b64(self.root_ca)
        return data

    async def _fill(self, secret: Object, sa: Object) -> None:
        data = {**(secret.get("data") or {}), **self._data(sa, secret["metadata"]["name"])}
        patch = {"metadata": {"annotations": {UID_ANNOTATION: sa["metadata"]["uid"]}},
                 "data": data}
        try:
            await self.client.patch(SECRETS, secret["metadata"]["name"], patch,
                                    secret["metadata"]["namespace"], patch_type="merge")
        except NotFound:
            pass
        log.info("token filled secret=%s/%s", secret["metadata"]["namespace"],
                 secret["metadata"]["name"])
