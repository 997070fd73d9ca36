"""`minikube-py agent`: kubelet, node heartbeat, kubelet API, proxy and overlay.

Each part is a named, supervised task: if one ends or fails, the others are stopped
and the agent exits non-zero (the supervisor restarts it, and the restarted agent
adopts its containers). SIGTERM stops the agent but never the containers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import psutil
from aiohttp import web

from agent.announcer import Announcer, AnnounceSettings
from agent.apiservers import keep_fallbacks
from agent.kubelet import stats_routes
from agent.kubelet.cgroups import CgroupReader
from agent.kubelet.configz import configz
from agent.kubelet.debug import Debug, rule_backends
from agent.kubelet.kubelet import Kubelet
from agent.kubelet.node import NodeAgent
from agent.kubelet.runtime import DockerRuntime
from agent.kubelet.server import KubeletServer
from agent.kubelet.serving_tls import server_context
from agent.kubelet.stats_summary import SummaryProvider
from agent.kubelet.webhook_auth import WebhookAuth
from agent.netpol.enforcer import Enforcer, NetpolSettings
from agent.overlay import Overlay
from agent.proxy.proxier import Proxier
from agent.proxy.settings import ProxySettings
from agent.settings import AgentSettings
from cni_plugins import announce
from minikube_py.client import ApiClient, run_tasks
from minikube_py.lifetime import run_until_signalled

log = logging.getLogger(__name__)


def node_ip(settings: AgentSettings) -> str:
    """--node-ip, else the IPv4 address of --iface, else the source of the default route."""
    if settings.node_ip:
        return settings.node_ip
    if settings.iface:
        for addr in psutil.net_if_addrs().get(settings.iface, []):
            if addr.family == socket.AF_INET:
                return str(addr.address)
        raise ValueError(f"interface {settings.iface} has no IPv4 address")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
            return str(s.getsockname()[0])
        except OSError:
            return "127.0.0.1"


async def _serve_until_cancelled(runner: web.AppRunner) -> None:
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


async def run_async(settings: AgentSettings) -> None:
    ip = node_ip(settings)
    # A short connect timeout: a VIP whose holder is gone fails over in seconds.
    client = ApiClient.from_kubeconfig(settings.kubeconfig, connect_timeout=3.0)
    runtime = DockerRuntime(settings.docker_url or None, workers=max(settings.workers * 2, 8))
    kubelet = Kubelet(client, settings, runtime, ip)
    auth = WebhookAuth(lambda path, body: client.request("POST", path, json=body),
                       settings.node_name)
    server = KubeletServer(runtime, kubelet.container_id, auth,
                           lambda: configz(settings, server.port))
    Debug(runtime, settings.node_name, rule_backends).add_routes(server.app)
    stats_routes.add_routes(server.app, SummaryProvider(
        settings.node_name, CgroupReader(), kubelet.syncer.observed, fs_path=settings.state_dir))
    client_ca = Path(settings.client_ca_file).read_bytes() if settings.client_ca_file \
        else client.config.ca_data
    tls = server_context(Path(settings.serving_cert_file), Path(settings.serving_key_file),
                         client_ca, node=settings.node_name, ips=[ip])
    runner = await server.start(settings.bind_address, settings.kubelet_port, tls)
    # The Node advertises the port really bound (--kubelet-port 0 picks a free one).
    settings = dataclasses.replace(settings, kubelet_port=server.port)
    tasks: dict[str, Coroutine[Any, Any, Any]] = {
        "kubelet-api": _serve_until_cancelled(runner),
        "node": NodeAgent(client, settings, runtime, ip).run(),
        "kubelet": kubelet.run(),
        "apiserver-fallbacks": keep_fallbacks(client),
    }
    if settings.enable_proxy:
        tasks["proxy"] = Proxier(client, ProxySettings(
            cluster_cidr=settings.cluster_cidr, node_name=settings.node_name,
            health_check_address=settings.bind_address)).run()
    if settings.enable_overlay:
        tasks["overlay"] = Overlay(client, settings).run()
    if settings.enable_network_policy:
        tasks["network-policy"] = Enforcer(client, NetpolSettings(settings.node_name)).run()
    if settings.enable_lb_announce:
        try:
            iface = settings.iface or await asyncio.to_thread(announce.interface_of, ip)
            announcer = Announcer(client, AnnounceSettings(settings.node_name, iface))
            tasks["lb-announce"] = announcer.run()
        except announce.AnnounceError as e:
            log.warning("not announcing LoadBalancer addresses: %s", e)
    log.info("agent starting node=%s ip=%s parts=%s", settings.node_name, ip, ",".join(tasks))
    try:
        await run_tasks(tasks)
    finally:
        await client.close()
        await runtime.close()


def run(settings: AgentSettings) -> int:
    """Run until SIGTERM/SIGINT; containers are left running for the next agent."""
    if run_until_signalled(lambda: run_async(settings)):
        log.info("agent stopped node=%s", settings.node_name)
    return 0
