"""StatefulSets (apps/v1): defaults, validation (which spec fields may change),
and `kubectl get sts`."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, meta, table, workload
from minikube_py.api.daemonset import update_strategy_causes
from minikube_py.api.errors import Cause
from minikube_py.api.shape import as_dict, dig
from minikube_py.api.types import Object

POD_MANAGEMENT = ("OrderedReady", "Parallel")
UPDATE_STRATEGIES = ("OnDelete", "RollingUpdate")
RETENTION = ("Delete", "Retain")
# What an update may change (ValidateStatefulSetUpdate); anything else is forbidden.
MUTABLE = ("replicas", "ordinals", "template", "updateStrategy",
           "persistentVolumeClaimRetentionPolicy", "minReadySeconds", "revisionHistoryLimit")


class StatefulSetStrategy(workload.WorkloadStrategy):
    selectable_fields = ("status.replicas",)
    required_status_counters = ("replicas", "availableReplicas")
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Ready", description="Number of the pod with ready state"),
        table.AGE,
        workload.CONTAINERS, workload.IMAGES,
    )

    def set_defaults(self, obj: Object) -> None:
        super().set_defaults(obj)
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        spec.setdefault("podManagementPolicy", "OrderedReady")
        workload.default_rolling_update(spec, "updateStrategy", partition=0)
        spec.setdefault("revisionHistoryLimit", 10)
        retention = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
        if isinstance(retention, dict):
            retention.setdefault("whenDeleted", "Retain")
            retention.setdefault("whenScaled", "Retain")

    def validate(self, obj: Object) -> list[Cause]:
        causes = super().validate(_with_claim_volumes(obj))
        spec = obj.get("spec")
        if not isinstance(spec, Mapping):
            return causes
        policy = spec.get("podManagementPolicy")
        if policy is not None and policy not in POD_MANAGEMENT:
            causes.append(field.not_supported("spec.podManagementPolicy", policy, POD_MANAGEMENT))
        causes += field.at_least("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
        strategy = spec.get("updateStrategy")
        causes += update_strategy_causes(strategy, "spec.updateStrategy", UPDATE_STRATEGIES,
                                         surge=False)
        rolling = dig(strategy, "rollingUpdate")
        if isinstance(rolling, Mapping):
            causes += field.at_least("spec.updateStrategy.rollingUpdate.partition",
                                     rolling.get("partition"))
            if workload.is_zero(rolling.get("maxUnavailable", 1)):
                causes.append(field.invalid("spec.updateStrategy.rollingUpdate.maxUnavailable",
                                            rolling.get("maxUnavailable"),
                                            "must be greater than 0"))
        retention = spec.get("persistentVolumeClaimRetentionPolicy")
        for key in ("whenDeleted", "whenScaled"):
            value = dig(retention, key)
            if value is not None and value not in RETENTION:
                causes.append(field.not_supported(
                    f"spec.persistentVolumeClaimRetentionPolicy.{key}", value, RETENTION))
        causes += field.at_least("spec.ordinals.start", dig(spec, "ordinals", "start"))
        for path, claim in field.objects(spec.get("volumeClaimTemplates"),
                                         "spec.volumeClaimTemplates", causes):
            name = dig(claim, "metadata", "name")
            if not isinstance(name, str) or not name:
                causes.append(field.required(f"{path}.metadata.name"))
            else:
                causes += meta.validate_name(name, f"{path}.metadata.name",
                                             meta.dns1123_subdomain)
        return causes

    def immutable_causes(self, new: Object, old: Object) -> list[Cause]:
        causes = super().immutable_causes(new, old)
        fixed_new = {k: v for k, v in as_dict(new.get("spec")).items() if k not in MUTABLE}
        fixed_old = {k: v for k, v in as_dict(old.get("spec")).items() if k not in MUTABLE}
        if fixed_new != fixed_old and not causes:
            causes.append(field.forbidden("spec", "updates to statefulset spec for fields other "
                                          "than 'replicas', 'ordinals', 'template', "
                                          "'updateStrategy', "
                                          "'persistentVolumeClaimRetentionPolicy' and "
                                          "'minReadySeconds' are forbidden"))
        return causes

    def extra_field_values(self, obj: Object) -> dict[str, str]:
        return {"status.replicas": str(dig(obj, "status", "replicas", default=0))}

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        status = as_dict(obj.get("status"))
        desired = dig(obj, "spec", "replicas", default=0)
        containers, images = table.containers_and_images(
            dig(obj, "spec", "template", "spec", default={}))
        return [table.name(obj), f"{status.get('readyReplicas', 0)}/{desired}",
                table.age(obj, now), containers, images]


def _with_claim_volumes(obj: Object) -> Object:
    """A copy whose template has a volume per claim template, so its containers may
    mount them by name (the controller adds those volumes to each pod it makes)."""
    templates = dig(obj, "spec", "volumeClaimTemplates")
    pod_spec = dig(obj, "spec", "template", "spec")
    if not isinstance(templates, list) or not isinstance(pod_spec, dict):
        return obj
    names = [n for t in templates if isinstance(n := dig(t, "metadata", "name"), str) and n]
    volumes = pod_spec.get("volumes") or []
    if not names or not isinstance(volumes, list):
        return obj
    copied = copy.deepcopy(obj)
    taken = {v.get("name") for v in volumes if isinstance(v, dict)}
    copied["spec"]["template"]["spec"]["volumes"] = volumes + [
        {"name": n, "persistentVolumeClaim": {"claimName": n}} for n in names if n not in taken]
    return copied
