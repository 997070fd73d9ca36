"""EndpointSlice controller: mirrors each selecting Service's Endpoints into
discovery.k8s.io/v1 EndpointSlices (the role of Kubernetes' pkg/controller/endpointslice).

kubectl >= 1.28 `describe svc` and other modern clients read slices, not Endpoints.
Rather than select pods a second time, slices are derived from the Endpoints the
endpoints controller already computed, so both always agree: one slice per subset
and address family (a subset is one port set), named `<service>-mkp`, `-mkp-1`, ...
deterministically so a sync is idempotent. A Service with no endpoints gets
one empty IPv4 placeholder slice, as Kubernetes writes. Slices carry a controller
ownerReference to the Service, so the garbage collector removes them with it.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Hashable
from typing import Any

from minikube_py.api.meta import join_key, split_key
from minikube_py.api.resources import ENDPOINTS, ENDPOINTSLICES, SERVICES
from minikube_py.api.types import (
    Endpoint,
    EndpointAddress,
    EndpointPort,
    EndpointSlice,
    EndpointSubset,
    Object,
    ObjectMeta,
    OwnerReference,
)
from minikube_py.client.errors import AlreadyExists, NotFound
from minikube_py.controllers.base import Controller, SharedInformers, ensure_index
from minikube_py.controllers.endpoints import selector_of

log = logging.getLogger(__name__)

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
_SUFFIX = "mkp"
# What a sync compares and writes; everything else in metadata is the server's.
_CONTENT = ("addressType", "endpoints", "ports")


def slice_name(service: str, index: int) -> str:
    return f"{service}-{_SUFFIX}" if index == 0 else f"{service}-{_SUFFIX}-{index}"


def _family(ip: str) -> str:
    try:
        return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"
    except ValueError:
        return "IPv4"


def _endpoint(address: EndpointAddress, ready: bool) -> Endpoint:
    endpoint: Endpoint = {"addresses": [address["ip"]],
                          "conditions": {"ready": ready, "serving": ready, "terminating": False}}
    if address.get("hostname"):
        endpoint["hostname"] = address["hostname"]
    if address.get("nodeName"):
        endpoint["nodeName"] = address["nodeName"]
    if address.get("targetRef"):
        endpoint["targetRef"] = address["targetRef"]
    return endpoint


def compute_slices(service: Object, subsets: list[EndpointSubset]) -> list[EndpointSlice]:
    """The slices (addressType, endpoints, ports) for a Service's Endpoints subsets
    (pure; ordered as the subsets are, so equal inputs give equal output)."""
    groups: dict[tuple[int, str], EndpointSlice] = {}
    for i, subset in enumerate(subsets):
        ports: list[EndpointPort] = [
            {"name": p.get("name") or "", "port": p["port"], "protocol": p.get("protocol") or "TCP"}
            for p in subset.get("ports") or []]
        for addresses, ready in ((subset.get("addresses"), True),
                                 (subset.get("notReadyAddresses"), False)):
            for address in addresses or []:
                family = _family(address.get("ip", ""))
                group = groups.setdefault((i, family), {"addressType": family, "endpoints": [],
                                                        "ports": ports})
                group["endpoints"].append(_endpoint(address, ready))
    slices = [groups[k] for k in sorted(groups)]
    return slices or [{"addressType": "IPv4", "endpoints": [], "ports": []}]


def desired_metadata(service: Object, index: int) -> ObjectMeta:
    meta: ObjectMeta = service["metadata"]
    labels = {**(meta.get("labels") or {}), SERVICE_NAME_LABEL: meta["name"],
              MANAGED_BY_LABEL: MANAGED_BY}
    owner: OwnerReference = {"apiVersion": "v1", "kind": "Service", "name": meta["name"],
                             "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}
    return {"name": slice_name(meta["name"], index), "namespace": meta["namespace"],
            "labels": labels, "ownerReferences": [owner]}


def _service_key(obj: Object) -> list[str]:
    """Index of our slices by their Service's key (other managers' slices are not ours)."""
    labels = obj["metadata"].get("labels") or {}
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY or SERVICE_NAME_LABEL not in labels:
        return []
    return [join_key(obj["metadata"].get("namespace"), labels[SERVICE_NAME_LABEL])]


def _up_to_date(current: Object, body: Object) -> bool:
    meta, want = current["metadata"], body["metadata"]
    return all(current.get(k) == body.get(k) for k in _CONTENT) and (
        meta.get("labels") or {}) == want["labels"] and (
        meta.get("ownerReferences") or []) == want["ownerReferences"]


class EndpointSliceController(Controller):
    """Keeps each selecting Service's EndpointSlices equal to its Endpoints."""

    name = "endpointslice-controller"
    workers = 2

    def __init__(self, client: Any, settings: Any,
                 informers: SharedInformers | None = None) -> None:
        super().__init__(client, settings, informers)
        self.services = self.watch(SERVICES)
        self.endpoints = self.watch(ENDPOINTS)
        self.slices = self.watch(ENDPOINTSLICES)
        ensure_index(self.slices, "service", _service_key)
        for informer in (self.services, self.endpoints):
            informer.add_handlers(self.enqueue, lambda _old, new: self.enqueue(new),
                                  self.enqueue)
        # A slice of ours edited or deleted by someone else: put it back.
        self.slices.add_handlers(None, lambda _old, new: self._slice_changed(new),
                                 self._slice_changed)

    def _slice_changed(self, obj: Object) -> None:
        for key in _service_key(obj):
            self.queue.add(key)

    async def sync(self, key: Hashable) -> None:
        namespace, _ = split_key(str(key))
        service = self.services.get(str(key))
        current = {s["metadata"]["name"]: s for s in self.slices.by_index("service", str(key))}
        wanted: list[Object] = []
        if service is not None and selector_of(service) is not None:
            endpoints = self.endpoints.get(str(key)) or {}
            for i, content in enumerate(compute_slices(service, endpoints.get("subsets") or [])):
                wanted.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                               "metadata": desired_metadata(service, i), **content})
        written = [await self._write(body, current.pop(body["metadata"]["name"], None))
                   for body in wanted]
        for stale in current:
            try:
                await self.client.delete(ENDPOINTSLICES, stale, namespace=namespace)
            except NotFound:
                pass
        if any(written) or current:  # a sync that changed nothing is not worth a log line
            log.info("endpointslices synced service=%s slices=%d", key, len(wanted))

    async def _write(self, body: Object, current: Object | None) -> bool:
        """Create or update one slice; False if it was already as wanted."""
        namespace = body["metadata"]["namespace"]
        if current is not None and _up_to_date(current, body):
            return False
        if current is None:
            try:
                await self.client.create(ENDPOINTSLICES, body, namespace=namespace)
                return True
            except AlreadyExists:  # our informer is behind
                current = await self.client.get(ENDPOINTSLICES, body["metadata"]["name"],
                                                namespace=namespace)
        body["metadata"] = {**current["metadata"], **body["metadata"]}
        await self.client.update(ENDPOINTSLICES, body)  # a Conflict is retried by the queue
        return True

