"""Pod facts the workload controllers share: active, ready, available, and the
order in which a ReplicaSet gives pods up (Kubernetes' ActivePods ordering)."""

from __future__ import annotations

from datetime import UTC, datetime

from minikube_py.api import meta
from minikube_py.api.types import Condition, Object, PodStatus

_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def parse_time(text: str | None) -> float:
    """RFC 3339 to epoch seconds; 0 for missing or malformed, so a bad timestamp written
    by someone else sorts first instead of failing the controller."""
    if not text:
        return 0.0
    try:
        return meta.parse_time(text).timestamp()
    except ValueError:
        return 0.0


def format_time(epoch: float) -> str:
    """Epoch seconds as metav1.Time (the controllers keep times as floats)."""
    return meta.format_time(datetime.fromtimestamp(epoch, UTC))


def is_active(pod: Object) -> bool:
    """Counts toward replicas: not finished and not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


def _ready_condition(pod: Object) -> Condition | None:
    status: PodStatus = pod.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond
    return None


def is_ready(pod: Object) -> bool:
    cond = _ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def ready_since(pod: Object) -> float:
    cond = _ready_condition(pod)
    return parse_time(cond.get("lastTransitionTime")) if cond else 0.0


def is_available(pod: Object, min_ready_seconds: int, now: float) -> bool:
    """Ready for at least minReadySeconds."""
    if not is_ready(pod):
        return False
    return min_ready_seconds <= 0 or ready_since(pod) + min_ready_seconds <= now


def _restarts(pod: Object) -> int:
    return sum(int(s.get("restartCount", 0))
               for s in (pod.get("status") or {}).get("containerStatuses") or [])


def deletion_order_key(pod: Object) -> tuple[bool, int, bool, float, int, float]:
    """Sort key: the pod to give up first sorts first. Unscheduled before
    scheduled, Pending < Unknown < Running, not ready before ready, ready for
    less time first, more restarts first, newer first."""
    ready = is_ready(pod)
    return (
        bool((pod.get("spec") or {}).get("nodeName")),
        _PHASE_RANK.get((pod.get("status") or {}).get("phase", "Pending"), 0),
        ready,
        -ready_since(pod) if ready else 0.0,
        -_restarts(pod),
        -parse_time(pod["metadata"].get("creationTimestamp")),
    )


def pods_to_delete(pods: list[Object], count: int) -> list[Object]:
    return sorted(pods, key=deletion_order_key)[:count]
