"""`minikube-py status`: one line per component, healthy or not, and why."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from minikube_py.cluster import dockerd, health
from minikube_py.cluster.components import load_plan, node_kubeconfig
from minikube_py.cluster.health import Health
from minikube_py.cluster.paths import ClusterPaths
from minikube_py.cluster.processes import pid_alive, read_pid
from minikube_py.cluster.state import ClusterState


def collect(paths: ClusterPaths, state: ClusterState) -> list[Health]:
    """Every check, in the order an operator would read them."""
    out = [_supervisor(paths)]
    out.append(Health("dockerd", dockerd.responds(), "answers" if dockerd.responds()
                      else "does not answer on /var/run/docker.sock"))
    out += _processes(paths)
    # A joined host has no admin credentials: it asks as its node, which may read Nodes.
    kubeconfig = (node_kubeconfig(paths, state.nodes[0], lab=False) if state.kind == "node"
                  else paths.admin_conf)
    if kubeconfig.exists():
        with_dns = any(c.name == "dns" for c in load_plan(paths))
        out += asyncio.run(_through_api(kubeconfig, state, with_dns))
    else:
        out.append(Health("api-server", False, f"no {kubeconfig}"))
    return out


def _supervisor(paths: ClusterPaths) -> Health:
    pid = read_pid(paths.supervisor_pid)
    return Health("supervisor", pid is not None,
                  f"pid {pid}" if pid else "not running (`minikube-py up` starts it)")


def _processes(paths: ClusterPaths) -> list[Health]:
    try:
        status = json.loads(paths.status_file.read_text()).get("components", {})
    except (FileNotFoundError, ValueError):
        status = {}
    out = []
    for c in load_plan(paths):
        st = status.get(c.name, {})
        pid, state = st.get("pid"), st.get("state", "unknown")
        alive = bool(pid) and pid_alive(pid) and state == "running"
        since = time.time() - st.get("since", time.time())
        detail = (f"pid {pid}, up {since:.0f} s" if alive else f"{state}, last exit "
                  f"{st.get('last_exit')}") + f", restarts {st.get('restarts', 0)}"
        out.append(Health(c.name, alive, detail))
    return out


async def _through_api(kubeconfig: Path, state: ClusterState, with_dns: bool) -> list[Health]:
    async with health.client_for(kubeconfig, timeout=3.0) as client:
        ready = await health.api_ready(client)
        out = [Health("api-server /readyz", ready, "ok" if ready else "not ready")]
        if not ready:
            return out
        if state.kind != "node":  # the control plane is another host's business
            for component in health.LEASE_COMPONENTS:
                out.append(await health.lease_health(client, component))
            if with_dns:
                out.append(await health.dns_health(client))
        out += await health.node_health(client, [n.name for n in state.nodes])
        return out
