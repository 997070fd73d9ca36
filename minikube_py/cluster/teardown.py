"""What `down` removes, and how it proves the host is left as it was.

Order matters: processes first (an agent still running would recreate what we delete),
then the nodes' containers (identified by the kubelet's node label, never anyone
else's), then what the agents mounted in their pods' directories, then the node network state through the owners' own cleanup functions
(`agent.proxy.cleanup`, `agent.overlay.cleanup`), then any process still carrying our state dir in its
command line (an embedded etcd orphaned by a kill -9).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import psutil

from agent import cni_config
from agent.kubelet import subpath
from agent.kubelet.errors import RuntimeUnavailable
from agent.kubelet.labels import NODE as NODE_LABEL
from agent.kubelet.runtime import DockerRuntime
from agent.netpol import cleanup as netpol_cleanup
from agent.overlay import cleanup as overlay_cleanup
from agent.proxy import cleanup as proxy_cleanup
from agent.settings import AgentSettings
from minikube_py.cluster import dockerd
from minikube_py.cluster.paths import ClusterPaths
from minikube_py.cluster.processes import terminate
from minikube_py.cluster.state import NodeRecord

log = logging.getLogger(__name__)

POD_BRIDGE = cni_config.BRIDGE


def our_processes(paths: ClusterPaths) -> list[psutil.Process]:
    """Live processes whose command line names our state dir (never this one or its parents).

    Only in our PID namespace: a container's processes are visible here too, and one running
    its own cluster (a kind-style host, install.sh's default paths) names the same dir."""
    marker = str(paths.state_dir) + "/"
    spared = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    own_namespace = _pid_namespace("self")
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if proc.pid in spared or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if _pid_namespace(str(proc.pid)) != own_namespace:
            continue
        if any(marker in arg or arg == str(paths.state_dir) for arg in cmdline):
            found.append(proc)
    return found


def _pid_namespace(pid: str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:  # gone meanwhile
        return None


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


def remove_containers(nodes: list[str]) -> int:
    """Force-remove every container labelled with one of `nodes`; returns how many."""
    if not dockerd.responds():
        return 0
    try:
        runtime = DockerRuntime(dockerd.SOCKET, workers=1, timeout=30)
    except RuntimeUnavailable:
        return 0
    removed = asyncio.run(_remove_containers(runtime, nodes))
    log.debug("containers removed count=%d", removed)
    return removed


async def _remove_containers(runtime: DockerRuntime, nodes: list[str]) -> int:
    try:
        removed = 0
        for n in nodes:
            for c in await runtime.list_containers({NODE_LABEL: n}):
                removed += await runtime.remove(c["Id"])
        return removed
    finally:
        await runtime.close()


def unmount_pods(paths: ClusterPaths, nodes: list[NodeRecord], lab: bool) -> list[str]:
    """Unmount what the nodes' agents mounted in their pods' directories (Memory emptyDirs,
    pinned subPaths, NFS volumes): agents run in the host's mount namespace, a lab's too,
    so their mounts outlive them. Before anything removes the tree: a bind left in it
    would carry the removal into the volume it joins (a hostPath's files). Returns what
    stayed mounted."""
    problems = []
    for node in nodes:
        pods = Path(agent_settings(paths, node, lab).state_dir) / "pods"
        try:
            subpath.unmount(pods)
        except OSError as e:
            problems.append(f"mount under {pods}: {e}")
    return problems


def agent_settings(paths: ClusterPaths, node: NodeRecord, lab: bool) -> AgentSettings:
    """The settings the node's agent ran with, as far as its cleanups need them."""
    node_dir = paths.node_dir(node.name, lab)
    return AgentSettings(node_name=node.name, node_ip=node.ip, iface=node.iface or "",
                         state_dir=str(node_dir), cni_conf_dir=str(node_dir / "cni" / "net.d"))


def clean_node_network(settings: AgentSettings) -> list[str]:
    """The owners' cleanups for a node on this host's own network namespace (a single
    node, a joined host): proxy chains, network policy rules and sets, then VXLAN device, pod bridge, forwarding rules,
    CNI config and plugin. Returns what could not be cleaned and why; each step runs even
    if another failed."""
    problems: list[str] = []
    steps: tuple[tuple[str, Callable[[], object]], ...] = (
        ("proxy rules", proxy_cleanup),
        ("network policy rules", netpol_cleanup),
        ("overlay and pod network", functools.partial(overlay_cleanup, settings)))
    for what, step in steps:
        try:
            step()
        except Exception as e:  # noqa: BLE001 - reported to the user, the rest still runs
            problems.append(f"{what}: {e}")
    return problems


def clean_cni_install(settings: AgentSettings) -> None:
    """The CNI plugin the agents installed into the shared /opt/cni/bin (lab nodes' own
    network state goes with their namespaces)."""
    cni_config.cleanup(settings)
