"""autoscaling/v1 HorizontalPodAutoscaler: Kubernetes' conversion to and from v2 (the CPU
target as the metric, everything else in the round-trip annotations), v1's defaults,
validation (through v2, naming v2's fields) and `kubectl get hpa` row."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings

from minikube_py.api.horizontalpodautoscaler_v1 import (
    BEHAVIOR,
    CONDITIONS,
    CURRENT_METRICS,
    METRICS,
    convert,
    to_v1,
    to_v2,
)
from minikube_py.api.registry import strategy_for
from minikube_py.api.resources import HORIZONTALPODAUTOSCALERS_V1 as HPA_V1
from tests.fixtures.api_strategies import created_causes, table_meta, table_row
from tests.fixtures.strategies import objects

Obj = dict[str, Any]
CPU = {"type": "Resource", "resource": {"name": "cpu", "target": {
    "type": "Utilization", "averageUtilization": 50}}}
MEMORY = {"type": "Resource", "resource": {"name": "memory", "target": {
    "type": "AverageValue", "averageValue": "100Mi"}}}
QPS = {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {
    "type": "AverageValue", "averageValue": "1k"}}}
V2: Obj = {
    "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "web", "namespace": "default", "annotations": {"team": "a"}},
    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
             "minReplicas": 1, "maxReplicas": 5, "metrics": [MEMORY, CPU, QPS],
             "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60, "policies": [
                 {"type": "Pods", "value": 1, "periodSeconds": 15}]}}},
    "status": {"currentReplicas": 2, "desiredReplicas": 3, "observedGeneration": 4,
               "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {
                   "averageUtilization": 70, "averageValue": "35m"}}}],
               "conditions": [{"type": "AbleToScale", "status": "True",
                               "reason": "SucceededRescale"}]}}


def test_v2_as_v1() -> None:
    v1 = to_v1(copy.deepcopy(V2))
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"] == {"scaleTargetRef": V2["spec"]["scaleTargetRef"], "minReplicas": 1,
                          "maxReplicas": 5, "targetCPUUtilizationPercentage": 50}
    assert v1["status"] == {"currentReplicas": 2, "desiredReplicas": 3,
                            "observedGeneration": 4, "currentCPUUtilizationPercentage": 70}
    annotations = v1["metadata"]["annotations"]
    assert annotations["team"] == "a"
    assert annotations[METRICS] == (
        '[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"100Mi"}},'
        '{"type":"Pods","pods":{"metricName":"qps","targetAverageValue":"1k"}}]')
    assert json.loads(annotations[CURRENT_METRICS]) == [{"type": "Resource", "resource": {
        "name": "cpu", "currentAverageUtilization": 70, "currentAverageValue": "35m"}}]
    assert json.loads(annotations[BEHAVIOR]) == {"ScaleDown": {
        "StabilizationWindowSeconds": 60, "Policies": [
            {"Type": "Pods", "Value": 1, "PeriodSeconds": 15}]}}
    assert json.loads(annotations[CONDITIONS]) == V2["status"]["conditions"]


def test_round_trip_through_v1_loses_nothing() -> None:
    """As Kubernetes' conversion: the annotated metrics come back first, then CPU."""
    back = to_v2(to_v1(copy.deepcopy(V2)))
    assert back["spec"]["metrics"] == [MEMORY, QPS, CPU]
    assert {**back, "spec": {**back["spec"], "metrics": V2["spec"]["metrics"]}} == V2


def test_v1_without_a_target_is_cpu_at_80_percent_in_v2() -> None:
    v1 = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
          "metadata": {"name": "web"}, "spec": {"maxReplicas": 3}}
    assert to_v2(v1)["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    assert "annotations" not in to_v2(v1)["metadata"]


def test_convert_leaves_the_asked_version_alone() -> None:
    assert convert(V2, "autoscaling/v2") is V2
    assert convert(to_v1(V2), "autoscaling/v2")["apiVersion"] == "autoscaling/v2"


def test_defaults_and_validation_name_v2_fields() -> None:
    obj: Obj = {"metadata": {"name": "web", "namespace": "default"}, "spec": {
        "scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3,
        "targetCPUUtilizationPercentage": 0}}
    strategy_for(HPA_V1).default(obj)
    assert obj["spec"]["minReplicas"] == 1
    causes = created_causes(HPA_V1, obj)
    assert [(c.field, c.message) for c in causes] == [
        ("spec.metrics[0].resource.target.averageUtilization",
         "Invalid value: 0: must be greater than or equal to 1")]
    obj["spec"]["targetCPUUtilizationPercentage"] = 60
    assert created_causes(HPA_V1, obj) == []


def test_row() -> None:
    v1 = {"metadata": table_meta("web", 30), "spec": {
        "scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1,
        "maxReplicas": 5, "targetCPUUtilizationPercentage": 50},
        "status": {"currentReplicas": 2, "currentCPUUtilizationPercentage": 70}}
    assert table_row(HPA_V1, v1) == {
        "Name": "web", "Reference": "Deployment/web", "Targets": "cpu: 70%/50%",
        "MinPods": 1, "MaxPods": 5, "Replicas": 2, "Age": "30s"}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(obj=objects(HPA_V1))
def test_schema_shaped_junk_gets_causes_not_exceptions(obj: Obj) -> None:
    strategy = strategy_for(HPA_V1)
    strategy.default(obj)
    assert all(c.field and c.message for c in strategy.validate_create(obj))
    strategy.table([obj])
    to_v1(to_v2(obj))
