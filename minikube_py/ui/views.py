"""What the page shows of each object: small views cut from the API objects, so a
1,000-pod cluster's first screen is a few hundred kilobytes, not megabytes of specs."""

from __future__ import annotations

from typing import Any

from minikube_py.api.node import PUBLIC_IP_ANNOTATION, VTEP_MAC_ANNOTATION
from minikube_py.api.quantity import cpu_millis, to_bytes
from minikube_py.api.types import Object


def _meta(obj: Object) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    return {"name": meta.get("name", ""), "namespace": meta.get("namespace", ""),
            "uid": meta.get("uid", ""), "deleting": bool(meta.get("deletionTimestamp"))}


def pod(obj: Object) -> dict[str, Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    containers = status.get("containerStatuses") or []
    reason = next((s["state"]["waiting"].get("reason", "") for s in containers
                   if (s.get("state") or {}).get("waiting")), "")
    owner = next((f"{r.get('kind')}/{r.get('name')}"
                  for r in (obj.get("metadata") or {}).get("ownerReferences") or []
                  if r.get("controller")), "")
    return {**_meta(obj), "node": spec.get("nodeName", ""), "phase": status.get("phase", ""),
            "reason": reason or status.get("reason", ""), "ip": status.get("podIP", ""),
            "ready": sum(1 for s in containers if s.get("ready")),
            "total": len(spec.get("containers") or []),
            "restarts": sum(int(s.get("restartCount") or 0) for s in containers),
            "containers": [c.get("name", "") for c in spec.get("containers") or []],
            "owner": owner, "hostNetwork": bool(spec.get("hostNetwork"))}


def node(obj: Object) -> dict[str, Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ready = next((c.get("status") == "True" for c in status.get("conditions") or []
                  if c.get("type") == "Ready"), False)
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return {**_meta(obj), "ready": ready, "podCIDR": spec.get("podCIDR", ""),
            "address": addresses.get("InternalIP", ""), "unschedulable":
            bool(spec.get("unschedulable")),
            "vtepMac": annotations.get(VTEP_MAC_ANNOTATION, ""),
            "underlay": annotations.get(PUBLIC_IP_ANNOTATION, addresses.get("InternalIP", ""))}


def service(obj: Object) -> dict[str, Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ingress = [i.get("ip") or i.get("hostname") for i in
               (status.get("loadBalancer") or {}).get("ingress") or []]
    return {**_meta(obj), "type": spec.get("type", "ClusterIP"),
            "clusterIP": spec.get("clusterIP", ""),
            "ports": [{"port": p.get("port"), "nodePort": p.get("nodePort"),
                       "protocol": p.get("protocol", "TCP"), "name": p.get("name", "")}
                      for p in spec.get("ports") or []],
            "loadBalancer": [i for i in ingress if i]}


def endpoints(obj: Object) -> dict[str, Any]:
    """A Service's Endpoints (what every Service with backends has here: the endpoints
    controller's, the api-server's own and the DNS servers' records), ready or not."""
    return {**_meta(obj), "endpoints": [
        {"ip": a.get("ip", ""), "ready": ready, "node": a.get("nodeName", ""),
         "pod": (a.get("targetRef") or {}).get("name", "")}
        for subset in obj.get("subsets") or []
        for key, ready in (("addresses", True), ("notReadyAddresses", False))
        for a in subset.get(key) or []]}


def event(obj: Object) -> dict[str, Any]:
    involved = obj.get("involvedObject") or obj.get("regarding") or {}
    return {**_meta(obj), "type": obj.get("type", ""), "reason": obj.get("reason", ""),
            "message": obj.get("message") or obj.get("note") or "",
            "object": f"{involved.get('kind', '')}/{involved.get('name', '')}",
            "count": obj.get("count") or 1,
            "time": obj.get("lastTimestamp") or obj.get("eventTime")
            or (obj.get("metadata") or {}).get("creationTimestamp") or ""}


def metrics(items: list[Object]) -> dict[str, dict[str, str]]:
    """metrics.k8s.io Pod/NodeMetrics -> {"ns/name" or name: {"cpu", "memory"}} (pods
    summed over containers, as `kubectl top pods` does)."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        meta = item.get("metadata") or {}
        key = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta.get(
            "name", "")
        if "usage" in item:
            out[key] = {"cpu": item["usage"].get("cpu", ""),
                        "memory": item["usage"].get("memory", "")}
        else:
            usage = [c.get("usage") or {} for c in item.get("containers") or []]
            cpu = sum(cpu_millis(u.get("cpu", "0")) for u in usage)
            mem = sum(to_bytes(u.get("memory", "0")) for u in usage)
            out[key] = {"cpu": f"{cpu}m", "memory": f"{mem // (1024 * 1024)}Mi"}
    return out

