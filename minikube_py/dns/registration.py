"""This server's address in the kube-system/kube-dns Endpoints, so the proxy sends the
kube-dns ClusterIP (10.96.0.10) to every running DNS server, as the api-servers list
themselves in `kubernetes`.

Each server adds its own address (merging, never replacing: several control-plane hosts
each run one), re-checks it periodically in case the object was rewritten, and takes it
out when it stops cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from minikube_py.api.resources import ENDPOINTS
from minikube_py.api.types import Object
from minikube_py.client import ApiClient
from minikube_py.client.errors import AlreadyExists, ClientError, Conflict, NotFound

log = logging.getLogger(__name__)

NAMESPACE, NAME = "kube-system", "kube-dns"
RECHECK_PERIOD = 30.0



def dns_ports(port: int) -> list[Object]:
    return [{"name": "dns", "port": port, "protocol": "UDP"},
            {"name": "dns-tcp", "port": port, "protocol": "TCP"}]


def with_address(subsets: list[Object], ip: str, port: int, present: bool) -> list[Object]:
    """`subsets` with (ip, port) added (present) or removed; other servers kept; sorted
    so that an unchanged set compares equal. Pure."""
    ports = dns_ports(port)
    out: list[Object] = []
    placed = False
    for subset in subsets:
        addresses = [a for a in subset.get("addresses") or [] if a.get("ip") != ip]
        if present and subset.get("ports") == ports:
            addresses.append({"ip": ip})
            placed = True
        if addresses:
            out.append({**subset, "addresses": sorted(addresses, key=lambda a: a["ip"])})
    if present and not placed:
        out.append({"addresses": [{"ip": ip}], "ports": ports})
    return out


async def _apply(client: ApiClient, ip: str, port: int, present: bool) -> None:
    """One read-modify-write of the Endpoints (Conflict, AlreadyExists: another server
    wrote meanwhile; the caller reads again)."""
    try:
        current = await client.get(ENDPOINTS, NAME, namespace=NAMESPACE)
    except NotFound:
        if present:
            await client.create(ENDPOINTS, {
                "apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": NAME, "namespace": NAMESPACE,
                             "labels": {"k8s-app": "kube-dns"}},
                "subsets": with_address([], ip, port, True)})
            log.info("kube-dns endpoints created address=%s:%d", ip, port)
        return
    wanted = with_address(current.get("subsets") or [], ip, port, present)
    if wanted == (current.get("subsets") or []):
        return
    current["subsets"] = wanted
    await client.update(ENDPOINTS, current)
    log.info("kube-dns endpoints %s address=%s:%d", "joined" if present else "left", ip, port)


async def _apply_until_done(client: ApiClient, ip: str, port: int, present: bool) -> None:
    for _ in range(10):
        try:
            await _apply(client, ip, port, present)
            return
        except (Conflict, AlreadyExists):
            continue


async def keep_registered(client: ApiClient, ip: str, port: int) -> None:
    """Stay listed until cancelled; then leave (best effort: the api-server may be gone)."""
    try:
        while True:
            try:
                await _apply_until_done(client, ip, port, True)
            except ClientError as e:
                log.warning("kube-dns endpoints not updated error=%s", e)
            await asyncio.sleep(RECHECK_PERIOD)
    finally:
        with contextlib.suppress(ClientError, OSError, TimeoutError):
            async with asyncio.timeout(3):
                await _apply_until_done(client, ip, port, False)
