"""DefaultStorageClass admission: a claim created without `storageClassName` gets the
default class's name (the newest class annotated is-default-class), as
kube-apiserver's plugin does, so `kubectl apply` of a plain claim is provisioned.
Claims are created rarely; one read of the (few) classes per create is enough."""

from __future__ import annotations

from minikube_py.api.resources import STORAGECLASSES
from minikube_py.api.storageclass import default_class
from minikube_py.api.types import Object
from minikube_py.apiserver.objects import ObjectStore, decode_item


async def admit(store: ObjectStore, claim: Object) -> None:
    spec = claim.get("spec")
    if not isinstance(spec, dict) or spec.get("storageClassName") is not None:
        return
    items, _, _ = await store.list(STORAGECLASSES, None)
    chosen = default_class([decode_item(item) for item in items])
    if chosen is not None:
        spec["storageClassName"] = chosen["metadata"]["name"]
