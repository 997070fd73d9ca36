"""Is the cluster working? Readiness waits for `up` and the health table of `status`.

Health is judged from outside, the way an operator would: the process is alive under the
supervisor, the api-server answers /readyz, the scheduler and controller-manager keep
renewing their leader Leases, and each node reports Ready.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from minikube_py.api.meta import parse_time
from minikube_py.api.resources import ENDPOINTS, LEASES, NODES
from minikube_py.api.types import LeaseSpec
from minikube_py.client import ApiClient
from minikube_py.client.errors import ClientError, NotFound

LEASE_COMPONENTS = {"scheduler": "kube-scheduler", "controller-manager": "kube-controller-manager"}
LEASE_STALE_AFTER = 30.0


@dataclasses.dataclass(frozen=True)
class Health:
    """One line of `minikube-py status`."""

    name: str
    ok: bool
    detail: str


def client_for(kubeconfig: Path, timeout: float = 5.0) -> ApiClient:
    """A client that fails fast: health checks must not hang on a dead server."""
    return ApiClient.from_kubeconfig(kubeconfig, timeout=timeout, retries=1)  # 1 attempt


async def api_ready(client: ApiClient) -> bool:
    try:
        await client.request("GET", "/readyz")
        return True
    except ClientError:
        return False
    except ValueError:  # /readyz answers "ok" as text, which is not JSON
        return True


def node_ready(node: dict[str, Any]) -> bool:
    for cond in node.get("status", {}).get("conditions", []):
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


async def wait_api(client: ApiClient, timeout: float, progress: Callable[[str], None]) -> float:
    """Seconds until /readyz answered; TimeoutError after `timeout`."""
    start = time.monotonic()
    while not await api_ready(client):
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"api-server not ready after {timeout:.0f} s")
        await asyncio.sleep(0.2)
    elapsed = time.monotonic() - start
    progress(f"api-server ready ({elapsed:.1f} s)")
    return elapsed


async def _renewed_since(client: ApiClient, names: list[str], since: datetime) -> set[str]:
    """Nodes whose agent renewed its Lease after `since` (a Ready from before is stale).
    One GET per node: a node's own credential may read its Lease but not list them all."""
    fresh = set()
    for name in names:
        try:
            lease = await client.get(LEASES, name, namespace="kube-node-lease")
        except ClientError:
            continue
        renewed = lease.get("spec", {}).get("renewTime")
        if renewed and parse_time(renewed) >= since:
            fresh.add(name)
    return fresh


async def wait_nodes_ready(client: ApiClient, names: list[str], timeout: float,
                           progress: Callable[[str], None]) -> float:
    """Poll until all `names` are Ready with a Lease renewed by the agents started now,
    reporting each change of the picture."""
    start = time.monotonic()
    since = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    last = ""
    while True:
        try:
            items = (await client.list(NODES)).get("items", [])
        except ClientError:
            items = []
        fresh = await _renewed_since(client, names, since)
        by_name = {n["metadata"]["name"]: n for n in items if n["metadata"]["name"] in fresh}
        picture = ", ".join(f"{n}: {_phase(by_name.get(n))}" for n in names)
        if picture != last:
            progress(f"nodes: {picture} ({time.monotonic() - start:.1f} s)")
            last = picture
        if all(n in by_name and node_ready(by_name[n]) for n in names):
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"nodes not Ready after {timeout:.0f} s: {picture}")
        await asyncio.sleep(0.5)


def _phase(node: dict[str, Any] | None) -> str:
    if node is None:
        return "waiting for its agent"
    return "Ready" if node_ready(node) else "registered"


async def lease_health(client: ApiClient, component: str) -> Health:
    """A leader-elected component is healthy while someone renews its Lease."""
    try:
        lease = await client.get(LEASES, LEASE_COMPONENTS[component], namespace="kube-system")
    except NotFound:
        return Health(f"{component} lease", False, "no leader Lease yet")
    except ClientError as e:
        return Health(f"{component} lease", False, f"cannot read Lease: {e}")
    spec: LeaseSpec = lease.get("spec", {})
    renewed = spec.get("renewTime")
    if not renewed:
        return Health(f"{component} lease", False, "Lease never renewed")
    age = (datetime.now(UTC) - parse_time(renewed)).total_seconds()
    holder = spec.get("holderIdentity", "?")
    return Health(f"{component} lease", age < LEASE_STALE_AFTER,
                  f"held by {holder}, renewed {age:.0f} s ago")


async def node_health(client: ApiClient, names: list[str]) -> list[Health]:
    try:
        items = (await client.list(NODES)).get("items", [])
    except ClientError as e:
        return [Health(f"node {n}", False, f"cannot list nodes: {e}") for n in names]
    by_name = {n["metadata"]["name"]: n for n in items}
    out = []
    for n in names:
        node = by_name.get(n)
        if node is None:
            out.append(Health(f"node {n}", False, "not registered"))
        else:
            ready = node_ready(node)
            out.append(Health(f"node {n}", ready, "Ready" if ready else "NotReady"))
    return out


async def dns_health(client: ApiClient) -> Health:
    """Cluster DNS is reachable while some server lists itself in the kube-dns Endpoints
    (pods' 10.96.0.10 goes nowhere otherwise)."""
    name = "cluster DNS (kube-system/kube-dns endpoints)"
    try:
        endpoints = await client.get(ENDPOINTS, "kube-dns", namespace="kube-system")
    except NotFound:
        return Health(name, False, "no server has listed itself yet")
    except ClientError as e:
        return Health(name, False, f"cannot read Endpoints: {e}")
    listed = [f"{a['ip']}:{s['ports'][0]['port']}" for s in endpoints.get("subsets") or []
              for a in s.get("addresses") or [] if s.get("ports")]
    return Health(name, bool(listed), ", ".join(listed) or "no server listed")
