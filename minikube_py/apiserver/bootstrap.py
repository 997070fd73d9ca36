"""What exists from the first start: the four namespaces, the `kubernetes` Service
(first address of the service range; its Endpoints are endpoint_leases'), the
`kube-dns` Service at the tenth (10.96.0.10, where kubeadm puts it and kubelets point
pods; its Endpoints are written by the running `minikube-py dns` servers themselves) and
the default RBAC policy.

Run on every start and idempotent: existing objects are kept. Policy objects are
reconciled as kube-apiserver's RBAC post-start hook does: a missing one is created, one
that lost rules, subjects or labels gets them back (what an operator added is kept), and
one annotated `rbac.authorization.kubernetes.io/autoupdate: "false"` is left alone.
"""

from __future__ import annotations

import copy
import logging

from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.ingressclass import bundled_class
from minikube_py.api.resolvconf import cluster_dns_ip
from minikube_py.api.resources import (
    CLUSTERROLEBINDINGS,
    CLUSTERROLES,
    CONFIGMAPS,
    INGRESSCLASSES,
    NAMESPACES,
    ROLEBINDINGS,
    ROLES,
    SERVICES,
    STORAGECLASSES,
    Resource,
)
from minikube_py.api.shape import as_dict, dicts
from minikube_py.api.storageclass import local_path_class
from minikube_py.api.types import Object
from minikube_py.apiserver import front_proxy
from minikube_py.apiserver.bootstrap_controllers import (
    CONTROLLER_BINDINGS,
    CONTROLLER_ROLES,
    NAMESPACED_CONTROLLER_BINDINGS,
    NAMESPACED_CONTROLLER_ROLES,
)
from minikube_py.apiserver.bootstrap_policy import (
    AUTOUPDATE,
    BINDINGS,
    COMPONENT_ROLES,
    NAMESPACED_BINDINGS,
    NAMESPACED_ROLES,
    USER_ROLES,
)
from minikube_py.apiserver.rbac_rules import compile_rules, uncovered
from minikube_py.apiserver.rest import create_object, write_update
from minikube_py.apiserver.state import FRONT_PROXY, OBJECTS, SETTINGS
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


def _reconciled(current: Object, wanted: Object) -> Object | None:
    """`current` with what `wanted` has and it lacks, or None if nothing is missing."""
    new = copy.deepcopy(current)
    meta, want_meta = new.setdefault("metadata", {}), wanted["metadata"]
    for key in ("labels", "annotations"):
        values = meta.setdefault(key, {})
        values.update({k: v for k, v in want_meta.get(key, {}).items() if k not in values})
    if "aggregationRule" in wanted:
        selectors = as_dict(new.setdefault("aggregationRule", {})).setdefault(
            "clusterRoleSelectors", [])
        selectors += [s for s in wanted["aggregationRule"]["clusterRoleSelectors"]
                      if s not in selectors]
    elif "rules" in wanted:
        have = compile_rules(new.get("rules"))
        new["rules"] = list(new.get("rules") or []) + [
            r for r in wanted["rules"] if uncovered(have, compile_rules([r]))]
    if "subjects" in wanted:
        new["subjects"] = list(new.get("subjects") or []) + [
            s for s in wanted["subjects"] if s not in dicts(new.get("subjects"))]
    return None if new == current else new


async def _reconcile(app: web.Application, resource: Resource, wanted: Object) -> None:
    name, namespace = wanted["metadata"]["name"], wanted["metadata"].get("namespace")
    try:
        current = await app[OBJECTS].get(resource, namespace, name)
    except errors.StatusError as e:
        if e.code != 404:
            raise
        await _ensure(app, Target(resource, namespace, None, None), copy.deepcopy(wanted))
        return
    if as_dict(current["metadata"].get("annotations")).get(AUTOUPDATE) == "false":
        return
    new = _reconciled(current, wanted)
    if new is not None:
        try:
            await write_update(app, Target(resource, namespace, name, None), new, current)
            log.info("bootstrap policy reconciled kind=%s name=%s", resource.kind, name)
        except errors.StatusError as e:
            if e.code != 409:  # another api-server reconciled it first
                raise


async def reconcile_policy(app: web.Application) -> None:
    for role in USER_ROLES + COMPONENT_ROLES + CONTROLLER_ROLES:
        await _reconcile(app, CLUSTERROLES, role)
    for binding in BINDINGS + CONTROLLER_BINDINGS:
        await _reconcile(app, CLUSTERROLEBINDINGS, binding)
    for role in NAMESPACED_ROLES + NAMESPACED_CONTROLLER_ROLES:
        await _reconcile(app, ROLES, role)
    for binding in NAMESPACED_BINDINGS + NAMESPACED_CONTROLLER_BINDINGS:
        await _reconcile(app, ROLEBINDINGS, binding)


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
    await _ensure(app, Target(STORAGECLASSES, None, None, None), local_path_class())
    await _ensure(app, Target(INGRESSCLASSES, None, None, None), bundled_class())
    await reconcile_policy(app)
    await publish_authentication(app)


async def publish_authentication(app: web.Application) -> None:
    """kube-system/extension-apiserver-authentication, rewritten whenever a CA changed:
    what aggregated servers read to trust the front-proxy (front_proxy.py)."""
    wanted = front_proxy.authentication_configmap(
        (app[SETTINGS].pki_dir / "ca.crt").read_bytes(), app[FRONT_PROXY].ca_cert.read_bytes())
    target = Target(CONFIGMAPS, front_proxy.CONFIGMAP_NAMESPACE, front_proxy.CONFIGMAP_NAME,
                    None)
    try:
        current = await app[OBJECTS].get(CONFIGMAPS, target.namespace, front_proxy.CONFIGMAP_NAME)
    except errors.StatusError as e:
        if e.code != 404:
            raise
        await _ensure(app, Target(CONFIGMAPS, target.namespace, None, None), wanted)
        return
    if current.get("data") != wanted["data"]:
        await write_update(app, target, {**current, "data": wanted["data"]}, current)


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
