"""The HPA's replica calculation, as Kubernetes' replica_calculator.go decides it.

Pods are grouped first: deleted and failed ones are ignored, pending ones are unready,
pods without a sample are missing, and for CPU a pod is unready while it is not Ready
or, within its first 5 minutes, while its sample predates one window after becoming
Ready. The ratio of current to target usage then gives the count, ceil(ratio * ready
pods), unless it is within the tolerance (0.1) of 1. With missing pods, or unready ones
when scaling up, the ratio is recomputed as if missing pods used the target (scaling
down) or nothing (scaling up) and unready pods nothing; if that flips the direction,
or lands within the tolerance, the count stays. Pure: the controller passes samples in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from minikube_py.api import meta
from minikube_py.api.shape import as_dict

TOLERANCE = 0.1
CPU_INITIALIZATION_PERIOD = timedelta(minutes=5)
INITIAL_READINESS_DELAY = timedelta(seconds=30)
READY, UNREADY, MISSING, IGNORED = "ready", "unready", "missing", "ignored"


class ReplicaError(Exception):
    """No count can be computed; `reason` is the ScalingActive condition's."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


@dataclass(frozen=True)
class Sample:
    """One pod's usage (milli-units) and when and over what window it was measured."""

    value: int
    timestamp: datetime
    window: timedelta


def group(pod: Mapping[str, Any], sample: Sample | None, *, cpu: bool, now: datetime) -> str:
    """READY, UNREADY, MISSING or IGNORED (groupPods)."""
    status = as_dict(pod.get("status"))
    if as_dict(pod.get("metadata")).get("deletionTimestamp") or status.get("phase") == "Failed":
        return IGNORED
    if status.get("phase") == "Pending":
        return UNREADY
    if sample is None:
        return MISSING
    if not cpu:
        return READY
    condition = meta.get_condition(status.get("conditions"), "Ready")
    if condition is None or not status.get("startTime"):
        return UNREADY
    started = meta.parse_time(str(status["startTime"]))
    changed = meta.parse_time(str(condition.get("lastTransitionTime") or status["startTime"]))
    if started + CPU_INITIALIZATION_PERIOD > now:
        unready = condition.get("status") == "False" or \
            sample.timestamp < changed + sample.window
    else:
        unready = condition.get("status") == "False" and \
            started + INITIAL_READINESS_DELAY > changed
    return UNREADY if unready else READY


def _utilization(metrics: Mapping[str, int], requests: Mapping[str, int], target: int
                 ) -> tuple[float, int, int]:
    """(ratio, utilization %, raw average) over the pods with a request
    (GetResourceUtilizationRatio)."""
    used = [(v, requests[p]) for p, v in metrics.items() if p in requests]
    requested = sum(r for _, r in used)
    if requested == 0:
        raise ReplicaError("FailedGetResourceMetric", "no metrics returned matched known pods")
    utilization = sum(v for v, _ in used) * 100 // requested
    return utilization / target, utilization, sum(v for v, _ in used) // len(used)


def _average(metrics: Mapping[str, int], target: int) -> tuple[float, int]:
    """(ratio, average) (GetMetricUsageRatio)."""
    average = sum(metrics.values()) // len(metrics)
    return average / target, average


def _within(ratio: float, tolerance: float) -> bool:
    return abs(1.0 - ratio) <= tolerance


def _decide(current: int, ready: int, ratio: float, new_ratio: float | None, counted: int,
            tolerance: float) -> int:
    if new_ratio is None:
        return current if _within(ratio, tolerance) else math.ceil(ratio * ready)
    if _within(new_ratio, tolerance) or (ratio < 1.0 < new_ratio) or (new_ratio < 1.0 < ratio):
        return current
    replicas = math.ceil(new_ratio * counted)
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return current
    return replicas


def _split(groups: Mapping[str, str], metrics: Mapping[str, int]
           ) -> tuple[dict[str, int], int, list[str], list[str]]:
    kept = {p: v for p, v in metrics.items() if groups.get(p) == READY}
    if not kept:
        raise ReplicaError("FailedGetResourceMetric",
                           "did not receive metrics for targeted pods (pods might be unready)")
    missing = [p for p, g in groups.items() if g == MISSING]
    unready = [p for p, g in groups.items() if g == UNREADY]
    return kept, sum(1 for g in groups.values() if g == READY), missing, unready


def utilization_replicas(current: int, groups: Mapping[str, str], metrics: Mapping[str, int],
                         requests: Mapping[str, int], target: int,
                         tolerance: float = TOLERANCE) -> tuple[int, int, int]:
    """(replicas, utilization %, raw average) for a Utilization target (GetResourceReplicas);
    `requests` must hold every counted pod's request (the caller refuses missing ones)."""
    kept, ready, missing, unready = _split(groups, metrics)
    ratio, utilization, raw = _utilization(kept, requests, target)
    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        return _decide(current, ready, ratio, None, 0, tolerance), utilization, raw
    filled = dict(kept)
    if missing and ratio != 1.0:
        fallback = max(100, target)
        for pod in missing:
            filled[pod] = requests.get(pod, 0) * fallback // 100 if ratio < 1.0 else 0
    if scale_up_with_unready:
        filled.update(dict.fromkeys(unready, 0))
    new_ratio = _utilization(filled, requests, target)[0]
    return _decide(current, ready, ratio, new_ratio, len(filled), tolerance), utilization, raw


def average_replicas(current: int, groups: Mapping[str, str], metrics: Mapping[str, int],
                     target: int, tolerance: float = TOLERANCE) -> tuple[int, int]:
    """(replicas, average) for an AverageValue target (calcPlainMetricReplicas)."""
    kept, ready, missing, unready = _split(groups, metrics)
    ratio, average = _average(kept, target)
    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        return _decide(current, ready, ratio, None, 0, tolerance), average
    filled = dict(kept)
    if missing and ratio != 1.0:
        filled.update(dict.fromkeys(missing, target if ratio < 1.0 else 0))
    if scale_up_with_unready:
        filled.update(dict.fromkeys(unready, 0))
    new_ratio = _average(filled, target)[0]
    return _decide(current, ready, ratio, new_ratio, len(filled), tolerance), average
