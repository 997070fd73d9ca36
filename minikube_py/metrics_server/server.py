"""`minikube-py metrics-server`: scrape every node each resolution, serve metrics.k8s.io.

Start order: the front-proxy trust (flags, else the extension-apiserver-authentication
ConfigMap the api-server publishes), node and pod informers synced, then HTTPS on the
secure port (the api-server's APIService v1beta1.metrics.k8s.io points its Service
there), while the scrape loop fills the storage. It runs with its own service account:
list/watch nodes and pods, get nodes/metrics, create SubjectAccessReviews, read that
ConfigMap (bootstrap_policy.py grants exactly these).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from pathlib import Path

from aiohttp import web

from minikube_py.api.resources import CONFIGMAPS, NODES, PODS
from minikube_py.api.shape import as_dict
from minikube_py.client import ApiClient, Informer
from minikube_py.client.tasks import supervised
from minikube_py.metrics_server import api
from minikube_py.metrics_server.requestheader import RequestHeaderConfig
from minikube_py.metrics_server.scrape import Scraper
from minikube_py.metrics_server.settings import MetricsServerSettings
from minikube_py.metrics_server.storage import MetricsStorage

log = logging.getLogger(__name__)

AUTH_CONFIGMAP = ("kube-system", "extension-apiserver-authentication")


async def requestheader_config(client: ApiClient, settings: MetricsServerSettings
                               ) -> RequestHeaderConfig:
    if settings.requestheader_client_ca_file:
        return RequestHeaderConfig(Path(settings.requestheader_client_ca_file).read_bytes(),
                                   settings.requestheader_allowed_names)
    namespace, name = AUTH_CONFIGMAP
    found = await client.get(CONFIGMAPS, name, namespace=namespace)
    return RequestHeaderConfig.from_configmap(as_dict(found.get("data")))


def kubelet_tls(client: ApiClient, insecure: bool) -> ssl.SSLContext:
    """Kubelets' serving certificates are checked against the cluster CA (they carry the
    node's addresses), unless --kubelet-insecure-tls."""
    context = ssl.create_default_context()
    if insecure or client.config.ca_data is None:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context.load_verify_locations(cadata=client.config.ca_data.decode())
    return context


async def scrape_forever(scraper: Scraper, nodes: Informer, storage: MetricsStorage,
                         resolution: float) -> None:
    while True:
        started = time.monotonic()
        results = await scraper.scrape(nodes.list())
        storage.store(results)
        log.info("scrape done nodes=%d answered=%d seconds=%.3f", len(nodes.list()),
                 len(results), time.monotonic() - started)
        await asyncio.sleep(max(0.0, resolution - (time.monotonic() - started)))


async def serve(settings: MetricsServerSettings, serving: asyncio.Event | None = None) -> None:
    async with ApiClient.from_kubeconfig(settings.kubeconfig) as client:
        config = await requestheader_config(client, settings)
        nodes, pods = (Informer(client, r)
                       for r in (NODES, PODS))
        storage = MetricsStorage()
        scraper = Scraper(client.config.token or "", kubelet_tls(
            client, settings.kubelet_insecure_tls), timeout=settings.metric_resolution * 0.9)
        app = api.build(storage=storage, client=client, nodes=nodes, pods=pods,
                        requestheader=config)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        try:
            async with supervised({"node-informer": nodes.run, "pod-informer": pods.run}):
                await nodes.wait_synced()
                await pods.wait_synced()
                await runner.setup()
                site = web.TCPSite(runner, settings.bind_address, settings.secure_port,
                                   ssl_context=config.serving_context(
                                       settings.tls_cert_file, settings.tls_private_key_file))
                await site.start()
                log.info("metrics-server serving address=%s port=%d resolution=%ss",
                         settings.bind_address, settings.secure_port,
                         settings.metric_resolution)
                if serving is not None:
                    serving.set()
                await scrape_forever(scraper, nodes, storage, settings.metric_resolution)
        finally:
            with contextlib.suppress(Exception):
                await scraper.close()
            await runner.cleanup()
