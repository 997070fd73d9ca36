"""autoscaling/v2 HorizontalPodAutoscaler: Kubernetes' defaults, one validation case per
cause, and `kubectl get hpa` cells."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from minikube_py.api.registry import strategy_for
from minikube_py.api.resources import HORIZONTALPODAUTOSCALERS as HPA
from tests.fixtures.api_strategies import DELETE, created_causes, set_path, table_meta, table_row
from tests.fixtures.strategies import objects

Obj = dict[str, Any]
VALID: Obj = {"metadata": {"name": "web", "namespace": "default"}, "spec": {
    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
    "minReplicas": 1, "maxReplicas": 5, "metrics": [
        {"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": 50}}},
        {"type": "Resource", "resource": {"name": "memory", "target": {
            "type": "AverageValue", "averageValue": "100Mi"}}}]}}


def test_valid_has_no_causes() -> None:
    assert created_causes(HPA, VALID) == []


def test_defaults() -> None:
    obj: Obj = {"metadata": {"name": "web"}, "spec": {
        "scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 3,
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}}
    strategy_for(HPA).default(obj)
    spec = obj["spec"]
    assert spec["minReplicas"] == 1
    assert spec["metrics"] == [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 80}}}]
    assert spec["behavior"]["scaleDown"] == {
        "stabilizationWindowSeconds": 60, "selectPolicy": "Max",
        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}
    assert spec["behavior"]["scaleUp"]["policies"] == [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15}]
    assert spec["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 0


@pytest.mark.parametrize(("mutate", "field", "message"), [
    pytest.param(set_path("spec.scaleTargetRef.kind", DELETE), "spec.scaleTargetRef.kind",
                 "Required value", id="kind"),
    pytest.param(set_path("spec.minReplicas", 0), "spec.minReplicas",
                 "must be greater than or equal to 1", id="min"),
    pytest.param(set_path("spec.maxReplicas", 0), "spec.maxReplicas",
                 "must be greater than 0", id="max"),
    pytest.param(set_path("spec.minReplicas", 9), "spec.maxReplicas",
                 "must be greater than or equal to `minReplicas`", id="max-below-min"),
    pytest.param(set_path("spec.metrics.0.type", "Bogus"), "spec.metrics[0].type",
                 "Unsupported value", id="metric-type"),
    pytest.param(set_path("spec.metrics.0.resource.target.averageUtilization", 0),
                 "spec.metrics[0].resource.target.averageUtilization",
                 "must be greater than or equal to 1", id="utilization"),
    pytest.param(set_path("spec.metrics.1.resource.target.averageValue", "-1"),
                 "spec.metrics[1].resource.target.averageValue", "must be positive",
                 id="average-value"),
    pytest.param(set_path("spec.metrics.0.resource.name", "gpu"),
                 "spec.metrics[0].resource.name", "Unsupported value", id="resource-name"),
    pytest.param(set_path("spec.behavior", {"scaleUp": {"policies": [
        {"type": "Pods", "value": 0, "periodSeconds": 15}]}}),
        "spec.behavior.scaleUp.policies[0].value", "must be greater than or equal to 1",
        id="policy-value"),
    pytest.param(set_path("spec.behavior", {"scaleDown": {"stabilizationWindowSeconds": 4000}}),
                 "spec.behavior.scaleDown.stabilizationWindowSeconds",
                 "must be less than or equal to 3600", id="window"),
    pytest.param(set_path("spec.behavior", {"scaleDown": {"selectPolicy": "Most"}}),
                 "spec.behavior.scaleDown.selectPolicy", "Unsupported value", id="select"),
])
def test_invalid(mutate: Callable[[Obj], None], field: str, message: str) -> None:
    obj = copy.deepcopy(VALID)
    mutate(obj)
    causes = [c for c in created_causes(HPA, obj) if c.field == field]
    assert causes and message in causes[0].message, created_causes(HPA, obj)


def test_row() -> None:
    obj = {**copy.deepcopy(VALID), "metadata": table_meta("web", 60), "status": {
        "currentReplicas": 2, "currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu", "current": {
                "averageUtilization": 73, "averageValue": "365m"}}}]}}
    assert table_row(HPA, obj) == {
        "Name": "web", "Reference": "Deployment/web",
        "Targets": "cpu: 73%/50%, memory: <unknown>/100Mi", "MinPods": 1, "MaxPods": 5,
        "Replicas": 2, "Age": "60s"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(obj=objects(HPA))
def test_schema_shaped_junk_gets_causes_not_exceptions(obj: Obj) -> None:
    """The general API fuzz case samples every kind; this one spends its examples on the
    HPA's nested metrics and behavior, where junk reaches quantity parsing and policies."""
    strategy = strategy_for(HPA)
    strategy.default(obj)
    causes = strategy.validate_create(obj)
    assert all(c.field and c.message for c in causes)
    strategy.table([obj])
