"""The agent's list of api-servers to fail over to, from the `kubernetes` Endpoints (what
k3s's agent load balancer keeps): every api-server writes its address there while alive,
so the list follows control-plane nodes coming and going. The configured server (the VIP
in an HA cluster) stays first (minikube_py/client/failover.py)."""

from __future__ import annotations

import asyncio
import logging

from minikube_py.api.resources import ENDPOINTS
from minikube_py.api.types import Object
from minikube_py.client import ApiClient
from minikube_py.client.errors import ClientError

log = logging.getLogger(__name__)

REFRESH = 30.0


def servers_of(endpoints: Object) -> list[str]:
    """https://IP:PORT of every ready address of the `kubernetes` Endpoints."""
    out = []
    for subset in endpoints.get("subsets") or []:
        port = next((p["port"] for p in subset.get("ports") or []
                     if p.get("name") == "https"), None)
        if port is None:
            continue
        for address in subset.get("addresses") or []:
            ip = address["ip"]
            out.append(f"https://[{ip}]:{port}" if ":" in ip else f"https://{ip}:{port}")
    return sorted(out)


async def keep_fallbacks(client: ApiClient, every: float = REFRESH) -> None:
    """Refresh the client's fallback servers forever; a failed read keeps the old list."""
    while True:
        try:
            found = await client.list(ENDPOINTS, "default",
                                      field_selector="metadata.name=kubernetes")
            items = found.get("items") or []
            servers = servers_of(items[0]) if items else []
            if servers != client.servers.fallbacks:
                client.servers.set_fallbacks(servers)
                log.info("api-server fallbacks servers=%s", ",".join(servers))
        except ClientError as e:
            log.debug("api-server list not refreshed error=%s", e)
        await asyncio.sleep(every)
