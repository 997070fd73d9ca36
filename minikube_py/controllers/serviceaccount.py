"""Service accounts: a `default` ServiceAccount in every namespace
(ServiceAccountController), and for every ServiceAccount a signed token kept
in a `kubernetes.io/service-account-token` Secret (TokenController), which the
agent projects into pods and the api-server accepts as that account.
Token Secrets whose account is gone (or was replaced) are deleted."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Hashable
from pathlib import Path
from typing import TYPE_CHECKING, cast

from minikube_py.api.meta import generated_name, join_key, split_key
from minikube_py.api.meta import key as object_key
from minikube_py.api.resources import NAMESPACES, SECRETS, SERVICEACCOUNTS
from minikube_py.api.sa_token import claims_for, load_private_key, sign_token
from minikube_py.api.secret import SERVICE_ACCOUNT_NAME_ANNOTATION, SERVICE_ACCOUNT_TOKEN
from minikube_py.api.types import Object
from minikube_py.client.errors import AlreadyExists, Conflict, NotFound
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
        if self.accounts.get(f"{key}/default") is not None:
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
        self.accounts.add_handlers(lambda sa: self._add("sa", sa),
                                   lambda old, new: self._add("sa", new),
                                   self._account_deleted)
        self.secrets.add_handlers(lambda s: self._add("secret", s),
                                  lambda old, new: self._add("secret", new),
                                  lambda s: self._add("sa", s, account=True))

    def _add(self, kind: str, obj: Object, account: bool = False) -> None:
        meta = obj["metadata"]
        if account:  # a token Secret went: its account may need a new one
            name = (meta.get("annotations") or {}).get(SERVICE_ACCOUNT_NAME_ANNOTATION)
            if name:
                self.queue.add(("sa", join_key(meta["namespace"], name)))
            return
        self.queue.add((kind, object_key(obj)))

    def _account_deleted(self, sa: Object) -> None:
        """Its token Secrets must go too."""
        for secret in self.secrets.by_index("account", object_key(sa)):
            self._add("secret", secret)

    async def run(self) -> None:
        if self.key is None:
            log.warning("no --service-account-private-key-file: token controller is off")
            await asyncio.Event().wait()  # idle, not ended: an ended task stops the manager
        await super().run()

    def object_for(self, item: Hashable) -> Object | None:
        kind, key = cast(tuple[str, str], item)  # what _add queues
        return (self.secrets if kind == "secret" else self.accounts).get(key)

    async def sync(self, item: Hashable) -> None:
        kind, key = cast(tuple[str, str], item)
        if kind == "secret":
            await self._check_secret(key)
        else:
            await self._ensure_token(key)

    def _tokens(self, sa: Object) -> list[Object]:
        uid = sa["metadata"]["uid"]
        return [s for s in self.secrets.by_index("account", f"{sa['metadata']['namespace']}/"
                                                            f"{sa['metadata']['name']}")
                if (s["metadata"].get("annotations") or {}).get(UID_ANNOTATION) == uid]

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
        if sa is None or sa["metadata"]["uid"] != annotations.get(UID_ANNOTATION):
            try:
                await self.client.delete(SECRETS, secret["metadata"]["name"], namespace)
            except NotFound:
                pass
        elif not (secret.get("data") or {}).get("token"):
            await self._fill(secret, sa)

    async def _ensure_token(self, key: str) -> None:
        sa = self.accounts.get(key)
        if sa is None or self._tokens(sa):
            return
        meta = sa["metadata"]
        secret_name = generated_name(f"{meta['name']}-token-")
        secret = {"apiVersion": "v1", "kind": "Secret", "type": SERVICE_ACCOUNT_TOKEN,
                  "metadata": {"name": secret_name, "namespace": meta["namespace"],
                               "annotations": {SERVICE_ACCOUNT_NAME_ANNOTATION: meta["name"],
                                               UID_ANNOTATION: meta["uid"]}},
                  "data": self._data(sa, secret_name)}
        await self.client.create(SECRETS, secret)
        refs = list(sa.get("secrets") or []) + [{"name": secret_name}]
        try:
            await self.client.patch(SERVICEACCOUNTS, meta["name"], {"secrets": refs},
                                    meta["namespace"], patch_type="merge")
        except (NotFound, Conflict):
            pass
        log.info("token created serviceaccount=%s secret=%s", key, secret_name)

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
        try:
            await self.client.patch(SECRETS, secret["metadata"]["name"], {"data": data},
                                    secret["metadata"]["namespace"], patch_type="merge")
        except NotFound:
            pass
