"""The api-server as a composed aiohttp Application.

State lives under typed AppKeys (state.py); the etcd client, the watch hub and
the background loops (namespace cache, endpoint leases, compactor) are opened
in a cleanup_ctx and closed on shutdown, so a test can build the app against
any etcd and tear it down cleanly. The loops run supervised: one that crashes
is logged and restarted with back-off, never silently lost.
"""

from __future__ import annotations

import contextlib
import functools
import ssl
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from minikube_py.api import errors
from minikube_py.api.resources import EVENTS
from minikube_py.apiserver import front_proxy, inflight, routes
from minikube_py.apiserver.aggregation import Aggregator
from minikube_py.apiserver.aggregation_availability import Availability
from minikube_py.apiserver.aggregation_backend import Backends
from minikube_py.apiserver.allocators import Allocators
from minikube_py.apiserver.authn import AUTHENTICATORS, Authenticator, authenticate
from minikube_py.apiserver.bootstrap import bootstrap
from minikube_py.apiserver.crd_registry import CrdRegistry
from minikube_py.apiserver.credential_index import CredentialIndex
from minikube_py.apiserver.endpoint_leases import EndpointLeases
from minikube_py.apiserver.impersonation import impersonate
from minikube_py.apiserver.inflight import InflightLimits
from minikube_py.apiserver.metrics import Metrics
from minikube_py.apiserver.node_graph import NodeGraph
from minikube_py.apiserver.nslifecycle import NamespaceLifecycle
from minikube_py.apiserver.objects import ObjectStore
from minikube_py.apiserver.rbac_index import RbacIndex
from minikube_py.apiserver.settings import ApiServerSettings
from minikube_py.apiserver.state import (
    AGGREGATOR,
    ALLOCATORS,
    BACKENDS,
    CRDS,
    CREDENTIALS,
    FRONT_PROXY,
    HUB,
    KUBELET_TLS,
    METRICS,
    NAMESPACE_LIFECYCLE,
    NODE_GRAPH,
    OBJECTS,
    RBAC,
    SA_SIGNING_KEY,
    SETTINGS,
    STORAGE,
    WATCH_CACHE,
    WATCH_PUMPS,
    WEBHOOK_CLIENTS,
    WEBHOOKS,
)
from minikube_py.apiserver.warnings import warning_headers
from minikube_py.apiserver.watch import stop_watches
from minikube_py.apiserver.webhook_client import WebhookClients
from minikube_py.apiserver.webhook_index import WebhookIndex
from minikube_py.client.tasks import Loop, supervised
from minikube_py.store import Storage, WatchCache, WatchHub, snapshots
from minikube_py.store.compactor import compact_forever
from minikube_py.store.encryption import Encryption
from minikube_py.store.errors import StorageError
from minikube_py.store.etcdtls import EtcdTLS


def build_app(settings: ApiServerSettings, etcd_endpoints: list[str], etcd_tls: EtcdTLS | None,
              authenticators: list[Authenticator], kubelet_tls: ssl.SSLContext,
              sa_signing_key: rsa.RSAPrivateKey, encryption: Encryption | None = None
              ) -> web.Application:
    limits = InflightLimits(settings.max_requests_inflight,
                            settings.max_mutating_requests_inflight,
                            settings.max_watches_per_user)
    app = web.Application(middlewares=[routes.status_errors, warning_headers, authenticate,
                                       impersonate, inflight.middleware(limits)],
                          client_max_size=4 * 1024 * 1024)
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[METRICS].inflight = limits
    app[AUTHENTICATORS] = list(authenticators)
    app[KUBELET_TLS] = kubelet_tls
    app[SA_SIGNING_KEY] = sa_signing_key
    app[WATCH_PUMPS] = set()
    app.on_shutdown.append(stop_watches)
    app.cleanup_ctx.append(_storage_ctx(etcd_endpoints, etcd_tls, encryption))
    routes.add_routes(app)
    return app


