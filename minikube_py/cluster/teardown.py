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
import signal
import time

import docker
import docker.errors
import psutil
import requests.exceptions

from agent.kubelet.labels import NODE as NODE_LABEL
from minikube_py.cluster import dockerd
from minikube_py.cluster.paths import ClusterPaths
from minikube_py.cluster.state import pid_alive

log = logging.getLogger(__name__)


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
    """SIGTERM, then SIGKILL, every component pid in status.json and every process of ours."""
    pids = {p.pid for p in our_processes(paths)}
    with contextlib.suppress(FileNotFoundError, ValueError):
        status = json.loads(paths.status_file.read_text())
        pids |= {c["pid"] for c in status.get("components", {}).values() if c.get("pid")}
    pids = {p for p in pids if pid_alive(p)}
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        pids = {p for p in pids if pid_alive(p)}
        if not pids:
            break
    if pids:
        log.warning("processes survived SIGKILL pids=%s", sorted(pids))
    return sorted(pids)


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
    """Run the owners' cleanups in this netns; returns what could not be cleaned and why."""
    problems: list[str] = []
    try:
        from agent.proxy import backend as proxy_backend
        from agent.proxy.proxier import remove_all
    except ImportError as e:
        problems.append(f"proxy rules: cleanup unavailable ({e})")
    else:
        for mode in proxy_backend.MODES:
            if proxy_backend.available(mode):
                asyncio.run(remove_all(proxy_backend.Backend(mode)))
    try:
        from cni_plugins.overlay import cleanup as overlay_cleanup  # type: ignore[attr-defined]
    except ImportError as e:
        problems.append(f"overlay: cleanup unavailable ({e})")
    else:
        overlay_cleanup()
    return problems
