"""Pod Security admission, as kube-apiserver's built-in plugin: each namespace's
`pod-security.kubernetes.io/{enforce,warn,audit}` labels name a level (privileged,
baseline, restricted; `-version` labels are accepted, every version is "latest"). A new
pod that violates the enforce level is refused (403, Kubernetes' message), one that
violates the warn level is created with a `Warning` header kubectl prints, and the audit
level's violations are logged. Workloads (their pod templates) are warned and audited,
never refused: their pods are checked when the controller creates them.

Without a label a namespace has the api-server's `--pod-security-default` level (baseline,
as k3s's hardening guide recommends); kube-system is exempt (privileged).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.podsecurity import LEVELS, violations
from minikube_py.api.resources import NAMESPACES, PODS, Resource
from minikube_py.api.shape import as_dict, dig
from minikube_py.api.types import Object
from minikube_py.apiserver.state import NAMESPACE_LIFECYCLE, OBJECTS, SETTINGS
from minikube_py.apiserver.target import Target
from minikube_py.apiserver.warnings import add_warning

log = logging.getLogger(__name__)

LABEL = "pod-security.kubernetes.io/"
MODES = ("enforce", "warn", "audit")
EXEMPT_NAMESPACES = frozenset({"kube-system"})
# Where a workload keeps the pod it makes (CronJobs one level deeper).
TEMPLATES = {"Deployment": ("spec", "template", "spec"), "ReplicaSet": ("spec", "template", "spec"),
             "StatefulSet": ("spec", "template", "spec"), "DaemonSet": ("spec", "template", "spec"),
             "Job": ("spec", "template", "spec"),
             "ReplicationController": ("spec", "template", "spec"),
             "CronJob": ("spec", "jobTemplate", "spec", "template", "spec")}


async def levels(app: web.Application, namespace: str) -> dict[str, str]:
    """mode -> level for `namespace` (labels, else the default; exempt: privileged)."""
    if namespace in EXEMPT_NAMESPACES:
        return dict.fromkeys(MODES, "privileged")
    default = app[SETTINGS].pod_security_default
    labels = app[NAMESPACE_LIFECYCLE].labels(namespace)
    if labels is None:  # not in the watch-fed cache (yet): read it
        try:
            ns = await app[OBJECTS].get(NAMESPACES, None, namespace)
        except errors.StatusError as e:
            if e.code != 404:
                raise
            ns = {}
        labels = as_dict(as_dict(ns.get("metadata")).get("labels"))
    return {mode: str(labels[LABEL + mode]) if labels.get(LABEL + mode) in LEVELS else default
            for mode in MODES}


def _pod_spec(resource: Resource, obj: Object) -> Any:
    if resource is PODS:
        return obj.get("spec")
    path = TEMPLATES.get(resource.kind)
    return dig(obj, *path) if path else None


async def admit(request: web.Request, target: Target, obj: Object) -> None:
    """Check a new pod (or a workload's pod template) against its namespace's levels."""
    spec = _pod_spec(target.resource, obj)
    if not isinstance(spec, dict) or not target.namespace:
        return
    modes = await levels(request.app, target.namespace)
    name = str(as_dict(obj.get("metadata")).get("name") or "")
    # The modes usually share a level (all three the default): check the spec once per level.
    by_level = {level: violations(level, spec) for level in set(modes.values())}
    if target.resource is PODS:
        found = by_level[modes["enforce"]]
        if found:
            raise errors.forbidden(PODS, name, f'violates PodSecurity "{modes["enforce"]}:'
                                               f'latest": {", ".join(found)}')
    found = by_level[modes["warn"]]
    if found:
        add_warning(request, f'would violate PodSecurity "{modes["warn"]}:latest": '
                             f'{", ".join(found)}')
    found = by_level[modes["audit"]]
    if found:
        log.info("pod security audit kind=%s namespace=%s name=%s level=%s violations=%s",
                 target.resource.kind, target.namespace, name, modes["audit"], "; ".join(found))


def applies(target: Target) -> bool:
    return target.resource is PODS or target.resource.kind in TEMPLATES
