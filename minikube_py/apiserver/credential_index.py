"""What credentials are checked against, kept by watching them: every ServiceAccount
(uid, automountServiceAccountToken), the Secrets tokens are compared with
(service-account-token, bootstrap-token, node credentials) and, through the node graph
that follows pods already, every pod's uid, account and node.

kube-apiserver's token authenticators, TokenRequest's checks and the ServiceAccount
admission read listers, not etcd per request; so do ours (tokens.py, tokenrequest.py,
serviceaccount_admission.py). The index lags a write by the time its watch event takes,
so what it does not hold yet is read from etcd (kube's token getter falls back to a live
GET on a lister miss the same way): a ServiceAccount or pod made a moment ago works at
once. An account or pod held with another uid than the caller expects (deleted and made
again a moment ago) is read from etcd too before anything is refused. A deletion takes
effect once its watch event arrives, milliseconds later, instead of a TTL cache's seconds.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from minikube_py.api import errors
from minikube_py.api.resources import PODS, SECRETS, SERVICEACCOUNTS, Resource
from minikube_py.api.secret import BOOTSTRAP_TOKEN, NODE_CREDENTIALS_TYPE, SERVICE_ACCOUNT_TOKEN
from minikube_py.api.types import Object
from minikube_py.apiserver.following import follow
from minikube_py.apiserver.node_graph import NodeGraph, PodUses
from minikube_py.apiserver.objects import ObjectStore
from minikube_py.store import WatchHub

# The Secrets a token is checked against; no other Secret is held here.
CREDENTIAL_TYPES = frozenset({SERVICE_ACCOUNT_TOKEN, BOOTSTRAP_TOKEN, NODE_CREDENTIALS_TYPE})
Key = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True, slots=True)
class Account:
    """What admission and the authenticators need of a ServiceAccount."""

    uid: str
    automount: bool | None  # automountServiceAccountToken; None when it says nothing

    @classmethod
    def of(cls, sa: Object) -> Account:
        automount = sa.get("automountServiceAccountToken")
        return cls(str((sa.get("metadata") or {}).get("uid") or ""),
                   automount if isinstance(automount, bool) else None)


def _key(obj: Object) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class CredentialIndex:
    """(namespace, name) -> Account, and -> credential Secret; pods from `graph`."""

    def __init__(self, store: ObjectStore, hub: WatchHub, graph: NodeGraph) -> None:
        self.store = store
        self.hub = hub
        self.graph = graph
        self.accounts: dict[Key, Account] = {}
        self.secrets: dict[Key, Object] = {}

    async def run(self) -> None:
        await asyncio.gather(
            follow(self.store, self.hub, SERVICEACCOUNTS, listed=self._accounts_listed,
                   changed=self._account_changed),
            follow(self.store, self.hub, SECRETS, listed=self._secrets_listed,
                   changed=self._secret_changed))

    async def _accounts_listed(self, accounts: list[Object]) -> None:
        self.accounts = {_key(sa): Account.of(sa) for sa in accounts}

    async def _account_changed(self, change: str, sa: Object) -> None:
        if change == "DELETE":
            self.accounts.pop(_key(sa), None)
        else:
            self.accounts[_key(sa)] = Account.of(sa)

    async def _secrets_listed(self, secrets: list[Object]) -> None:
        self.secrets = {_key(s): s for s in secrets if s.get("type") in CREDENTIAL_TYPES}

    async def _secret_changed(self, change: str, secret: Object) -> None:
        if change == "DELETE" or secret.get("type") not in CREDENTIAL_TYPES:
            self.secrets.pop(_key(secret), None)  # a Secret's type cannot change, but still
        else:
            self.secrets[_key(secret)] = secret

    async def _live(self, resource: Resource, namespace: str, name: str) -> Object | None:
        try:
            return await self.store.get(resource, namespace, name)
        except errors.StatusError as e:
            if e.code != 404:
                raise
            return None

    async def account(self, namespace: str, name: str, *, uid: str | None = None
                      ) -> Account | None:
        """The ServiceAccount (with `uid`, if given), or None if there is none."""
        held = self.accounts.get((namespace, name))
        if held is not None and uid in (None, held.uid):
            return held
        live = await self._live(SERVICEACCOUNTS, namespace, name)
        account = None if live is None else Account.of(live)
        return account if account is not None and uid in (None, account.uid) else None

    async def pod(self, namespace: str, name: str, *, uid: str | None = None
                  ) -> PodUses | None:
        """The pod (with `uid`, if given), or None if there is none."""
        held = self.graph.pods.get((namespace, name))
        if held is not None and uid in (None, held.uid):
            return held
        live = await self._live(PODS, namespace, name)
        pod = None if live is None else PodUses.of(live)
        return pod if pod is not None and uid in (None, pod.uid) else None

    async def secret(self, namespace: str, name: str) -> Object | None:
        """The credential Secret, or None. A held Secret that does not match what a token
        says is not read again: a wrong guess at a bootstrap token costs no etcd read."""
        held = self.secrets.get((namespace, name))
        if held is not None:
            return held
        live = await self._live(SECRETS, namespace, name)
        return live if live is not None and live.get("type") in CREDENTIAL_TYPES else None
