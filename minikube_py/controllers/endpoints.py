"""Endpoints controller: for every Service with a selector, an Endpoints object
listing the pods it selects (Kubernetes' pkg/controller/endpoint).

Ready pods go to `addresses`, the others to `notReadyAddresses` (all to
`addresses` with `publishNotReadyAddresses`); a named targetPort is resolved
per pod from its container ports, so pods of one Service may listen on
different numbers and land in different subsets. Services without a selector
are left alone: their Endpoints are written by users. A pod event enqueues
every Service of its namespace that selects it (old or new labels), so a
readiness change reaches the Endpoints in one sync.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from typing import Any

from minikube_py.api.meta import key as object_key
from minikube_py.api.meta import split_key
from minikube_py.api.resources import ENDPOINTS, PODS, SERVICES
from minikube_py.api.selectors import LabelSelector
from minikube_py.api.types import (
    EndpointAddress,
    EndpointPort,
    EndpointSubset,
    Object,
    ObjectMeta,
    PodSpec,
    ServicePort,
    ServiceSpec,
)
from minikube_py.client.errors import AlreadyExists, NotFound
from minikube_py.controllers.base import Controller, SharedInformers
from minikube_py.controllers.pods import is_ready

log = logging.getLogger(__name__)

HEADLESS_LABEL = "service.kubernetes.io/headless"


def selector_of(service: Object) -> LabelSelector | None:
    """The Service's pod selector; None when it has none (user-managed Endpoints)."""
    selector = (service.get("spec") or {}).get("selector")
    return LabelSelector.from_dict({"matchLabels": selector}) if selector else None


def resolve_port(pod: Object, port: ServicePort) -> int | None:
    """The pod's port number for a service port: targetPort as a number, or the
    container port of that name and protocol; None if the pod has no such port."""
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    protocol = port.get("protocol") or "TCP"
    spec: PodSpec = pod.get("spec") or {}
    for container in spec.get("containers") or []:
        for cport in container.get("ports") or []:
            if cport.get("name") == target and (cport.get("protocol") or "TCP") == protocol:
                return int(cport["containerPort"])
    return None


def address_of(pod: Object, service: Object) -> EndpointAddress:
    """The pod's address; with its `hostname` when its subdomain is this Service (what
    gives StatefulSet pods `<hostname>.<service>.<ns>.svc` names in cluster DNS)."""
    meta: ObjectMeta = pod["metadata"]
    spec: PodSpec = pod.get("spec") or {}
    address: EndpointAddress = {"ip": pod["status"]["podIP"],
                                "targetRef": {"kind": "Pod", "namespace": meta["namespace"],
                                              "name": meta["name"], "uid": meta.get("uid", "")}}
    if spec.get("hostname") and spec.get("subdomain") == service["metadata"]["name"]:
        address["hostname"] = spec["hostname"]
    if spec.get("nodeName"):
        address["nodeName"] = spec["nodeName"]
    return address


def compute_subsets(service: Object, pods: list[Object]) -> list[EndpointSubset]:
    """Endpoints subsets for `service` over `pods` (pure; sorted, so equal inputs give
    equal output and an unchanged Endpoints is never rewritten)."""
    spec: ServiceSpec = service.get("spec") or {}
    publish_all = bool(spec.get("publishNotReadyAddresses"))
    ports = spec.get("ports") or []
    groups: dict[tuple[tuple[str, int, str], ...],
                 tuple[list[EndpointAddress], list[EndpointAddress]]] = {}
    for pod in pods:
        status, meta = pod.get("status") or {}, pod["metadata"]
        if not status.get("podIP") or status.get("phase") in ("Succeeded", "Failed"):
            continue
        if meta.get("deletionTimestamp") and not publish_all:
            continue
        resolved = []
        for port in ports:
            number = resolve_port(pod, port)
            if number is not None:
                resolved.append((port.get("name") or "", number, port.get("protocol") or "TCP"))
        if ports and not resolved:
            continue
        ready, not_ready = groups.setdefault(tuple(sorted(resolved)), ([], []))
        (ready if publish_all or is_ready(pod) else not_ready).append(address_of(pod, service))
    subsets = []
    for port_set, (ready, not_ready) in sorted(groups.items()):
        subset: EndpointSubset = {}
        if ready:
            subset["addresses"] = sorted(ready, key=_ip_order)
        if not_ready:
            subset["notReadyAddresses"] = sorted(not_ready, key=_ip_order)
        subset["ports"] = [_endpoint_port(n, p, proto) for n, p, proto in port_set]
        subsets.append(subset)
    return subsets


