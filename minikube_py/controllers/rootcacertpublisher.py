"""The kube-root-ca.crt ConfigMap in every namespace, holding the cluster CA (the
controller-manager's --root-ca-file), as Kubernetes' root-ca-cert-publisher keeps it:
what the projected service-account volume's ca.crt comes from. Made again if deleted,
rewritten if changed; off without a CA file.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable
from pathlib import Path

from minikube_py.api.meta import join_key, split_key
from minikube_py.api.resources import CONFIGMAPS, NAMESPACES
from minikube_py.api.types import Object
from minikube_py.client import ApiClient
from minikube_py.client.errors import AlreadyExists, NotFound
from minikube_py.controllers.base import Controller, SharedInformers
from minikube_py.controllers.settings import ControllerManagerSettings

log = logging.getLogger(__name__)

NAME = "kube-root-ca.crt"


class RootCACertPublisher(Controller):
    name = "root-ca-cert-publisher"

    def __init__(self, client: ApiClient, settings: ControllerManagerSettings,
                 informers: SharedInformers | None = None) -> None:
        super().__init__(client, settings, informers)
        ca_file = settings.root_ca_file
        self.ca = Path(ca_file).read_text() if ca_file else None
        self.namespaces = self.watch(NAMESPACES)
        self.configmaps = self.watch(CONFIGMAPS)
        self.namespaces.add_handlers(self.enqueue, lambda old, new: self.enqueue(new))
        self.configmaps.add_handlers(on_update=lambda old, new: self._configmap(new),
                                     on_delete=self._configmap)

    def _configmap(self, cm: Object) -> None:
        if cm["metadata"]["name"] == NAME:
            self.queue.add(cm["metadata"]["namespace"])

    async def run(self) -> None:
        if self.ca is None:
            log.warning("no --root-ca-file: root-ca-cert-publisher is off")
            await asyncio.Event().wait()  # idle, not ended: an ended task stops the manager
        await super().run()

    async def sync(self, key: Hashable) -> None:
        namespace = split_key(str(key))[1]
        ns = self.namespaces.get(namespace)
        if ns is None or ns["metadata"].get("deletionTimestamp") or self.ca is None:
            return
        data = {"ca.crt": self.ca}
        current = self.configmaps.get(join_key(namespace, NAME))
        if current is None:
            try:
                await self.client.create(CONFIGMAPS, {
                    "apiVersion": "v1", "kind": "ConfigMap", "data": data,
                    "metadata": {"name": NAME, "namespace": namespace,
                                 "annotations": {"kubernetes.io/description": (
                                     "Contains a CA bundle that can be used to verify the "
                                     "kube-apiserver when using internal endpoints such as "
                                     "the internal service IP or kubernetes.default.svc. "
                                     "No other usage is guaranteed across distributions of "
                                     "Kubernetes clusters.")}}}, namespace)
            except AlreadyExists:
                pass  # the cache has not seen it yet; its event brings it back here
        elif current.get("data") != data:
            try:
                await self.client.update(CONFIGMAPS, {**current, "data": data})
            except NotFound:
                pass
