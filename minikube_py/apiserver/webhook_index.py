"""The admission webhooks this api-server calls, kept from a watch of both configuration
kinds (as kube-apiserver's webhook source reads an informer): a write consults memory,
never etcd, and a request with no webhook configured pays one empty-tuple check.

Webhooks are ordered as Kubernetes orders them: by configuration name, then by their
place in the configuration.
"""

from __future__ import annotations

import asyncio
import logging

from minikube_py.api.resources import (
    MUTATINGWEBHOOKCONFIGURATIONS,
    VALIDATINGWEBHOOKCONFIGURATIONS,
    Resource,
)
from minikube_py.api.shape import as_dict
from minikube_py.api.types import Object
from minikube_py.api.webhookrules import Webhook, compile_configuration
from minikube_py.apiserver.following import follow
from minikube_py.apiserver.objects import ObjectStore
from minikube_py.store import WatchHub

log = logging.getLogger(__name__)


class _Configurations:
    """name -> compiled webhooks of one kind, and their flattened, ordered view."""

    def __init__(self, mutating: bool) -> None:
        self.mutating = mutating
        self.by_name: dict[str, list[Webhook]] = {}
        self.ordered: tuple[Webhook, ...] = ()
        self.synced = asyncio.Event()

    async def listed(self, objs: list[Object]) -> None:
        self.by_name = {}
        for obj in objs:
            self._put(obj)
        self._reorder()
        self.synced.set()

    async def changed(self, change: str, obj: Object) -> None:
        if change == "DELETE":
            self.by_name.pop(str(as_dict(obj.get("metadata")).get("name")), None)
        else:
            self._put(obj)
        self._reorder()

    def _put(self, obj: Object) -> None:
        name = str(as_dict(obj.get("metadata")).get("name"))
        try:
            self.by_name[name] = compile_configuration(obj, mutating=self.mutating)
        except (ValueError, TypeError) as e:  # validated on write; never one bad object
            log.warning("webhook configuration skipped name=%s error=%s", name, e)
            self.by_name.pop(name, None)

    def _reorder(self) -> None:
        self.ordered = tuple(h for name in sorted(self.by_name) for h in self.by_name[name])
        log.info("admission webhooks mutating=%s count=%d", self.mutating, len(self.ordered))


class WebhookIndex:
    """The mutating and validating webhooks, current with their configurations."""

    def __init__(self, store: ObjectStore, hub: WatchHub) -> None:
        self.store = store
        self.hub = hub
        self._mutating = _Configurations(mutating=True)
        self._validating = _Configurations(mutating=False)

    @property
    def mutating(self) -> tuple[Webhook, ...]:
        return self._mutating.ordered

    @property
    def validating(self) -> tuple[Webhook, ...]:
        return self._validating.ordered

    async def run(self) -> None:
        await asyncio.gather(self._follow(MUTATINGWEBHOOKCONFIGURATIONS, self._mutating),
                             self._follow(VALIDATINGWEBHOOKCONFIGURATIONS, self._validating))

    async def _follow(self, resource: Resource, configurations: _Configurations) -> None:
        await follow(self.store, self.hub, resource, listed=configurations.listed,
                     changed=configurations.changed)

    async def wait_synced(self) -> None:
        await self._mutating.synced.wait()
        await self._validating.synced.wait()