def _endpoint_port(name: str, port: int, protocol: str) -> EndpointPort:
    if name:
        return {"name": name, "port": port, "protocol": protocol}
    return {"port": port, "protocol": protocol}


def _ip_order(address: EndpointAddress) -> tuple[int, ...]:
    return tuple(int(x) for x in address["ip"].split(".")) if "." in address["ip"] else (0,)


def desired_labels(service: Object) -> dict[str, str]:
    labels = dict(service["metadata"].get("labels") or {})
    if (service.get("spec") or {}).get("clusterIP") == "None":
        labels[HEADLESS_LABEL] = ""
    return labels


class EndpointsController(Controller):
    """Keeps one Endpoints per selecting Service in step with its pods."""

    name = "endpoint-controller"
    workers = 4

    def __init__(self, client: Any, settings: Any,
                 informers: SharedInformers | None = None) -> None:
        super().__init__(client, settings, informers)
        self.services = self.watch(SERVICES)
        self.pods = self.watch(PODS)
        self.endpoints = self.watch(ENDPOINTS)
        for informer in (self.services, self.pods):
            _ensure_namespace_index(informer)
        self.services.add_handlers(self.enqueue, lambda _old, new: self.enqueue(new),
                                   self.enqueue)
        self.pods.add_handlers(self._pod_changed, self._pod_updated, self._pod_changed)
        # Someone deleted or edited an Endpoints we own: put it back.
        self.endpoints.add_handlers(None, lambda _old, new: self._endpoints_changed(new),
                                    self._endpoints_changed)

    def _endpoints_changed(self, endpoints: Object) -> None:
        """Only for selecting Services: other Endpoints are the user's, even orphans."""
        service = self.services.get(object_key(endpoints))
        if service is not None and selector_of(service) is not None:
            self.enqueue(endpoints)

    def _pod_changed(self, pod: Object) -> None:
        self._enqueue_selecting(pod, pod["metadata"].get("labels") or {})

    def _pod_updated(self, old: Object, new: Object) -> None:
        self._enqueue_selecting(new, new["metadata"].get("labels") or {},
                                old["metadata"].get("labels") or {})

    def _enqueue_selecting(self, pod: Object, *label_sets: dict[str, str]) -> None:
        for service in self.services.by_index("namespace", pod["metadata"]["namespace"]):
            selector = selector_of(service)
            if selector is not None and any(selector.matches(ls) for ls in label_sets):
                self.enqueue(service)

    async def sync(self, key: Hashable) -> None:
        namespace, name = split_key(str(key))
        service = self.services.get(str(key))
        if service is None:
            try:
                await self.client.delete(ENDPOINTS, name, namespace=namespace)
            except NotFound:
                pass
            return
        selector = selector_of(service)
        if selector is None:
            return  # user-managed Endpoints
        pods = [p for p in self.pods.by_index("namespace", namespace or "")
                if selector.matches(p["metadata"].get("labels") or {})]
        subsets, labels = compute_subsets(service, pods), desired_labels(service)
        current = self.endpoints.get(str(key))
        if current is not None and (current.get("subsets") or []) == subsets and (
                current["metadata"].get("labels") or {}) == labels:
            return
        body: Object = {"apiVersion": "v1", "kind": "Endpoints",
                     "metadata": {"name": name, "namespace": namespace, "labels": labels},
                     "subsets": subsets}
        if current is None:
            try:
                await self.client.create(ENDPOINTS, body, namespace=namespace)
            except AlreadyExists:  # written by a user, or our informer is behind
                current = await self.client.get(ENDPOINTS, name, namespace=namespace)
        if current is not None:
            body["metadata"] = {**current["metadata"], "labels": labels}
            await self.client.update(ENDPOINTS, body)
        log.info("endpoints synced service=%s ready=%d not_ready=%d", key,
                 sum(len(s.get("addresses", [])) for s in subsets),
                 sum(len(s.get("notReadyAddresses", [])) for s in subsets))


def _ensure_namespace_index(informer: Any) -> None:
    """The shared "namespace" index; another controller may have added it already."""
    try:
        informer.add_index("namespace", lambda obj: [obj["metadata"].get("namespace", "")])
    except ValueError:
        pass