def _snapshot_loop(settings: ApiServerSettings, endpoints: list[str], tls: EtcdTLS | None
                   ) -> dict[str, Loop]:
    """Scheduled snapshots, of the embedded etcd only (an external one is its owner's)."""
    if settings.etcd_servers or not settings.etcd_snapshot_interval:
        return {}
    return {"etcd-snapshots": functools.partial(
        snapshots.snapshot_forever, endpoints[0], snapshots.snapshot_dir(settings.data_dir),
        settings.etcd_snapshot_interval, settings.etcd_snapshot_retention, tls)}


def _storage_ctx(endpoints: list[str], tls: EtcdTLS | None, encryption: Encryption | None
                 ) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        storage = Storage(endpoints, observe=app[METRICS].observe_etcd, tls=tls,
                          encryption=encryption)
        await storage.open()
        hub = WatchHub(storage, queue_size=settings.watch_queue_size,
                       progress_every=settings.watch_progress_interval)
        app[STORAGE], app[HUB] = storage, hub
        app[WATCH_CACHE] = WatchCache(storage, hub)
        app[OBJECTS] = ObjectStore(storage, {EVENTS: settings.event_ttl})
        app[ALLOCATORS] = Allocators(storage, settings.service_cluster_ip_range,
                                     settings.node_port_range)
        lifecycle = app[NAMESPACE_LIFECYCLE] = NamespaceLifecycle(app[OBJECTS], hub)
        rbac = app[RBAC] = RbacIndex(app[OBJECTS], hub)
        node_graph = app[NODE_GRAPH] = NodeGraph(app[OBJECTS], hub)
        credentials = app[CREDENTIALS] = CredentialIndex(app[OBJECTS], hub, node_graph)
        crds = app[CRDS] = CrdRegistry(app[OBJECTS], hub, finalize=not settings.worker)
        app[FRONT_PROXY] = front_proxy.ensure(settings.pki_dir)
        backends = app[BACKENDS] = Backends(app[OBJECTS], app[FRONT_PROXY])
        aggregator = app[AGGREGATOR] = Aggregator(app[OBJECTS], hub, backends)
        webhooks = app[WEBHOOKS] = WebhookIndex(app[OBJECTS], hub)
        app[WEBHOOK_CLIENTS] = WebhookClients(app[OBJECTS])
        endpoint_leases = None  # set once our lease key is written: only then released
        try:
            async with contextlib.AsyncExitStack() as loops:
                await loops.enter_async_context(supervised(
                    {"namespace-lifecycle": lifecycle.run, "rbac-index": rbac.run,
                     "node-graph": node_graph.run, "credential-index": credentials.run,
                     "crd-registry": crds.run, "aggregator": aggregator.run,
                     "webhook-index": webhooks.run}))
                if not settings.worker:  # what happens once per api-server, not per worker
                    leases = EndpointLeases(app)
                    await bootstrap(app)
                    await leases.renew()
                    endpoint_leases = leases
                    await endpoint_leases.reconcile()
                    await loops.enter_async_context(supervised({
                        "kubernetes-endpoints": endpoint_leases.run,
                        "etcd-compactor": functools.partial(
                            compact_forever, storage, settings.compaction_interval,
                            hub.note_compacted),
                        "apiservice-availability": Availability(aggregator, app[OBJECTS]).run,
                        **_snapshot_loop(settings, endpoints, tls)}))
                await rbac.wait_synced()  # no request is decided before the policy is known
                await crds.synced.wait()  # nor a custom kind's before its CRD is known
                await aggregator.synced.wait()  # nor an aggregated one's before its APIService
                await webhooks.wait_synced()  # nor a write before its webhooks are known
                yield
        finally:
            if endpoint_leases is not None:
                with contextlib.suppress(StorageError, errors.StatusError):
                    await endpoint_leases.release()
            await backends.close()
            await app[WEBHOOK_CLIENTS].close()
            await app[WATCH_CACHE].close()
            await hub.close()
            await storage.close()
    return ctx
