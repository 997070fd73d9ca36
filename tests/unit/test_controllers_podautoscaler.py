"""The HPA's arithmetic, table-driven from Kubernetes' own cases
(pkg/controller/podautoscaler/replica_calculator_test.go: ScaleUp, UnreadyLessScale,
ScaleDown, Tolerance, MissingMetrics*, RollingUpdateWithMaxSurge ...; per-pod values
here are the sums its two-container pods report), the stabilization windows and the
scaling policies (horizontal_test.go's behaviour), and pod grouping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from minikube_py.api.horizontalpodautoscaler import SCALE_DOWN_DEFAULT, SCALE_UP_DEFAULT
from minikube_py.controllers.podautoscaler_behavior import (
    Event,
    limit,
    limit_by_rules,
    scale_down_limit,
    scale_up_limit,
    stabilize,
    stabilize_down,
)
from minikube_py.controllers.podautoscaler_replicas import (
    IGNORED,
    MISSING,
    READY,
    UNREADY,
    ReplicaError,
    Sample,
    average_replicas,
    group,
    utilization_replicas,
)

R, U, M, I = READY, UNREADY, MISSING, IGNORED


def _case(groups: list[str], levels: list[int], requests: list[int] | None = None
          ) -> tuple[dict[str, str], dict[str, int], dict[str, int]]:
    names = [f"p{i}" for i in range(len(groups))]
    with_metrics = [n for n, g in zip(names, groups, strict=True) if g not in (M,)
                    and g != "pending"]
    metrics = dict(zip(with_metrics, levels, strict=False))
    return ({n: (U if g == "pending" else g) for n, g in zip(names, groups, strict=True)},
            metrics, dict(zip(names, requests or [1000] * len(names), strict=True)))


@pytest.mark.parametrize(("current", "groups", "levels", "requests", "target", "expected"), [
    pytest.param(3, [R, R, R], [300, 500, 700], None, 30, (5, 50, 500), id="ScaleUp"),
    pytest.param(3, [U, R, R], [300, 500, 700], None, 30, (4, 60, 600),
                 id="ScaleUpUnreadyLessScale"),
    pytest.param(3, [R, U, U], [400, 500, 700], None, 30, (3, 40, 400),
                 id="ScaleUpUnreadyNoScale"),
    pytest.param(2, [R, R, I, I], [500, 700, 0, 0], None, 30, (4, 60, 600),
                 id="ScaleUpIgnoresFailedPods"),
    pytest.param(5, [R, R, R, R, R], [100, 300, 500, 250, 250], None, 50, (3, 28, 280),
                 id="ScaleDown"),
    pytest.param(5, [R, R, R, U, U], [100, 300, 500, 250, 250], None, 50, (2, 30, 300),
                 id="ScaleDownIncludeUnreadyPods"),
    pytest.param(5, [R, "pending", "pending", "pending", "pending"], [100], None, 50,
                 (1, 10, 100), id="ScaleDownExcludeUnscheduledPods"),
    pytest.param(3, [R, R, R], [1010, 1030, 1020], [900, 1000, 1100], 100, (3, 102, 1020),
                 id="Tolerance"),
    pytest.param(4, [R, R, M, M], [400, 95], None, 100, (3, 24, 247), id="MissingMetrics"),
    pytest.param(2, [R, M], [1000], None, 100, (2, 100, 1000), id="MissingMetricsNoChangeEq"),
    pytest.param(2, [R, M], [1900], None, 100, (2, 190, 1900), id="MissingMetricsNoChangeGt"),
    pytest.param(2, [R, M], [600], None, 100, (2, 60, 600), id="MissingMetricsNoChangeLt"),
    pytest.param(3, [U, R, M], [100, 450], None, 50, (3, 45, 450),
                 id="MissingMetricsUnreadyChange"),
    pytest.param(3, [U, R, M], [100, 2000], None, 50, (4, 200, 2000),
                 id="MissingMetricsUnreadyScaleUp"),
    pytest.param(4, [U, R, R, M], [100, 100, 100], None, 50, (3, 10, 100),
                 id="MissingMetricsUnreadyScaleDown"),
    pytest.param(2, [R, R, M], [100, 100], None, 50, (2, 10, 100),
                 id="DuringRollingUpdateWithMaxSurge"),
])
def test_utilization_replicas(current: int, groups: list[str], levels: list[int],
                              requests: list[int] | None, target: int,
                              expected: tuple[int, int, int]) -> None:
    grouped, metrics, reqs = _case(groups, levels, requests)
    assert utilization_replicas(current, grouped, metrics, reqs, target) == expected


def test_superfluous_metrics_are_ignored() -> None:
    """SuperfluousMetrics: samples of pods the selector does not pick do not count."""
    groups = {f"p{i}": R for i in range(4)}
    metrics = dict(zip([*groups, "x4", "x5"], [4000, 9500, 3000, 7000, 3200, 2000],
                       strict=True))
    assert utilization_replicas(4, groups, metrics, dict.fromkeys(groups, 1000), 100) == (
        24, 587, 5875)


def test_no_ready_metrics_is_an_error() -> None:
    with pytest.raises(ReplicaError, match="did not receive metrics for targeted pods"):
        utilization_replicas(3, {"a": U}, {"a": 100}, {"a": 1000}, 50)


@pytest.mark.parametrize(("current", "groups", "levels", "target", "expected"), [
    pytest.param(3, [R, R, R], [20000, 10000, 30000], 15000, (4, 20000), id="ScaleUpCM"),
    pytest.param(3, [R, R, R], [50000, 10000, 30000], 15000, (6, 30000),
                 id="ScaleUpCMUnreadyHotCpuNoLessScale"),  # readiness is for CPU only
    pytest.param(5, [R, R, R, R, R], [12000] * 5, 20000, (3, 12000), id="ScaleDownCM"),
    pytest.param(3, [R, R, R], [20000, 21000, 21000], 20000, (3, 20666), id="ToleranceCM"),
])
def test_average_value_replicas(current: int, groups: list[str], levels: list[int],
                                target: int, expected: tuple[int, int]) -> None:
    grouped, metrics, _ = _case(groups, levels)
    assert average_replicas(current, grouped, metrics, target) == expected


NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def _pod(phase: str = "Running", ready: str | None = "True", started: int = 600,
         changed: int = 590, deleted: bool = False) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "startTime": (
        NOW - timedelta(seconds=started)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": ready, "lastTransitionTime": (
            NOW - timedelta(seconds=changed)).strftime("%Y-%m-%dT%H:%M:%SZ")}]
    meta: dict[str, Any] = {"name": "p"}
    if deleted:
        meta["deletionTimestamp"] = "2024-05-01T11:00:00Z"
    return {"metadata": meta, "status": status}


SAMPLE = Sample(1, NOW, timedelta(seconds=30))


@pytest.mark.parametrize(("pod", "sample", "cpu", "expected"), [
    pytest.param(_pod(), SAMPLE, True, R, id="ready"),
    pytest.param(_pod(deleted=True), SAMPLE, True, I, id="deleting"),
    pytest.param(_pod(phase="Failed"), SAMPLE, True, I, id="failed"),
    pytest.param(_pod(phase="Pending"), None, True, U, id="pending"),
    pytest.param(_pod(), None, True, M, id="no-sample"),
    pytest.param(_pod(ready=None), SAMPLE, True, U, id="no-ready-condition"),
    pytest.param(_pod(ready=None), SAMPLE, False, R, id="memory-ignores-readiness"),
    pytest.param(_pod(started=60, changed=30), SAMPLE, True, R,
                 id="fresh-sample-after-ready"),
    pytest.param(_pod(started=60, changed=10), SAMPLE, True, U,
                 id="sample-older-than-a-window-since-ready"),
    pytest.param(_pod(ready="False", started=600, changed=590), SAMPLE, True, U,
                 id="never-ready"),
    pytest.param(_pod(ready="False", started=600, changed=100), SAMPLE, True, R,
                 id="was-ready-once"),
])
def test_group(pod: dict[str, Any], sample: Sample | None, cpu: bool, expected: str) -> None:
    assert group(pod, sample, cpu=cpu, now=NOW) == expected


def test_stabilization_windows() -> None:
    # scale down takes the highest recommendation of the last 300 s
    history = [(0.0, 10), (100.0, 8), (200.0, 6)]
    assert stabilize(history, 250.0, 10, 4, 0, 300) == 10
    assert stabilize(history, 350.0, 10, 4, 0, 300) == 8  # (0, 10) aged out
    assert stabilize(history, 600.0, 10, 4, 0, 300) == 4
    # scale up (window 0) follows at once; a window keeps the lowest recent one
    assert stabilize(history, 250.0, 2, 9, 0, 300) == 9
    assert stabilize(history, 250.0, 2, 9, 120, 300) == 6


@pytest.mark.parametrize(("current", "ups", "rules", "expected"), [
    pytest.param(1, [], SCALE_UP_DEFAULT, 5, id="4-pods-beats-100%-at-1"),
    pytest.param(10, [], SCALE_UP_DEFAULT, 20, id="100%-beats-4-pods-at-10"),
    pytest.param(8, [Event(95.0, 4)], SCALE_UP_DEFAULT, 8, id="period-start-counts-adds"),
    pytest.param(8, [Event(80.0, 4)], SCALE_UP_DEFAULT, 16, id="older-adds-forgotten"),
    pytest.param(10, [], {**SCALE_UP_DEFAULT, "selectPolicy": "Min"}, 14, id="min-policy"),
    pytest.param(10, [], {**SCALE_UP_DEFAULT, "selectPolicy": "Disabled"}, 10,
                 id="disabled"),
])
def test_scale_up_limit(current: int, ups: list[Event], rules: dict[str, Any],
                        expected: int) -> None:
    assert scale_up_limit(current, ups, [], rules, now=100.0) == expected


def test_scale_down_limit() -> None:
    assert scale_down_limit(10, [], [], SCALE_DOWN_DEFAULT, now=100.0) == 0
    pods = {"policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]}
    assert scale_down_limit(10, [], [Event(90.0, 1)], pods, now=100.0) == 9


@pytest.mark.parametrize(("desired", "current", "expected"), [
    pytest.param(3, 3, (3, "DesiredWithinRange"), id="within"),
    pytest.param(50, 2, (6, "ScaleUpLimit"), id="scale-up-rate"),
    pytest.param(50, 8, (10, "TooManyReplicas"), id="max"),
    pytest.param(0, 3, (1, "TooFewReplicas"), id="min"),
])
def test_limit(desired: int, current: int, expected: tuple[int, str]) -> None:
    decision = limit(desired, current, 1, 10, ups=[], downs=[], up_rules=SCALE_UP_DEFAULT,
                     down_rules=SCALE_DOWN_DEFAULT, now=0.0)
    assert (decision.replicas, decision.reason) == expected


def test_without_behavior_only_scaling_down_is_stabilized() -> None:
    history = [(0.0, 10), (100.0, 8)]
    assert stabilize_down(history, 250.0, 4, 300) == 10
    assert stabilize_down(history, 350.0, 4, 300) == 8  # (0, 10) older than the window
    assert stabilize_down(history, 250.0, 12, 300) == 12  # up at once


@pytest.mark.parametrize(("desired", "current", "expected"), [
    pytest.param(3, 3, (3, "DesiredWithinRange"), id="within"),
    pytest.param(9, 1, (4, "ScaleUpLimit"), id="4-from-1"),
    pytest.param(9, 3, (6, "ScaleUpLimit"), id="twice-from-3"),
    pytest.param(50, 8, (10, "TooManyReplicas"), id="max"),
    pytest.param(0, 3, (1, "TooFewReplicas"), id="min"),
])
def test_limit_by_rules(desired: int, current: int, expected: tuple[int, str]) -> None:
    decision = limit_by_rules(desired, current, 1, 10)
    assert (decision.replicas, decision.reason) == expected
