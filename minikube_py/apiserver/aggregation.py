"""Which group/versions other servers serve, learned by watching APIServices.

As the CRD registry, every api-server process follows the APIService watch and keeps
the service-backed ones by group/version: requests under /apis/<group>/<version> for
one of them are proxied (aggregation_proxy.py), and discovery lists their groups
(ordered by versionPriority, as kube-aggregator) with the resources each backend
reports for itself, fetched on demand and kept for DISCOVERY_TTL seconds. A group and
version this server serves itself is never handed to a backend.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from minikube_py.api import apiservice
from minikube_py.api.resources import APISERVICES, served
from minikube_py.api.shape import as_dict, dicts
from minikube_py.api.types import Object
from minikube_py.apiserver.aggregation_backend import Backends, Unavailable
from minikube_py.apiserver.following import follow
from minikube_py.apiserver.objects import ObjectStore
from minikube_py.store import WatchHub

log = logging.getLogger(__name__)

DISCOVERY_TTL = 10.0


def _priority(obj: Object) -> int:
    value = as_dict(obj.get("spec")).get("versionPriority")
    return value if isinstance(value, int) else 0


def _group_version(obj: Object) -> tuple[str, str]:
    spec = as_dict(obj.get("spec"))
    return str(spec.get("group") or ""), str(spec.get("version") or "")


class Aggregator:
    """The service-backed APIServices by (group, version), and their discovery."""

    def __init__(self, store: ObjectStore, hub: WatchHub, backends: Backends) -> None:
        self.store, self.hub, self.backends = store, hub, backends
        self.by_name: dict[str, Object] = {}
        self.changed = asyncio.Event()  # set on every APIService event (availability waits)
        self.synced = asyncio.Event()
        self._discovery: dict[tuple[str, str], tuple[float, Object]] = {}

    async def run(self) -> None:
        await follow(self.store, self.hub, APISERVICES, listed=self._listed,
                     changed=self._changed)

    async def _listed(self, objs: list[Object]) -> None:
        self.by_name = {str(as_dict(o.get("metadata")).get("name")): o for o in objs}
        self.changed.set()
        self.synced.set()

    async def _changed(self, change: str, obj: Object) -> None:
        name = str(as_dict(obj.get("metadata")).get("name"))
        if change == "DELETE":
            self.by_name.pop(name, None)
        else:
            self.by_name[name] = obj
        self._discovery.pop(_group_version(obj), None)
        self.changed.set()

    def backend(self, group: str, version: str) -> Object | None:
        """The APIService whose server answers for group/version, if another server does."""
        obj = self.by_name.get(f"{version}.{group}")
        if obj is None or apiservice.service_ref(obj) is None or _served_here(group, version):
            return None
        return obj

    def groups(self) -> dict[str, list[Object]]:
        """Aggregated groups -> their APIServices, the preferred version first."""
        found: dict[str, list[Object]] = {}
        for obj in self.by_name.values():
            group, version = _group_version(obj)
            if group and self.backend(group, version) is not None and not any(
                    r.group == group for r in served()):
                found.setdefault(group, []).append(obj)
        for objs in found.values():
            objs.sort(key=lambda o: (-_priority(o), _group_version(o)[1]))
        return found

    async def resource_list(self, obj: Object) -> tuple[Object | None, bool]:
        """(the backend's APIResourceList or None, fresh): the last good one when a
        refresh fails, marked stale."""
        group, version = _group_version(obj)
        cached = self._discovery.get((group, version))
        if cached is not None and time.monotonic() - cached[0] < DISCOVERY_TTL:
            return cached[1], True
        try:
            doc = await self.backends.get_json(obj, f"/apis/{group}/{version}")
        except Unavailable as e:
            log.info("aggregated discovery failed group=%s version=%s error=%s", group,
                     version, e.message)
            return (cached[1] if cached else None), False
        self._discovery[(group, version)] = (time.monotonic(), doc)
        return doc, True


def _served_here(group: str, version: str) -> bool:
    return any(r.group == group and r.version == version for r in served())


def group_entry(group: str, objs: list[Object]) -> Object:
    """An APIGroup's body (/apis lists it; /apis/<group> answers it with kind/apiVersion)."""
    versions = [{"groupVersion": f"{group}/{_group_version(o)[1]}",
                 "version": _group_version(o)[1]} for o in objs]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def discovered_resources(resource_list: Object | None, group: str, version: str
                         ) -> list[Object]:
    """A legacy APIResourceList as the aggregated discovery's resources (subresources
    folded under their parents)."""
    entries = dicts((resource_list or {}).get("resources"))
    parents: dict[str, Object] = {}
    for entry in entries:
        name = str(entry.get("name") or "")
        if not name or "/" in name:
            continue
        item: Object = {"resource": name, "responseKind": {
            "group": group, "version": version, "kind": entry.get("kind", "")},
            "scope": "Namespaced" if entry.get("namespaced") else "Cluster",
            "singularResource": entry.get("singularName") or "",
            "verbs": list(entry.get("verbs") or [])}
        for key in ("shortNames", "categories"):
            if entry.get(key):
                item[key] = list(entry[key])
        parents[name] = item
    for entry in entries:
        parent, _, sub = str(entry.get("name") or "").partition("/")
        if sub and parent in parents:
            kind: dict[str, Any] = {"group": entry.get("group") or group,
                                    "version": entry.get("version") or version,
                                    "kind": entry.get("kind", "")}
            parents[parent].setdefault("subresources", []).append(
                {"subresource": sub, "responseKind": kind,
                 "verbs": list(entry.get("verbs") or [])})
    return sorted(parents.values(), key=lambda e: str(e["resource"]))


async def aggregated_items(aggregator: Aggregator) -> list[Object]:
    """The aggregated groups as APIGroupDiscovery items of /apis."""
    items: list[Object] = []
    for group, objs in aggregator.groups().items():
        versions = []
        for obj in objs:
            version = _group_version(obj)[1]
            doc, fresh = await aggregator.resource_list(obj)
            versions.append({"version": version, "resources": discovered_resources(
                doc, group, version), "freshness": "Current" if fresh else "Stale"})
        items.append({"metadata": {"name": group, "creationTimestamp": None},
                      "versions": versions})
    return items
