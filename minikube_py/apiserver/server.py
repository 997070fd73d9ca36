"""Running the api-server process: PKI, etcd (embedded or given), HTTPS, signals.

Start order: PKI and admin kubeconfig -> etcd healthy -> app (bootstrap objects)
-> listen. Stop order is the reverse, on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl

import uvloop
from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.sa_token import load_private_key
from minikube_py.apiserver import encryption_config, etcd_pki, pki
from minikube_py.apiserver.app import build_app
from minikube_py.apiserver.authn import StaticTokens, User
from minikube_py.apiserver.settings import ApiServerSettings
from minikube_py.apiserver.tokens import BootstrapTokens, NodeTokens, ServiceAccountTokens
from minikube_py.apiserver.workers import Workers, worker_argv
from minikube_py.store.embedded import EmbeddedEtcd, EtcdConfig

log = logging.getLogger(__name__)

ADMIN = User("admin", ("system:masters", "system:authenticated"))


class StartupError(Exception):
    """The api-server cannot start (data dir, etcd, port): one line for the operator."""


def tls_context(paths: pki.Pki) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(paths.serving_cert, paths.serving_key)
    ctx.set_alpn_protocols(["http/1.1"])  # aiohttp speaks HTTP/1.1 only
    return ctx


def kubelet_client_tls(paths: pki.Pki) -> ssl.SSLContext:
    """How the api-server dials kubelets: it presents its kubelet-client certificate and
    verifies the kubelet's serving certificate against the cluster CA (proxy.py names the
    node it expects)."""
    ctx = ssl.create_default_context(cafile=paths.ca_cert)
    ctx.load_cert_chain(paths.kubelet_client_cert, paths.kubelet_client_key)
    return ctx


async def serve(settings: ApiServerSettings, stop: asyncio.Event,
                serving: asyncio.Event) -> None:
    """Serve until `stop` is set (`serving` is set once listening); StartupError if it
    cannot get going. Cancelling it stops whatever it already started."""
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise StartupError(f"cannot create data dir {settings.data_dir}: {e.strerror}") from e
    extra = tuple(ip for ip in (settings.advertise_address, settings.bind_address)
                  if ip and ip not in ("0.0.0.0", "::")) + tuple(settings.tls_sans)
    paths = pki.ensure(settings.pki_dir, service_ip=settings.kubernetes_service_ip,
                       extra_sans=extra)
    token = paths.admin_token
    if not settings.worker:
        server = f"https://127.0.0.1:{settings.port}"
        pki.write_kubeconfig(settings.kubeconfig_path, server=server, ca_cert=paths.ca_cert,
                             token=token)
        for component, user in pki.COMPONENT_USERS.items():
            pki.write_kubeconfig(settings.component_kubeconfig_path(component), server=server,
                                 ca_cert=paths.ca_cert, token=paths.component_token(component),
                                 user=user)
    if not settings.worker and settings.encryption_provider_config is None:
        encryption_config.ensure_default(settings.pki_dir)
    try:
        encryption = encryption_config.load(settings.encryption_config_path)
    except encryption_config.ConfigError as e:
        raise StartupError(f"--encryption-provider-config: {e}") from e
    etcd: EmbeddedEtcd | None = None
    endpoints = list(settings.etcd_servers)
    etcd_tls = settings.etcd_tls
    runner: web.AppRunner | None = None
    workers: Workers | None = None
    try:
        if not endpoints:
            etcd_certs = etcd_pki.ensure(settings.pki_dir)
            etcd_tls = etcd_certs.client
            etcd = EmbeddedEtcd(EtcdConfig(settings.data_dir / "etcd", tls=etcd_certs.member,
                                           client_tls=etcd_tls))
            try:
                await etcd.start()
            except (OSError, RuntimeError, TimeoutError) as e:
                raise StartupError(f"embedded etcd did not start: {e}") from e
            endpoints = [etcd.client_url]
        tokens = {token: ADMIN,
                  **{paths.component_token(c): User(u, ("system:authenticated",))
                     for c, u in pki.COMPONENT_USERS.items()},
                  **{t: User(n, ("system:authenticated",))
                     for t, n in settings.extra_tokens.items()}}
        app = build_app(settings, endpoints, etcd_tls, [
            StaticTokens(tokens), NodeTokens(), ServiceAccountTokens(paths.sa_pub),
            BootstrapTokens()], kubelet_client_tls(paths), load_private_key(paths.sa_key.read_bytes()),
            encryption)
        runner = web.AppRunner(app, access_log=None, handle_signals=False,
                               shutdown_timeout=5.0,
                               keepalive_timeout=settings.idle_connection_timeout)
        try:
            await runner.setup()
        except errors.StatusError as e:
            raise StartupError(f"cannot bootstrap the cluster objects: {e.message}") from e
        site = web.TCPSite(runner, settings.bind_address, settings.port,
                           ssl_context=tls_context(paths), backlog=1024,
                           reuse_port=settings.workers > 1 or settings.worker)
        try:
            await site.start()
        except OSError as e:
            raise StartupError(f"cannot listen on {settings.bind_address}:{settings.port}: "
                               f"{e.strerror}") from e
        log.info("api-server serving address=%s port=%d etcd=%s", settings.bind_address,
                 settings.port, ",".join(endpoints))
        if settings.workers > 1 and not settings.worker:
            workers = Workers(worker_argv(settings, endpoints, etcd_tls), settings.workers - 1)
            await workers.start()
        serving.set()
        await stop.wait()
    finally:
        if workers is not None:
            await workers.stop()
        if runner is not None:
            await runner.cleanup()
        if etcd is not None:
            await etcd.stop()
        log.info("api-server stopped")


async def _main(settings: ApiServerSettings) -> None:
    """A signal while serving stops in order; a signal while still starting (etcd slow to
    come up, bootstrap retrying it) cancels the start, whose cleanup stops etcd."""
    stop, serving = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(settings, stop, serving))

    def on_signal() -> None:
        stop.set()
        if not serving.is_set():
            task.cancel()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        await task
    except asyncio.CancelledError:
        log.info("api-server start cancelled by a signal")


def run(settings: ApiServerSettings) -> int:
    uvloop.run(_main(settings))  # libuv transports and TLS: a few % less CPU per request
    return 0
