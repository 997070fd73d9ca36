"""IngressClasses (networking.k8s.io/v1, cluster-scoped): which controller implements
an Ingress. The one annotated is-default-class is given to Ingresses created without
a class (apiserver/defaultingressclass.py), as kube-apiserver's admission does."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, meta, table
from minikube_py.api.errors import Cause
from minikube_py.api.shape import as_dict, dig
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object

DEFAULT_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
SCOPES = ("Cluster", "Namespace")
MAX_CONTROLLER_LENGTH = 250
# Our controller's name, as `k8s.io/ingress-nginx` or `traefik.io/ingress-controller`.
CONTROLLER = "minikube-py.io/ingress-controller"


def is_default(obj: Mapping[str, Any]) -> bool:
    return bool(dig(obj, "metadata", "annotations", DEFAULT_ANNOTATION) == "true")


def default_class(classes: list[Object]) -> Object | None:
    """The newest class marked default (Kubernetes picks the newest of several)."""
    return meta.newest_marked(classes, DEFAULT_ANNOTATION)


def _domain_prefixed_path_causes(value: str, path: str) -> list[Cause]:
    """IsDomainPrefixedPath: 'example.com/anything'."""
    domain, slash, rest = value.partition("/")
    if not slash or not rest:
        return [field.invalid(path, value, "must be a domain-prefixed path (such as "
                                           "\"acme.io/foo\")")]
    return [field.invalid(path, domain, p) for p in meta.dns1123_subdomain(domain)]


def _validate_parameters(params: Any) -> list[Cause]:
    path = "spec.parameters"
    if not isinstance(params, Mapping):
        return [field.invalid(path, params, "must be an object")]
    causes: list[Cause] = []
    group = params.get("apiGroup")
    if group is not None:
        causes += meta.validate_name(group, f"{path}.apiGroup", meta.dns1123_subdomain)
    for key in ("kind", "name"):
        if not params.get(key):
            causes.append(field.required(f"{path}.{key}"))
        elif not isinstance(params.get(key), str):
            causes.append(field.invalid(f"{path}.{key}", params.get(key), "must be a string"))
    scope, namespace = params.get("scope"), params.get("namespace")
    if scope not in SCOPES:
        causes.append(field.not_supported(f"{path}.scope", scope, SCOPES) if scope is not None
                      else field.required(f"{path}.scope", ""))
    elif scope == "Namespace":
        if not namespace:
            causes.append(field.required(f"{path}.namespace",
                                         "`parameters.scope` is set to 'Namespace'"))
        else:
            causes += meta.validate_name(namespace, f"{path}.namespace", meta.dns1123_label)
    elif namespace is not None:
        causes.append(field.forbidden(f"{path}.namespace",
                                      "`parameters.scope` is set to 'Cluster'"))
    return causes


class IngressClassStrategy(Strategy):
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Controller", description="controller refers to the name of the "
                                               "controller that should handle this class."),
        table.Column("Parameters", description="parameters is a link to a custom resource "
                                               "containing additional configuration for the "
                                               "controller."),
        table.AGE,
    )

    def set_defaults(self, obj: Object) -> None:
        params = dig(obj, "spec", "parameters")
        if isinstance(params, dict):
            params.setdefault("scope", "Cluster")

    def validate(self, obj: Object) -> list[Cause]:
        spec = obj.get("spec")
        if spec is None:
            spec = {}
        if not isinstance(spec, Mapping):
            return [field.invalid("spec", spec, "must be an object")]
        causes: list[Cause] = []
        controller = spec.get("controller")
        if not controller:
            causes.append(field.required("spec.controller"))
        elif not isinstance(controller, str):
            causes.append(field.invalid("spec.controller", controller, "must be a string"))
        elif len(controller) > MAX_CONTROLLER_LENGTH:
            causes.append(field.too_long("spec.controller", MAX_CONTROLLER_LENGTH))
        else:
            causes += _domain_prefixed_path_causes(controller, "spec.controller")
        if spec.get("parameters") is not None:
            causes += _validate_parameters(spec.get("parameters"))
        return causes

    def immutable_causes(self, new: Object, old: Object) -> list[Cause]:
        controller = dig(new, "spec", "controller")
        if controller != dig(old, "spec", "controller"):
            return [field.immutable("spec.controller", controller)]
        return []

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        params = as_dict(dig(obj, "spec", "parameters"))
        shown = "<none>"
        if params:
            shown = str(params.get("kind", ""))
            if params.get("apiGroup"):
                shown += f".{params['apiGroup']}"
            shown += f"/{params.get('name', '')}"
        return [table.name(obj), dig(obj, "spec", "controller", default=""), shown,
                table.age(obj, now)]


def bundled_class() -> Object:
    """The class a new cluster starts with, marked default as k3s marks Traefik's: served
    by `minikube-py ingress` when it runs."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": "minikube-py",
                         "annotations": {DEFAULT_ANNOTATION: "true"}},
            "spec": {"controller": CONTROLLER}}
