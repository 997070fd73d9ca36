"""Token cleaner (kube-controller-manager's tokencleaner, which kubeadm turns on): deletes
a bootstrap token's Secret once its `expiration` has passed, so `token list` shows live
tokens only. The authenticator refuses an expired token by itself; this is the tidying.

Only Secrets of type bootstrap.kubernetes.io/token in kube-system are looked at; the
delete carries the Secret's uid as a precondition (a token made again under the same id
is not taken for the expired one).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable
from typing import TYPE_CHECKING

from minikube_py.api.meta import parse_time, split_key
from minikube_py.api.resources import SECRETS
from minikube_py.api.secret import BOOTSTRAP_TOKEN, data_field
from minikube_py.api.types import Object
from minikube_py.client.errors import Conflict, NotFound
from minikube_py.client.loop import cached
from minikube_py.controllers.base import Controller

if TYPE_CHECKING:
    from minikube_py.client import ApiClient
    from minikube_py.controllers.base import SharedInformers
    from minikube_py.controllers.settings import ControllerManagerSettings

log = logging.getLogger(__name__)
NAMESPACE = "kube-system"


def expires_in(secret: Object, now: float) -> float | None:
    """Seconds until the bootstrap token expires (<= 0: expired); None: not a bootstrap
    token of kube-system, no (readable) expiration, or already being deleted."""
    meta = secret["metadata"]
    if secret.get("type") != BOOTSTRAP_TOKEN or meta.get("namespace") != NAMESPACE \
            or meta.get("deletionTimestamp"):
        return None
    try:
        return parse_time(data_field(secret, "expiration")).timestamp() - now
    except ValueError:
        return None


class TokenCleaner(Controller):
    name = "token-cleaner"

    def __init__(self, client: ApiClient, settings: ControllerManagerSettings,
                 informers: SharedInformers | None = None) -> None:
        super().__init__(client, settings, informers)
        self.secrets = self.watch(SECRETS)
        self.secrets.add_handlers(self._maybe, lambda old, new: self._maybe(new))
        self.clock = time.time

    def _maybe(self, secret: Object) -> None:
        if expires_in(secret, self.clock()) is not None:
            self.enqueue(secret)

    def object_for(self, key: Hashable) -> Object | None:
        return cached(self.secrets, key)

    async def sync(self, key: Hashable) -> None:
        assert isinstance(key, str)
        secret = self.secrets.get(key)
        if secret is None or not self.due(key, expires_in(secret, self.clock())):
            return
        namespace, name = split_key(key)
        try:
            await self.client.delete(SECRETS, name, namespace,
                                     preconditions={"uid": secret["metadata"]["uid"]})
        except (NotFound, Conflict):
            return
        log.info("expired bootstrap token deleted secret=%s", key)
