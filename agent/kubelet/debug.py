"""The kubelet API's /debug/ paths, which `minikube-py trace` reads through the api-server
(nodes/NAME/proxy/debug/...), so a trace works the same in the lab and across real hosts:

  GET  /debug/dataplane?pods=NS/NAME,..  this node's links, addresses, routes, neighbours,
                                         FDB, ipsets and iptables-save -c, and the named
                                         pods' eth0 and host veth (cni_plugins/dataplane.py)
  POST /debug/probe?namespace=&pod=&dst=&port=
                                         one TCP connect from that pod's namespace, and the
                                         conntrack entry it made

Both need `nodes/proxy` on this node (see server.py), as every kubelet path Kubernetes
does not name otherwise. Names and addresses are checked before use: they reach a
Docker label filter, a namespace path and conntrack's argv.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable

from aiohttp import web

from agent.kubelet import labels as L
from agent.kubelet.runtime import DockerRuntime
from cni_plugins import dataplane, iptables_runner
from cni_plugins.iptables_runner import Backend, IptablesError
from minikube_py.api.meta import dns1123_label, dns1123_subdomain

log = logging.getLogger(__name__)

MAX_PODS = 64


def rule_backends(proxy_backend: str = "auto") -> list[Backend]:
    """The host firewall's backend and the proxy's, once each."""
    found = [iptables_runner.firewall()]
    try:
        proxy = iptables_runner.choose(proxy_backend)
    except IptablesError:
        return found
    return found if proxy == found[0] else [*found, proxy]


class Debug:
    def __init__(self, runtime: DockerRuntime, node: str,
                 backends: Callable[[], list[Backend]]) -> None:
        self.runtime, self.node, self.backends = runtime, node, backends

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/debug/dataplane", self.dataplane)
        app.router.add_post("/debug/probe", self.probe)

    async def dataplane(self, request: web.Request) -> web.Response:
        wanted = [key for key in request.query.get("pods", "").split(",") if key]
        if len(wanted) > MAX_PODS:
            raise web.HTTPBadRequest(text=f"pod: at most {MAX_PODS}")
        pods: dict[str, str] = {}
        for key in wanted:
            namespace, _, name = key.partition("/")
            path = await self._netns(namespace, name)
            if path:
                pods[key] = path
        try:
            state = await asyncio.to_thread(dataplane.snapshot, self.backends(), pods)
        except (IptablesError, OSError) as e:
            raise web.HTTPInternalServerError(text=f"reading the dataplane: {e}") from None
        state["node"] = self.node
        return web.json_response(state)

    async def probe(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            dst = str(ipaddress.IPv4Address(q.get("dst", "")))
            port = int(q.get("port", ""))
        except ValueError:
            raise web.HTTPBadRequest(text="dst must be an IPv4 address and port a number") \
                from None
        if not 0 < port < 65536:
            raise web.HTTPBadRequest(text=f"port {port}: must be 1-65535")
        path = await self._netns(q.get("namespace", ""), q.get("pod", ""))
        if path is None:
            raise web.HTTPNotFound(text=f"pod {q.get('namespace')}/{q.get('pod')} has no "
                                        f"running sandbox on node {self.node}")
        src = await asyncio.to_thread(dataplane.pod_address, path)
        result = await asyncio.to_thread(dataplane.probe, path, dst, port)
        entries = await asyncio.to_thread(dataplane.conntrack, "tcp", src, result.sport) \
            if src else []
        log.info("trace probe pod=%s/%s dst=%s:%d outcome=%s", q.get("namespace"),
                 q.get("pod"), dst, port, result.outcome)
        return web.json_response({"src": src, "sport": result.sport,
                                  "outcome": result.outcome, "conntrack": entries})

    async def _netns(self, namespace: str, name: str) -> str | None:
        """The network namespace path of the pod's running sandbox on this node."""
        if dns1123_label(namespace) or dns1123_subdomain(name):
            raise web.HTTPBadRequest(text=f"not a pod name: {namespace}/{name}")
        boxes = await self.runtime.list_containers({
            L.POD_NAMESPACE: namespace, L.POD_NAME: name, L.KIND: L.SANDBOX, L.NODE: self.node})
        for box in boxes:
            if box.get("State") == "running":
                pid = (await self.runtime.inspect(box["Id"]))["State"].get("Pid") or 0
                if pid:
                    return f"/proc/{pid}/ns/net"
        return None
