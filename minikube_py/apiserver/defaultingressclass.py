"""DefaultIngressClass admission: an Ingress created with neither `spec.ingressClassName`
nor the legacy `kubernetes.io/ingress.class` annotation gets the default class's name
(the newest IngressClass annotated is-default-class), as kube-apiserver's plugin does, so
a plain `kubectl apply` of an Ingress is served by the cluster's controller."""

from __future__ import annotations

from minikube_py.api.ingress import class_of
from minikube_py.api.ingressclass import default_class
from minikube_py.api.resources import INGRESSCLASSES
from minikube_py.api.types import Object
from minikube_py.apiserver.objects import ObjectStore, decode_item


async def admit(store: ObjectStore, ingress: Object) -> None:
    spec = ingress.get("spec")
    if not isinstance(spec, dict) or class_of(ingress) is not None:
        return
    items, _, _ = await store.list(INGRESSCLASSES, None)
    chosen = default_class([decode_item(item) for item in items])
    if chosen is not None:
        spec["ingressClassName"] = chosen["metadata"]["name"]
