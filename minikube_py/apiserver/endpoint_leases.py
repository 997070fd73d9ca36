"""The `kubernetes` Endpoints: every live api-server on this etcd.

As kube-apiserver's lease endpoint reconciler does it: each api-server keeps
/registry/masterleases/<ip>:<port> alive on an etcd lease and rewrites the Endpoints from
the live keys. Several api-servers on one etcd (a highly available control plane) then
agree on the Endpoints instead of each overwriting them with its own address; one that
stops cleanly leaves at once, one that dies when its lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.resources import ENDPOINTS
from minikube_py.apiserver.rest import create_object
from minikube_py.apiserver.state import OBJECTS, SETTINGS, STORAGE
from minikube_py.apiserver.target import Target
from minikube_py.store import Storage
from minikube_py.store.errors import Conflict, KeyExists, KeyNotFound, StorageError

log = logging.getLogger(__name__)

PREFIX = "/registry/masterleases/"
LEASE_TTL = 15  # seconds a dead api-server stays listed at most (plus one renewal period)
RENEW_PERIOD = 5.0


def subsets(peers: set[tuple[str, int]]) -> list[dict[str, Any]]:
    """Endpoints subsets: one per port (api-servers normally share one), addresses sorted."""
    by_port: dict[int, list[str]] = {}
    for ip, port in sorted(peers):
        by_port.setdefault(port, []).append(ip)
    return [{"addresses": [{"ip": ip} for ip in ips],
             "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}
            for port, ips in sorted(by_port.items())]


def endpoints(peer_subsets: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": peer_subsets}


class EndpointLeases:
    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.storage: Storage = app[STORAGE]
        settings = app[SETTINGS]
        self.me = (settings.endpoint_address, settings.port)
        self.key = f"{PREFIX}{self.me[0]}:{self.me[1]}"

    async def renew(self) -> None:
        """Write our key again on a fresh lease (a lost race is retried next period)."""
        value = json.dumps({"ip": self.me[0], "port": self.me[1]}).encode()
        try:
            item = await self.storage.get(self.key)
        except KeyNotFound:
            with contextlib.suppress(KeyExists):
                await self.storage.create(self.key, value, ttl=LEASE_TTL)
            return
        with contextlib.suppress(Conflict):
            await self.storage.update(self.key, value, item.mod_revision, ttl=LEASE_TTL)

    async def peers(self) -> set[tuple[str, int]]:
        page = await self.storage.list(PREFIX)
        found = set()
        for item in page.items:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                peer = json.loads(item.value)
                found.add((str(peer["ip"]), int(peer["port"])))
        return found

    async def reconcile(self) -> None:
        """Make the Endpoints list exactly the live api-servers (409: another just did)."""
        peers = await self.peers()
        wanted = subsets(peers)
        try:
            current = await self.app[OBJECTS].get(ENDPOINTS, "default", "kubernetes")
        except errors.StatusError as e:
            if e.code != 404:
                raise
            try:
                await create_object(self.app, Target(ENDPOINTS, "default", None, None),
                                    endpoints(wanted))
            except errors.StatusError as e:
                if e.code != 409:  # 409: another api-server created it meanwhile
                    raise
            return
        if current.get("subsets") == wanted:
            return
        current["subsets"] = wanted
        try:
            await self.app[OBJECTS].update(ENDPOINTS, current,
                                           int(current["metadata"]["resourceVersion"]))
        except errors.StatusError as e:
            if e.code != 409:
                raise
            return
        log.info("kubernetes endpoints updated api-servers=%s",
                 ",".join(f"{ip}:{port}" for ip, port in sorted(peers)))

    async def run(self) -> None:
        """Renew and reconcile every RENEW_PERIOD until cancelled; etcd trouble skips a turn."""
        while True:
            await asyncio.sleep(RENEW_PERIOD)
            try:
                await self.renew()
                await self.reconcile()
            except (StorageError, errors.StatusError) as e:
                log.warning("kubernetes endpoints not reconciled error=%s", e)

    async def release(self) -> None:
        """On a clean stop: leave the Endpoints now rather than when the lease runs out."""
        with contextlib.suppress(KeyNotFound):
            await self.storage.delete(self.key)
        await self.reconcile()
