"""PersistentVolumeClaims (core/v1): requested storage, access modes, an optional class,
selector or volume name, and `kubectl get pvc`. A claim's spec is fixed once created
except for growing its request and the binder filling `volumeName`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, meta, table, volumes
from minikube_py.api.errors import Cause
from minikube_py.api.selectors import LabelSelector
from minikube_py.api.shape import as_dict, dig
from minikube_py.api.types import Object

PHASES = ("Bound", "Lost", "Pending")


def _selector_causes(selector: Any) -> list[Cause]:
    if selector is None:
        return []
    try:
        LabelSelector.from_dict(selector)
    except ValueError as e:
        return [field.invalid("spec.selector", selector, str(e))]
    return meta.validate_labels(dig(selector, "matchLabels"), "spec.selector.matchLabels")


class PersistentVolumeClaimStrategy(volumes.StorageObjectStrategy):
    finalizer = volumes.PVC_PROTECTION
    phases = PHASES
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Status", description="phase represents the current phase of "
                                           "PersistentVolumeClaim."),
        table.Column("Volume", description="volumeName is the binding reference to the "
                                           "PersistentVolume backing this claim."),
        table.Column("Capacity", description="capacity represents the actual resources of the "
                                             "underlying volume."),
        table.Column("Access Modes", description="accessModes contains the desired access "
                                                 "modes the volume should have."),
        table.Column("StorageClass", description="storageClassName is the name of the "
                                                 "StorageClass required by the claim."),
        table.Column("VolumeAttributesClass", description="volumeAttributesClassName may be "
                                                          "used to set the "
                                                          "VolumeAttributesClass used by this "
                                                          "claim."),
        table.AGE,
        table.Column("VolumeMode", priority=1, description="volumeMode defines what type of "
                                                           "volume is required by the claim."),
    )

    def set_defaults(self, obj: Object) -> None:
        spec = obj.get("spec")
        if isinstance(spec, dict):
            spec.setdefault("volumeMode", "Filesystem")

    def validate(self, obj: Object) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, Mapping):
            return [field.required("spec")]
        causes = volumes.access_mode_causes(spec.get("accessModes"), "spec.accessModes",
                                            "at least 1 access mode is required")
        requests = dig(spec, "resources", "requests")
        if not isinstance(requests, Mapping) or "storage" not in requests:
            causes.append(field.required("spec.resources[storage]"))
        else:
            causes += volumes.positive_storage(requests["storage"],
                                               "spec.resources[storage]")
        causes += volumes.volume_mode_causes(spec, "spec.volumeMode")
        causes += volumes.class_name_causes(spec, "spec.storageClassName")
        causes += _selector_causes(spec.get("selector"))
        name = spec.get("volumeName")
        if name:
            causes += meta.validate_name(name, "spec.volumeName", meta.dns1123_subdomain)
        return causes + self.phase_causes(obj)

    def immutable_causes(self, new: Object, old: Object) -> list[Cause]:
        """Only `volumeName` (unset to set) and the storage request (upwards) may change."""
        new_spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
        fixed_new = {k: v for k, v in new_spec.items() if k not in ("resources", "volumeName")}
        fixed_old = {k: v for k, v in old_spec.items() if k not in ("resources", "volumeName")}
        name_changed = old_spec.get("volumeName") and new_spec.get(
            "volumeName") != old_spec.get("volumeName")
        if fixed_new != fixed_old or name_changed:
            return [field.forbidden("spec", "spec is immutable after creation except "
                                            "resources.requests and volumeAttributesClassName "
                                            "for bound claims")]
        before = volumes.storage_of(dig(old_spec, "resources", "requests"))
        after = volumes.storage_of(dig(new_spec, "resources", "requests"))
        if before is not None and after is not None and after < before:
            return [field.forbidden("spec.resources.requests.storage",
                                    "field can not be less than previous value")]
        return []

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
        bound = status.get("phase") == "Bound"
        return [table.name(obj), status.get("phase", ""), spec.get("volumeName", ""),
                str(dig(status, "capacity", "storage", default="")) if bound else "",
                volumes.abbreviated(status.get("accessModes")) if bound else "",
                spec.get("storageClassName", ""),
                spec.get("volumeAttributesClassName") or "<unset>", table.age(obj, now),
                spec.get("volumeMode", "")]
