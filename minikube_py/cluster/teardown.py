"""What `down` removes, and how it proves the host is left as it was.

Order matters: processes first (an agent still running would recreate what we delete),
then the nodes' containers (identified by the kubelet's node label, never anyone
else's), then the node network state through the owners' own cleanup functions (proxy
chains, overlay and bridge), then any process still carrying our state dir in its
command line (an embedded etcd orphaned by a kill -9).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os

import docker
import docker.errors
import psutil
import requests.exceptions

from agent.kubelet.labels import NODE as NODE_LABEL
from minikube_py.cluster import dockerd
from minikube_py.cluster.paths import ClusterPaths
from minikube_py.cluster.processes import terminate

log = logging.getLogger(__name__)

POD_BRIDGE = "cni0"


def our_processes(paths: ClusterPaths) -> list[psutil.Process]:
    """Live processes whose command line names our state dir (never this one or its parents)."""
    marker = str(paths.state_dir) + "/"
    spared = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if proc.pid in spared or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if any(marker in arg or arg == str(paths.state_dir) for arg in cmdline):
            found.append(proc)
    return found


def kill_leftovers(paths: ClusterPaths, grace: float = 5.0) -> list[int]:
    """Stop every component pid in status.json and every process of ours; returns survivors."""
    pids = {p.pid for p in our_processes(paths)}
    with contextlib.suppress(FileNotFoundError, ValueError):
        status = json.loads(paths.status_file.read_text())
        pids |= {c["pid"] for c in status.get("components", {}).values() if c.get("pid")}
    survivors = terminate(pids, grace)
    if survivors:
        log.warning("processes survived SIGKILL pids=%s", survivors)
    return survivors


def _docker() -> docker.DockerClient | None:
    try:
        client = docker.DockerClient(base_url=dockerd.SOCKET, timeout=30)
        client.ping()
        return client
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError):
        return None


def node_containers(nodes: list[str]) -> list[str]:
    """Ids of the containers the agents of `nodes` made (all states)."""
    client = _docker()
    if client is None:
        return []
    with contextlib.closing(client):
        return [c.id for n in nodes
                for c in client.containers.list(all=True, filters={"label": f"{NODE_LABEL}={n}"})]


def remove_containers(nodes: list[str]) -> int:
    """Force-remove every container labelled with one of `nodes`; returns how many."""
    client = _docker()
    if client is None:
        return 0
    removed = 0
    with contextlib.closing(client):
        for n in nodes:
            for c in client.containers.list(all=True, filters={"label": f"{NODE_LABEL}={n}"}):
                with contextlib.suppress(docker.errors.NotFound):
                    c.remove(force=True, v=True)
                    removed += 1
    log.debug("containers removed count=%d", removed)
    return removed


def clean_node_network() -> list[str]:
    """Run the owners' cleanups in this netns; returns what could not be cleaned and why.

    Each step is independent: one failing must not keep the others from running.
    """
    problems: list[str] = []
    for what, step in (("proxy rules", _proxy_rules), ("overlay device", _overlay_device),
                       ("pod forwarding rules", _forwarding_rules), ("pod bridge", _pod_bridge)):
        try:
            step()
        except Exception as e:  # noqa: BLE001 - reported to the user, the rest still runs
            problems.append(f"{what}: {e}")
    return problems


def _proxy_rules() -> None:
    from agent.proxy import backend
    from agent.proxy.proxier import remove_all

    for mode in backend.MODES:
        if backend.available(mode):
            asyncio.run(remove_all(backend.Backend(mode)))


def _overlay_device() -> None:
    from pyroute2 import IPRoute

    from cni_plugins import overlay

    with IPRoute() as ipr:
        overlay.delete_device(ipr)


def _forwarding_rules() -> None:
    from cni_plugins import forwarding

    forwarding.cleanup()


def _pod_bridge() -> None:
    """cni0 (the CNI plugin creates it on the first ADD; no one else removes it)."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        for index in ipr.link_lookup(ifname=POD_BRIDGE):
            ipr.link("del", index=index)
