"""Service health checks: kube-proxy's healthCheckNodePort server.

A LoadBalancer Service with externalTrafficPolicy Local gets a healthCheckNodePort; on
that port every node answers 200 when it has a ready endpoint of the Service and 503
when it has none (or its proxy is not syncing), so a load balancer in front sends
traffic only to nodes that keep it local. The body and headers are kube-proxy's
(pkg/proxy/healthcheck/service_health.go), which load balancers already parse.

One aiohttp runner, one listening site per port; the port a request came in on says
which Service it asks about.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceHealth:
    namespace: str
    name: str
    local_endpoints: int


def body(health: ServiceHealth, proxy_healthy: bool) -> str:
    """kube-proxy's response body, byte for byte."""
    return (f'{{\n\t"service": {{\n\t\t"namespace": "{health.namespace}",\n'
            f'\t\t"name": "{health.name}"\n\t}},\n'
            f'\t"localEndpoints": {health.local_endpoints},\n'
            f'\t"serviceProxyHealthy": {"true" if proxy_healthy else "false"}\n}}')


class HealthCheckServer:
    """Listens on each Service's healthCheckNodePort while the Service has one."""

    def __init__(self, bind_address: str = "0.0.0.0",
                 proxy_healthy: Callable[[], bool] = lambda: True) -> None:
        self.bind_address = bind_address
        self.proxy_healthy = proxy_healthy
        self.services: dict[int, ServiceHealth] = {}
        self._sites: dict[int, web.TCPSite] = {}
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        health = self.services.get(sockname[1]) if sockname else None
        if health is None:
            return web.Response(status=404)
        healthy = self.proxy_healthy()
        ok = health.local_endpoints > 0 and healthy
        return web.Response(
            status=200 if ok else 503, text=body(health, healthy),
            content_type="application/json",
            headers={"X-Content-Type-Options": "nosniff",
                     "X-Load-Balancing-Endpoint-Weight": str(health.local_endpoints)})

    async def update(self, services: dict[int, ServiceHealth]) -> None:
        """Serve exactly `services` (port -> health): new ports opened, gone ones closed.
        A port that cannot be bound is logged and tried again at the next update."""
        self.services = dict(services)
        if self._runner is None:
            if not services:
                return
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
        for port in sorted(self._sites.keys() - services.keys()):
            await self._sites.pop(port).stop()
            log.info("health check port closed port=%d", port)
        for port in sorted(services.keys() - self._sites.keys()):
            site = web.TCPSite(self._runner, self.bind_address, port, reuse_address=True)
            try:
                await site.start()
            except OSError as e:
                log.error("cannot listen for service health checks port=%d service=%s/%s "
                          "error=%s", port, services[port].namespace, services[port].name, e)
                continue
            self._sites[port] = site
            log.info("health check port open port=%d service=%s/%s", port,
                     services[port].namespace, services[port].name)

    @property
    def ports(self) -> set[int]:
        return set(self._sites)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner, self._sites = None, {}
