"""Deployment arithmetic, pure: pod-template-hash, revisions, the maxSurge /
maxUnavailable fenceposts, how far to scale the new and old ReplicaSets in a
rolling update, and the status `kubectl rollout status` reads.

Follows Kubernetes' pkg/controller/deployment/util/deployment_util.go.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from minikube_py.api.meta import safe_encode
from minikube_py.api.types import Object, PodTemplateSpec

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def template_hash(template: Object, collision_count: int = 0) -> str:
    """A short, stable name for a pod template (Kubernetes' ComputeHash +
    SafeEncodeString: no vowels, so no words)."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"))
    if collision_count:
        canonical += str(collision_count)
    digits = str(fnv32a(canonical.encode()))
    return safe_encode(digits)


def pruned(value: Any) -> Any:
    """A copy without null fields: Kubernetes' typed decoding reads null as unset
    (kubectl rollout undo sends `"creationTimestamp": null` in templates)."""
    if isinstance(value, dict):
        return {k: pruned(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [pruned(v) for v in value]
    return value


def without_hash(template: Object) -> PodTemplateSpec:
    """The template minus the pod-template-hash label and nulls, for comparison."""
    t: PodTemplateSpec = pruned(template or {})
    labels = (t.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return t


def equal_ignore_hash(a: Object, b: Object) -> bool:
    return without_hash(a) == without_hash(b)


def revision(obj: Object) -> int:
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def max_revision(replica_sets: list[Object]) -> int:
    return max((revision(rs) for rs in replica_sets), default=0)


def scaled_value(value: int | str | None, total: int, default: str, round_up: bool) -> int:
    """An intstr (maxSurge, maxUnavailable) as a count of `total` (GetScaledValueFromIntOrPercent)."""
    if value is None:
        value = default
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        return int(text)
    fraction = int(text[:-1]) * total / 100
    return math.ceil(fraction) if round_up else math.floor(fraction)


def fenceposts(deployment: Object) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as pod counts: surge rounds up, unavailable
    down, and both zero would deadlock so unavailable becomes 1."""
    spec = deployment.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    surge = scaled_value(rolling.get("maxSurge"), replicas, "25%", True)
    unavailable = scaled_value(rolling.get("maxUnavailable"), replicas, "25%", False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


def spec_replicas(obj: Object | None) -> int:
    return int(((obj or {}).get("spec") or {}).get("replicas", 0) or 0) if obj else 0


def status_of(obj: Object, field: str) -> int:
    return int((obj.get("status") or {}).get(field, 0) or 0)


def new_rs_target(deployment: Object, all_rs: list[Object], new_rs: Object) -> int:
    """How many replicas the new ReplicaSet may have now (NewRSNewReplicas for
    RollingUpdate): never more pods in total than replicas + maxSurge."""
    replicas = spec_replicas(deployment)
    current_new = spec_replicas(new_rs)
    if current_new >= replicas:
        return replicas
    surge, _ = fenceposts(deployment)
    total = sum(spec_replicas(rs) for rs in all_rs)
    room = replicas + surge - total
    if room <= 0:
        return current_new
    return current_new + min(room, replicas - current_new)


def old_scale_down_budget(deployment: Object, all_rs: list[Object], new_rs: Object | None) -> int:
    """How many old pods may go now without dropping below replicas -
    maxUnavailable available (reconcileOldReplicaSets' maxScaledDown)."""
    _, unavailable = fenceposts(deployment)
    min_available = spec_replicas(deployment) - unavailable
    new_unavailable = (
        spec_replicas(new_rs) - status_of(new_rs, "availableReplicas") if new_rs else 0
    )
    total = sum(spec_replicas(rs) for rs in all_rs)
    return max(total - min_available - new_unavailable, 0)


def available_scale_down_budget(deployment: Object, all_rs: list[Object]) -> int:
    """How many *available* old pods may go (scaleDownOldReplicaSetsForRollingUpdate).

    A ReplicaSet just scaled down still reports the pods it is deleting until its
    controller writes status; Kubernetes sums that status as it is, and a second pass in
    the gap goes below replicas - maxUnavailable (seen here under load: 7 of 10 with
    maxUnavailable 2). No ReplicaSet keeps more pods than its spec, so that bounds it."""
    _, unavailable = fenceposts(deployment)
    min_available = spec_replicas(deployment) - unavailable
    available = sum(min(status_of(rs, "availableReplicas"), spec_replicas(rs))
                    for rs in all_rs)
    return max(available - min_available, 0)


def calculate_status(deployment: Object, all_rs: list[Object], new_rs: Object | None) -> Object:
    """Replica counts over every ReplicaSet of the Deployment, as Kubernetes reports them."""
    available = sum(status_of(rs, "availableReplicas") for rs in all_rs)
    status = copy.deepcopy(deployment.get("status") or {})  # conditions are edited in place
    status.update({
        "observedGeneration": deployment["metadata"].get("generation", 0),
        "replicas": sum(status_of(rs, "replicas") for rs in all_rs),
        "updatedReplicas": status_of(new_rs, "replicas") if new_rs else 0,
        "readyReplicas": sum(status_of(rs, "readyReplicas") for rs in all_rs),
        "availableReplicas": available,
        "unavailableReplicas": max(spec_replicas(deployment) - available, 0),
    })
    return status


def is_complete(deployment: Object, status: Object) -> bool:
    """Every replica updated and available, and no old pods left."""
    replicas = spec_replicas(deployment)
    return bool(
        status.get("updatedReplicas", 0) == replicas
        and status.get("replicas", 0) == replicas
        and status.get("availableReplicas", 0) == replicas
        and status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0)
    )
