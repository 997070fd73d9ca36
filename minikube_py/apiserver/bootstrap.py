"""What exists from the first start: the four namespaces, the `kubernetes` Service
(first address of the service range; its Endpoints are endpoint_leases') and the
`kube-dns` Service at the tenth (10.96.0.10, where kubeadm puts it and kubelets point
pods); its Endpoints are written by the running `minikube-py dns` servers themselves.

Run on every start and idempotent: existing objects are kept.
"""

from __future__ import annotations

import logging

from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.resolvconf import cluster_dns_ip
from minikube_py.api.resources import NAMESPACES, SERVICES
from minikube_py.api.types import Object
from minikube_py.apiserver.rest import create_object
from minikube_py.apiserver.state import OBJECTS, SETTINGS
from minikube_py.apiserver.target import Target

log = logging.getLogger(__name__)

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


async def _ensure(app: web.Application, target: Target, obj: Object) -> None:
    """Create `obj` unless it exists (checked first: a Service's clusterIP would otherwise
    be refused as taken before the name is found to exist)."""
    try:
        await app[OBJECTS].get(target.resource, target.namespace, obj["metadata"]["name"])
        return
    except errors.StatusError as e:
        if e.code != 404:
            raise
    try:
        await create_object(app, target, obj)
        log.info("bootstrap created kind=%s name=%s", obj["kind"], obj["metadata"]["name"])
    except errors.StatusError as e:
        if e.code != 409:
            raise


async def bootstrap(app: web.Application) -> None:
    settings = app[SETTINGS]
    for name in SYSTEM_NAMESPACES:
        await _ensure(app, Target(NAMESPACES, None, None, None),
                      {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "kubernetes", "namespace": "default",
                            "labels": {"component": "apiserver", "provider": "kubernetes"}},
               "spec": {"type": "ClusterIP", "clusterIP": settings.kubernetes_service_ip,
                        "sessionAffinity": "None",
                        "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                   "targetPort": settings.port}]}}
    await _ensure(app, Target(SERVICES, "default", None, None), service)
    await _ensure(app, Target(SERVICES, "kube-system", None, None), kube_dns_service(
        cluster_dns_ip(settings.service_cluster_ip_range)))


def kube_dns_service(cluster_ip: str) -> Object:
    """Selectorless, as the DNS servers run on hosts, not in pods."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system",
                         "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "KubeDNS",
                                    "kubernetes.io/cluster-service": "true"}},
            "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "sessionAffinity": "None",
                     "ports": [{"name": "dns", "port": 53, "protocol": "UDP",
                                "targetPort": 53},
                               {"name": "dns-tcp", "port": 53, "protocol": "TCP",
                                "targetPort": 53}]}}
