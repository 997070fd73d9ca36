"""The ingress controller's loop: every change to an Ingress, IngressClass, Service,
EndpointSlice or Secret enqueues the one key CONFIG; `sync` rebuilds the whole route
table from the caches, and when the rendered text or a certificate differs from what
HAProxy runs, checks the new configuration with `haproxy -c`, installs it and reloads.
Changes arriving while a reload runs coalesce into one more sync (the queue dedups).

Then it reports: a Warning Event per new problem (missing Service or Secret, bad
certificate, refused configuration) on the Ingress concerned, and the serving nodes'
addresses in each served Ingress's status.loadBalancer.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from collections.abc import Hashable
from pathlib import Path

from minikube_py.api.ingress import class_of
from minikube_py.api.ingressclass import is_default
from minikube_py.api.meta import key as key_of
from minikube_py.api.resources import (
    ENDPOINTSLICES,
    INGRESSCLASSES,
    INGRESSES,
    SECRETS,
    SERVICES,
)
from minikube_py.api.shape import dig
from minikube_py.api.types import Object
from minikube_py.client import ApiClient, Informer
from minikube_py.client.errors import NotFound
from minikube_py.client.loop import SyncLoop
from minikube_py.durable import write_file
from minikube_py.ingress import certs, haproxy, routes
from minikube_py.ingress.proxy import HAProxy, Paths, Refused, install
from minikube_py.ingress.settings import IngressSettings

log = logging.getLogger(__name__)
CONFIG = "config"
BY_SERVICE = "service"


def _service_of(piece: Object) -> list[str]:
    name = dig(piece, "metadata", "labels", routes.SERVICE_NAME_LABEL)
    namespace = dig(piece, "metadata", "namespace")
    return [f"{namespace}/{name}"] if name and namespace else []


class IngressController(SyncLoop):
    name = "ingress-controller"

    def __init__(self, client: ApiClient, settings: IngressSettings,
                 proxy: HAProxy | None = None) -> None:
        super().__init__(client)
        self.settings = settings
        state = Path(settings.state_dir)
        self.paths = Paths(state)
        self.proxy = proxy or HAProxy(self.paths, settings.haproxy)
        self.certs = certs.CertificateDir(state / "certs")
        self.ingresses, self.classes, self.services, self.slices, self.secrets = (
            Informer(client, r)
            for r in (INGRESSES, INGRESSCLASSES, SERVICES, ENDPOINTSLICES, SECRETS))
        self.slices.add_index(BY_SERVICE, _service_of)
        for informer in self.informers:
            informer.add_handlers(self._changed, lambda _old, _new: self._changed(None),
                                  self._changed)
        self.loaded: tuple[str, str] | None = None  # (config, crt-list) HAProxy runs
        self.reported: set[tuple[str, str, str]] = set()

    @property
    def informers(self) -> list[Informer]:
        return [self.ingresses, self.classes, self.services, self.slices, self.secrets]

    def _changed(self, _obj: Object | None) -> None:
        self.queue.add(CONFIG)

    def serves(self, ingress: Object) -> bool:
        """Ours: its class (or, without one, the default class) names our controller."""
        mine = [c for c in self.classes.list()
                if dig(c, "spec", "controller") == self.settings.controller]
        wanted = class_of(ingress)
        if wanted is None:
            return any(is_default(c) for c in mine)
        return any(dig(c, "metadata", "name") == wanted for c in mine)

    def build(self) -> tuple[list[Object], routes.RouteTable]:
        served = [i for i in self.ingresses.list() if self.serves(i)]
        sources = routes.Sources(service=self.services.get,
                                 slices=lambda k: self.slices.by_index(BY_SERVICE, k),
                                 secret=self.secrets.get)
        return served, routes.build(served, sources, certs.pem_of)

    async def sync(self, key: Hashable) -> None:
        served, table = self.build()
        problems = list(table.problems)
        try:
            await self.apply(table)
        except Refused as e:  # start/reload failures raise: retried with back-off
            log.error("haproxy refused the configuration, keeping the running one: %s", e)
            problems += [routes.Problem(key_of(i), "InvalidConfiguration", str(e)[:1024])
                         for i in served]
        await self.report(problems)
        await self.publish(served)

    async def apply(self, table: routes.RouteTable) -> None:
        self.certs.prepare()
        certs_changed = self.certs.sync({c.name: c.pem for c in table.certificates})
        crt_text = haproxy.crt_list(table.certificates,
                                    {c.name: self.certs.file(c.name) for c in table.certificates},
                                    self.certs.file(certs.DEFAULT_NAME))
        crt_path = self.paths.state_dir / \
            f"crt-list.{hashlib.sha256(crt_text.encode()).hexdigest()[:16]}"
        text = haproxy.render(table, haproxy.Listen(
            self.settings.bind_address, self.settings.http_port, self.settings.https_port,
            crt_path, self.settings.threads, self.settings.drain_seconds))
        if self.proxy.running and (text, crt_text) == self.loaded and not certs_changed:
            return
        if not crt_path.exists():
            write_file(crt_path, crt_text.encode())
        candidate = self.paths.state_dir / "haproxy.cfg.new"
        write_file(candidate, text.encode())
        await self.proxy.check(candidate)
        install(candidate, self.paths.config)
        if self.proxy.running:
            await self.proxy.reload()
        else:
            await self.proxy.start()
        self.loaded = (text, crt_text)
        for old in self.paths.state_dir.glob("crt-list.*"):
            if old != crt_path:
                old.unlink(missing_ok=True)
        log.info("haproxy configuration loaded hosts=%d backends=%d certificates=%d",
                 len(table.hosts), len(table.backends), len(table.certificates))

    async def report(self, problems: list[routes.Problem]) -> None:
        """One Warning Event per problem while it lasts (again if it comes back)."""
        current = {(p.key, p.reason, p.message) for p in problems}
        for ingress_key, reason, message in sorted(current - self.reported):
            ingress = self.ingresses.get(ingress_key)
            if ingress is not None:
                await self.recorder.event(ingress, "Warning", reason, message)
        self.reported = current

    async def publish(self, served: list[Object]) -> None:
        """status.loadBalancer.ingress = the serving nodes' addresses, on each served Ingress.
        The controllers of several nodes write the same list, so whichever writes first
        leaves the others nothing to do."""
        if not self.settings.publish_addresses:
            return
        wanted = [{"ip": address} for address in self.settings.publish_addresses]
        for ingress in served:
            if dig(ingress, "status", "loadBalancer", "ingress") == wanted:
                continue
            updated = copy.deepcopy(ingress)
            updated["status"] = {"loadBalancer": {"ingress": wanted}}
            try:
                await self.client.update(INGRESSES, updated, subresource="status")
            except NotFound:
                continue  # deleted meanwhile; a Conflict raises: retried with fresh caches

    async def close(self) -> None:
        await self.proxy.stop()
