"""What exists from the first start: the four namespaces and the `kubernetes`
Service (first address of the service range); its Endpoints are endpoint_leases'.

Run on every start and idempotent: existing objects are kept.
"""

from __future__ import annotations

import logging

from aiohttp import web

from minikube_py.api import errors
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
