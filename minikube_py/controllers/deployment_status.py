"""Deployment status conditions, pure: Available, and Progressing with its
reasons (NewReplicaSetCreated, ReplicaSetUpdated, NewReplicaSetAvailable,
ProgressDeadlineExceeded, DeploymentPaused, DeploymentResumed), which is what
`kubectl rollout status` and `kubectl describe` read."""

from __future__ import annotations

from minikube_py.api.meta import get_condition, set_condition
from minikube_py.api.types import Object
from minikube_py.controllers.deployment_util import fenceposts, is_complete, spec_replicas
from minikube_py.controllers.pods import format_time, parse_time


def made_progress(old: Object, new: Object) -> bool:
    """Kubernetes' DeploymentProgressing: more updated, ready or available
    replicas, or fewer old ones, than last time."""
    old_status = old or {}
    old_pods = old_status.get("replicas", 0) - old_status.get("updatedReplicas", 0)
    new_pods = new.get("replicas", 0) - new.get("updatedReplicas", 0)
    return bool(new.get("updatedReplicas", 0) > old_status.get("updatedReplicas", 0)
                or new_pods < old_pods
                or new.get("readyReplicas", 0) > old_status.get("readyReplicas", 0)
                or new.get("availableReplicas", 0) > old_status.get("availableReplicas", 0))


def _set(status: Object, type_: str, value: str, reason: str, message: str, now: float) -> None:
    existing = get_condition(status.get("conditions") or [], type_)
    stamp = format_time(now)
    condition = {"type": type_, "status": value, "reason": reason, "message": message}
    if existing is None or existing.get("reason") != reason or existing.get("status") != value:
        condition["lastUpdateTime"] = stamp
    set_condition(status, condition, now=stamp)


def update_conditions(deployment: Object, status: Object, new_rs_name: str | None, *,
                      created_new_rs: bool, now: float) -> None:
    """Set Available and Progressing on `status` (in place)."""
    spec = deployment.get("spec") or {}
    _, max_unavailable = fenceposts(deployment)
    if status.get("availableReplicas", 0) >= spec_replicas(deployment) - max_unavailable:
        _set(status, "Available", "True", "MinimumReplicasAvailable",
             "Deployment has minimum availability.", now)
    else:
        _set(status, "Available", "False", "MinimumReplicasUnavailable",
             "Deployment does not have minimum availability.", now)
    progressing = get_condition(status.get("conditions") or [], "Progressing")
    if spec.get("paused"):
        _set(status, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now)
        return
    if progressing and progressing.get("reason") == "DeploymentPaused":
        _set(status, "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", now)
        progressing = get_condition(status["conditions"], "Progressing")
    rs_text = f'ReplicaSet "{new_rs_name}"'
    if created_new_rs:
        _set(status, "Progressing", "True", "NewReplicaSetCreated",
             f'Created new replica set "{new_rs_name}"', now)
    elif new_rs_name and is_complete(deployment, status):
        _set(status, "Progressing", "True", "NewReplicaSetAvailable",
             f"{rs_text} has successfully progressed.", now)
    elif made_progress(deployment.get("status") or {}, status):
        _set(status, "Progressing", "True", "ReplicaSetUpdated", f"{rs_text} is progressing.", now)
        for c in status["conditions"]:
            if c["type"] == "Progressing":
                c["lastUpdateTime"] = format_time(now)  # progress resets the deadline
    elif progressing and progressing.get("status") == "True" and deadline_exceeded(
            deployment, progressing, now):
        _set(status, "Progressing", "False", "ProgressDeadlineExceeded",
             f"{rs_text} has timed out progressing.", now)


def deadline_exceeded(deployment: Object, progressing: Object, now: float) -> bool:
    if progressing.get("reason") == "NewReplicaSetAvailable":
        return False
    seconds = (deployment.get("spec") or {}).get("progressDeadlineSeconds", 600)
    return parse_time(progressing.get("lastUpdateTime")) + float(seconds) < now


def seconds_to_deadline(deployment: Object, status: Object, now: float) -> float | None:
    """When to look again for a timeout, if the rollout is still in progress."""
    progressing = get_condition(status.get("conditions") or [], "Progressing")
    if not progressing or progressing.get("status") != "True" or is_complete(deployment, status):
        return None
    seconds = (deployment.get("spec") or {}).get("progressDeadlineSeconds", 600)
    return max(parse_time(progressing.get("lastUpdateTime")) + float(seconds) - now, 0) + 1
