"""StorageClasses (storage.k8s.io/v1, cluster-scoped): who provisions, with which
reclaim policy and binding mode; `kubectl get sc` marks the default class."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, meta, table
from minikube_py.api.errors import Cause
from minikube_py.api.shape import dig
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object

DEFAULT_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
LOCAL_PATH_PROVISIONER = "rancher.io/local-path"
# Where local-path volumes live on a node unless the class's `nodePath` parameter says.
LOCAL_PATH_ROOT = "/var/lib/minikube-py/storage"
BINDING_MODES = ("Immediate", "WaitForFirstConsumer")
RECLAIM_POLICIES = ("Delete", "Retain")
# What may not change once created (ValidateStorageClassUpdate).
IMMUTABLE = ("parameters", "provisioner", "reclaimPolicy")


def is_default(obj: Mapping[str, Any]) -> bool:
    return bool(dig(obj, "metadata", "annotations", DEFAULT_ANNOTATION) == "true")


class StorageClassStrategy(Strategy):
    has_spec = False
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Provisioner", description="provisioner indicates the type of the "
                                                "provisioner."),
        table.Column("ReclaimPolicy", description="reclaimPolicy controls the reclaimPolicy "
                                                  "for dynamically provisioned "
                                                  "PersistentVolumes of this storage class."),
        table.Column("VolumeBindingMode", description="volumeBindingMode indicates how "
                                                      "PersistentVolumeClaims should be "
                                                      "provisioned and bound."),
        table.Column("AllowVolumeExpansion", description="allowVolumeExpansion shows whether "
                                                         "the storage class allow volume "
                                                         "expand."),
        table.AGE,
    )

    def set_defaults(self, obj: Object) -> None:
        obj.setdefault("reclaimPolicy", "Delete")
        obj.setdefault("volumeBindingMode", "Immediate")

    def validate(self, obj: Object) -> list[Cause]:
        causes: list[Cause] = []
        provisioner = obj.get("provisioner")
        if not provisioner:
            causes.append(field.required("provisioner"))
        else:
            causes += meta.validate_name(provisioner, "provisioner",
                                         lambda p: meta.label_key_errors(p.lower()))
        parameters = obj.get("parameters")
        if parameters is not None and not (isinstance(parameters, Mapping) and all(
                isinstance(v, str) for v in parameters.values())):
            causes.append(field.invalid("parameters", parameters, "must be a map of strings"))
        policy = obj.get("reclaimPolicy")
        if policy is not None and policy not in RECLAIM_POLICIES:
            causes.append(field.not_supported("reclaimPolicy", policy, RECLAIM_POLICIES))
        mode = obj.get("volumeBindingMode")
        if mode is not None and mode not in BINDING_MODES:
            causes.append(field.not_supported("volumeBindingMode", mode, BINDING_MODES))
        return causes

    def immutable_causes(self, new: Object, old: Object) -> list[Cause]:
        causes = []
        for key in IMMUTABLE:
            if new.get(key) != old.get(key):
                causes.append(field.forbidden(key, f"updates to {key} are forbidden."))
        if new.get("volumeBindingMode") != old.get("volumeBindingMode"):
            causes.append(field.immutable("volumeBindingMode", new.get("volumeBindingMode")))
        return causes

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        name = table.name(obj) + (" (default)" if is_default(obj) else "")
        return [name, obj.get("provisioner", ""), obj.get("reclaimPolicy", ""),
                obj.get("volumeBindingMode", ""),
                "true" if obj.get("allowVolumeExpansion") else "false", table.age(obj, now)]


def default_class(classes: list[Object]) -> Object | None:
    """The default among `classes`: the newest marked one, as Kubernetes (1.26+) picks."""
    return meta.newest_marked(classes, DEFAULT_ANNOTATION)


def local_path_class() -> Object:
    """The default class a new cluster starts with, as k3s ships it: node-local
    directories (controllers/localpath.py), made where the scheduler puts the pod."""
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {
        "name": "local-path", "annotations": {DEFAULT_ANNOTATION: "true"}},
        "provisioner": LOCAL_PATH_PROVISIONER, "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer"}
