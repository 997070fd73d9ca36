"""PersistentVolumes (core/v1, cluster-scoped): one volume source, capacity, access
modes, reclaim policy and `kubectl get pv`. The source is fixed once created, as
kube-apiserver's ValidatePersistentVolumeUpdate has it."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, table, volumes
from minikube_py.api.errors import Cause
from minikube_py.api.shape import as_dict, dig
from minikube_py.api.types import Object

RECLAIM_POLICIES = ("Delete", "Recycle", "Retain")
PHASES = ("Available", "Bound", "Failed", "Pending", "Released")
# The spec fields that are not a volume source.
_NOT_SOURCES = ("accessModes", "capacity", "claimRef", "mountOptions", "nodeAffinity",
                "persistentVolumeReclaimPolicy", "storageClassName",
                "volumeAttributesClassName", "volumeMode")


def source_of(spec: Mapping[str, Any]) -> list[str]:
    """The volume source keys a PV spec sets (valid specs have exactly one)."""
    return [k for k in spec if k not in _NOT_SOURCES and spec[k] is not None]


def _path_causes(source: Any, path: str) -> list[Cause]:
    value = dig(source, "path")
    if not value:
        return [field.required(f"{path}.path")]
    if not isinstance(value, str) or not posixpath.isabs(value):
        return [field.invalid(f"{path}.path", value, "must be an absolute path")]
    if ".." in value.split("/"):
        return [field.invalid(f"{path}.path", value, "must not contain '..'")]
    return []


def _source_causes(spec: Mapping[str, Any]) -> list[Cause]:
    sources = source_of(spec)
    if not sources:
        return [field.required("spec", "must specify a volume type")]
    if len(sources) > 1:
        return [field.forbidden(f"spec.{sources[1]}", "may not specify more than 1 volume "
                                                      "type")]
    kind, source = sources[0], spec[sources[0]]
    if not isinstance(source, Mapping):
        return [field.invalid(f"spec.{kind}", source, "must be an object")]
    causes: list[Cause] = []
    if kind in ("hostPath", "local", "nfs"):
        causes += _path_causes(source, f"spec.{kind}")
    if kind == "nfs" and not source.get("server"):
        causes.append(field.required("spec.nfs.server"))
    elif kind == "nfs" and (not isinstance(source["server"], str)
                            or source["server"].startswith("-")
                            or any(c.isspace() for c in source["server"])):
        causes.append(field.invalid("spec.nfs.server", source["server"],
                                    "must be a host name or address"))
    if kind == "local" and not dig(spec, "nodeAffinity", "required"):
        causes.append(field.required("spec.nodeAffinity", "Local volume requires node "
                                                          "affinity"))
    return causes


class PersistentVolumeStrategy(volumes.StorageObjectStrategy):
    finalizer = volumes.PV_PROTECTION
    phases = PHASES
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Capacity", description="capacity is the description of the persistent "
                                             "volume's resources and capacity."),
        table.Column("Access Modes", description="accessModes contains all ways the volume "
                                                 "can be mounted."),
        table.Column("Reclaim Policy", description="persistentVolumeReclaimPolicy defines "
                                                   "what happens to a persistent volume when "
                                                   "released from its claim."),
        table.Column("Status", description="phase indicates if a volume is available, bound "
                                           "to a claim, or released by a claim."),
        table.Column("Claim", description="claimRef is part of a bi-directional binding "
                                          "between PersistentVolume and PersistentVolumeClaim."),
        table.Column("StorageClass", description="storageClassName is the name of StorageClass "
                                                 "to which this persistent volume belongs."),
        table.Column("VolumeAttributesClass", description="Name of VolumeAttributesClass to "
                                                          "which this persistent volume "
                                                          "belongs."),
        table.Column("Reason", description="reason is a brief CamelCase string that describes "
                                           "any failure."),
        table.AGE,
        table.Column("VolumeMode", priority=1, description="volumeMode defines if a volume is "
                                                           "intended to be used with a "
                                                           "formatted filesystem or to remain "
                                                           "in raw block state."),
    )

    def set_defaults(self, obj: Object) -> None:
        spec = obj.get("spec")
        if isinstance(spec, dict):
            spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
            spec.setdefault("volumeMode", "Filesystem")

    def validate(self, obj: Object) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, Mapping):
            return [field.required("spec")]
        causes = volumes.access_mode_causes(spec.get("accessModes"), "spec.accessModes",
                                            "must specify at least 1 access mode")
        capacity = spec.get("capacity")
        if not capacity:
            causes.append(field.required("spec.capacity"))
        elif not isinstance(capacity, Mapping) or set(capacity) != {"storage"}:
            keys = sorted(capacity) if isinstance(capacity, Mapping) else capacity
            causes.append(field.not_supported("spec.capacity", keys, ("storage",)))
        else:
            causes += volumes.positive_storage(capacity["storage"], "spec.capacity[storage]")
        policy = spec.get("persistentVolumeReclaimPolicy")
        if policy is not None and policy not in RECLAIM_POLICIES:
            causes.append(field.not_supported("spec.persistentVolumeReclaimPolicy", policy,
                                              RECLAIM_POLICIES))
        causes += volumes.volume_mode_causes(spec, "spec.volumeMode")
        causes += volumes.class_name_causes(spec, "spec.storageClassName")
        return causes + _source_causes(spec) + self.phase_causes(obj)

    def immutable_causes(self, new: Object, old: Object) -> list[Cause]:
        new_spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
        causes = []
        if {k: new_spec.get(k) for k in source_of(old_spec) + source_of(new_spec)} != {
                k: old_spec.get(k) for k in source_of(old_spec) + source_of(new_spec)}:
            causes.append(field.forbidden("spec.persistentvolumesource",
                                          "spec.persistentvolumesource is immutable after "
                                          "creation"))
        if new_spec.get("volumeMode") != old_spec.get("volumeMode"):
            causes.append(field.immutable("spec.volumeMode", new_spec.get("volumeMode")))
        if old_spec.get("nodeAffinity") and new_spec.get("nodeAffinity") != old_spec.get(
                "nodeAffinity"):
            causes.append(field.immutable("spec.nodeAffinity", new_spec.get("nodeAffinity")))
        return causes

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        spec = as_dict(obj.get("spec"))
        claim = as_dict(spec.get("claimRef"))
        claim_text = f"{claim.get('namespace', '')}/{claim.get('name', '')}" if claim else ""
        return [table.name(obj), str(dig(spec, "capacity", "storage", default="")),
                volumes.abbreviated(spec.get("accessModes")),
                spec.get("persistentVolumeReclaimPolicy", ""),
                dig(obj, "status", "phase", default=""), claim_text,
                spec.get("storageClassName", ""),
                spec.get("volumeAttributesClassName") or "<unset>",
                dig(obj, "status", "reason", default=""), table.age(obj, now),
                spec.get("volumeMode", "")]
