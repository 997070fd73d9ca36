"""What PersistentVolumes and their claims share: access modes, volume modes, the
storage quantity, and how kubectl abbreviates them (RWO, ROX, RWX, RWOP)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

from minikube_py.api import field
from minikube_py.api.errors import Cause
from minikube_py.api.meta import dns1123_subdomain, validate_name
from minikube_py.api.quantity import parse_quantity
from minikube_py.api.shape import dig, str_field
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object

ACCESS_MODES = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX",
                "ReadWriteOncePod": "RWOP"}
VOLUME_MODES = ("Block", "Filesystem")
# The claim finalizer and the volume finalizer of the protection controllers.
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"
# The node the scheduler chose for a pod using a WaitForFirstConsumer claim.
SELECTED_NODE = "volume.kubernetes.io/selected-node"


def access_mode_causes(modes: Any, path: str, missing: str) -> list[Cause]:
    """At least one supported mode; ReadWriteOncePod only alone (ValidatePersistentVolume*)."""
    if not modes:
        return [field.required(path, missing)]
    if not isinstance(modes, list):
        return [field.invalid(path, modes, "must be a list")]
    causes = [field.not_supported(path, mode, tuple(ACCESS_MODES))
              for mode in modes if not isinstance(mode, str) or mode not in ACCESS_MODES]
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        causes.append(field.forbidden(path, "may not use ReadWriteOncePod with other access "
                                            "modes"))
    return causes


def volume_mode_causes(spec: Mapping[str, Any], path: str) -> list[Cause]:
    mode = spec.get("volumeMode")
    if mode is None or mode in VOLUME_MODES:
        return []
    return [field.not_supported(path, mode, VOLUME_MODES)]


def positive_storage(value: Any, path: str) -> list[Cause]:
    """A parseable quantity greater than zero (ValidatePositiveQuantityValue)."""
    try:
        quantity = parse_quantity(value)
    except ValueError as e:
        return [field.invalid(path, value, str(e))]
    if quantity <= 0:
        return [field.invalid(path, value, "must be greater than zero")]
    return []


def storage_of(resources: Any) -> Decimal | None:
    """The `storage` entry of a capacity or requests map, None when absent or unparseable."""
    if not isinstance(resources, Mapping) or "storage" not in resources:
        return None
    try:
        return parse_quantity(resources["storage"])
    except ValueError:
        return None


def abbreviated(modes: Any) -> str:
    """kubectl's ACCESS MODES cell: "RWO,ROX"."""
    if not isinstance(modes, list):
        return ""
    return ",".join(ACCESS_MODES.get(str(m), str(m)) for m in modes)


def class_name_causes(spec: Mapping[str, Any], path: str) -> list[Cause]:
    name = spec.get("storageClassName")
    if name is None or name == "":
        return []
    return validate_name(name, path, dns1123_subdomain)



class StorageObjectStrategy(Strategy):
    """What volumes and claims share: a phase starting at Pending (selectable by
    field selector) and their protection finalizer added on create, as the
    StorageObjectInUseProtection admission does, so an object in use outlives a delete."""

    selectable_fields = ("status.phase",)
    finalizer: ClassVar[str] = ""
    phases: ClassVar[tuple[str, ...]] = ()

    def initial_status(self, obj: Object) -> Object:
        return {"phase": "Pending"}

    def prepare_create(self, obj: Object) -> None:
        super().prepare_create(obj)
        metadata = obj.get("metadata")
        if isinstance(metadata, dict):
            finalizers = metadata.setdefault("finalizers", [])
            if isinstance(finalizers, list) and self.finalizer not in finalizers:
                finalizers.append(self.finalizer)

    def phase_causes(self, obj: Object) -> list[Cause]:
        phase = dig(obj, "status", "phase")
        if phase is None or phase in self.phases:
            return []
        return [field.not_supported("status.phase", phase, self.phases)]

    def extra_field_values(self, obj: Object) -> dict[str, str]:
        return {"status.phase": str_field(dig(obj, "status", "phase"))}
