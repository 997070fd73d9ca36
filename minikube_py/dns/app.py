"""`minikube-py dns`: informers -> zone -> UDP/TCP servers, plus health and registration.

The server answers only once its caches have synced (before that a name could be
NXDOMAIN for no reason), and /ready says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from minikube_py.api.resolvconf import host_resolv_conf
from minikube_py.api.resources import ENDPOINTSLICES, NAMESPACES, SERVICES
from minikube_py.client import ApiClient, Informer
from minikube_py.dns import registration
from minikube_py.dns.forward import Forwarder, Upstreams, parse_address
from minikube_py.dns.metrics import DnsMetrics
from minikube_py.dns.records import Zone, add_indexes
from minikube_py.dns.server import Resolver, UdpServer, serve_tcp_client
from minikube_py.dns.settings import DnsSettings

log = logging.getLogger(__name__)


def upstreams_of(settings: DnsSettings) -> Upstreams:
    """--upstream, else the host's resolv.conf (loopback stubs replaced by their upstreams)."""
    servers = settings.upstreams or tuple(
        host_resolv_conf(Path(settings.resolv_conf)).nameservers)
    return Upstreams(tuple(parse_address(s) for s in servers),
                     {d.lower().strip("."): tuple(parse_address(s) for s in servers)
                      for d, servers in settings.stub_domains.items()})


@dataclass
class Running:
    """What a started server exposes (tests read the ports it actually got)."""

    port: int
    health_port: int
    resolver: Resolver
    informers: list[Informer]

    @property
    def ready(self) -> bool:
        return all(i.has_synced for i in self.informers)


def _health_app(running: Running, metrics: DnsMetrics) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def ready(_: web.Request) -> web.Response:
        return web.Response(text="ok") if running.ready else \
            web.Response(status=503, text="informers not synced")

    async def metrics_page(_: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics_page)
    return app


async def listen(settings: DnsSettings, resolver: Resolver
                  ) -> tuple[asyncio.DatagramTransport, asyncio.Server]:
    """UDP and TCP on one port. With port 0 the kernel picks the UDP port, and that number
    may be taken for TCP (an outgoing connection's): then another is picked."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in settings.bind_address else socket.AF_INET
    tries = 1 if settings.port else 20
    while True:
        udp, _ = await loop.create_datagram_endpoint(
            lambda: UdpServer(resolver), local_addr=(settings.bind_address, settings.port),
            family=family, reuse_port=True)
        port = udp.get_extra_info("sockname")[1]
        try:
            tcp = await asyncio.start_server(
                lambda r, w: serve_tcp_client(resolver, r, w), settings.bind_address, port,
                family=family, reuse_address=True)
        except OSError as e:
            udp.close()
            tries -= 1
            if e.errno != errno.EADDRINUSE or not tries:
                raise
            continue
        return udp, tcp


@contextlib.asynccontextmanager
async def serving(settings: DnsSettings, client: ApiClient) -> AsyncIterator[Running]:
    """Informers running and synced, UDP+TCP and health listening; all closed on exit."""
    services, slices, namespaces = (Informer(client, r)
                                    for r in (SERVICES, ENDPOINTSLICES, NAMESPACES))
    add_indexes(services, slices)
    metrics = DnsMetrics()
    zone = Zone(settings.cluster_domain, services=services.cache, slices=slices.cache,
                namespaces=namespaces.cache, ttl=settings.ttl, serial=int(time.time()))
    forwarder = Forwarder(upstreams_of(settings), metrics, deadline=settings.forward_deadline,
                          try_timeout=settings.forward_try_timeout,
                          cache_size=settings.forward_cache_size)
    resolver = Resolver(zone, forwarder, metrics)
    informers = [services, slices, namespaces]
    for informer in informers:
        informer.add_handlers(lambda _o: resolver.invalidate(),
                              lambda _o, _n: resolver.invalidate(),
                              lambda _o: resolver.invalidate())
    tasks = [asyncio.create_task(i.run(), name=f"informer-{i.resource.plural}")
             for i in informers]
    udp = tcp = runner = None
    try:
        await asyncio.gather(*(i.wait_synced() for i in informers))
        udp, tcp = await listen(settings, resolver)
        port = udp.get_extra_info("sockname")[1]
        running = Running(port, 0, resolver, informers)
        runner = web.AppRunner(_health_app(running, metrics), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, settings.health_address, settings.health_port)
        await site.start()
        running.health_port = int(runner.addresses[0][1])
        log.info("dns serving address=%s:%d domain=%s upstreams=%s health=%s:%d",
                 settings.bind_address, port, settings.cluster_domain,
                 ",".join(f"{h}:{p}" for h, p in forwarder.upstreams.default) or "none",
                 settings.health_address, running.health_port)
        yield running
    finally:
        if runner is not None:
            await runner.cleanup()
        if tcp is not None:
            tcp.close()
        if udp is not None:
            udp.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run(settings: DnsSettings) -> None:
    """Serve until cancelled (SIGTERM): leave the kube-dns Endpoints on the way out."""
    async with ApiClient.from_kubeconfig(settings.kubeconfig) as client, \
            serving(settings, client) as running:
        # The first lists are most of what this process will ever hold (10,000 Services:
        # ~1M objects); frozen, they are no longer walked by every full collection, whose
        # pauses would otherwise be the answer latency's tail.
        gc.collect()
        gc.freeze()
        if settings.advertise_address:
            await registration.keep_registered(client, settings.advertise_address,
                                               running.port)
        else:
            await asyncio.Event().wait()
