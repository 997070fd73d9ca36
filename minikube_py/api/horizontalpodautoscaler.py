"""autoscaling/v2 HorizontalPodAutoscaler: defaults, validation and `kubectl get hpa`.

Defaults are autoscaling/v2's: minReplicas 1, CPU at 80% utilization when no metric is
given, and a given `behavior` completed with the default rules (scale up: no
stabilization, the larger of 4 pods or 100% per 15 s; scale down: 300 s stabilization,
100% per 15 s). The controller applies the same rules when `behavior` is absent
(`rules`), which is what Kubernetes' defaults amount to. Validation follows
ValidateHorizontalPodAutoscaler for the Resource, ContainerResource and Pods metric
kinds this cluster can measure (Object and External are refused as unsupported).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, meta, table
from minikube_py.api.errors import Cause
from minikube_py.api.quantity import parse_quantity
from minikube_py.api.shape import as_dict, dicts
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object

DEFAULT_CPU_UTILIZATION = 80
SCALE_UP_DEFAULT: Object = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                            "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                         {"type": "Percent", "value": 100,
                                          "periodSeconds": 15}]}
SCALE_DOWN_DEFAULT: Object = {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
                              "policies": [{"type": "Percent", "value": 100,
                                            "periodSeconds": 15}]}
METRIC_TYPES = ("ContainerResource", "External", "Object", "Pods", "Resource")
MEASURED = ("ContainerResource", "Pods", "Resource")
TARGET_TYPES = ("AverageValue", "Utilization", "Value")
POLICY_TYPES = ("Percent", "Pods")
SELECT_POLICIES = ("Disabled", "Max", "Min")
MAX_PERIOD_SECONDS = 1800
MAX_STABILIZATION_SECONDS = 3600


def rules(hpa: Mapping[str, Any], direction: str) -> Object:
    """The scaling rules in force for "scaleUp" or "scaleDown" (defaults filled in)."""
    given = as_dict(as_dict(as_dict(hpa.get("spec")).get("behavior")).get(direction))
    default = SCALE_UP_DEFAULT if direction == "scaleUp" else SCALE_DOWN_DEFAULT
    return {**copy.deepcopy(default), **{k: v for k, v in given.items() if v is not None}}


def _positive(path: str, value: Any, causes: list[Cause]) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        causes.append(field.invalid(path, value, "must be greater than or equal to 1"))


def _target(target: Any, path: str, *, utilization: bool) -> list[Cause]:
    causes: list[Cause] = []
    target = as_dict(target)
    kind = target.get("type")
    if kind not in TARGET_TYPES:
        return [field.not_supported(f"{path}.type", kind, TARGET_TYPES)]
    if kind == "Utilization":
        if not utilization:
            causes.append(field.not_supported(f"{path}.type", kind, ["AverageValue"]))
        elif target.get("averageUtilization") is None:
            causes.append(field.required(f"{path}.averageUtilization", "must set either a "
                                         "target raw value or a target utilization"))
        else:
            _positive(f"{path}.averageUtilization", target["averageUtilization"], causes)
    elif kind == "AverageValue":
        raw = target.get("averageValue")
        try:
            if raw is None or parse_quantity(raw) <= 0:
                causes.append(field.invalid(f"{path}.averageValue", raw,
                                            "must be positive"))
        except (ValueError, ArithmeticError):
            causes.append(field.invalid(f"{path}.averageValue", raw, "must be a quantity"))
    else:
        causes.append(field.not_supported(f"{path}.type", kind, ["AverageValue",
                                                                  "Utilization"]))
    return causes


def _metric(metric: Mapping[str, Any], path: str) -> list[Cause]:
    kind = metric.get("type")
    if kind not in METRIC_TYPES:
        return [field.not_supported(f"{path}.type", kind, METRIC_TYPES)]
    if kind not in MEASURED:
        return [field.not_supported(f"{path}.type", kind, MEASURED)]
    key = {"ContainerResource": "containerResource", "Pods": "pods",
           "Resource": "resource"}[kind]
    source = metric.get(key)
    if not isinstance(source, dict):
        return [field.required(f"{path}.{key}", "must populate information for the given "
                                                "metric source")]
    causes: list[Cause] = []
    if kind == "Pods":
        if not as_dict(source.get("metric")).get("name"):
            causes.append(field.required(f"{path}.pods.metric.name"))
        return causes + _target(source.get("target"), f"{path}.pods.target",
                                utilization=False)
    if source.get("name") not in ("cpu", "memory"):
        causes.append(field.not_supported(f"{path}.{key}.name", source.get("name"),
                                          ["cpu", "memory"]))
    if kind == "ContainerResource" and not source.get("container"):
        causes.append(field.required(f"{path}.containerResource.container"))
    return causes + _target(source.get("target"), f"{path}.{key}.target", utilization=True)


def _rules(value: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    given = as_dict(value)
    window = given.get("stabilizationWindowSeconds")
    if window is not None and not (isinstance(window, int) and not isinstance(window, bool)
                                   and 0 <= window <= MAX_STABILIZATION_SECONDS):
        causes.append(field.invalid(f"{path}.stabilizationWindowSeconds", window,
                                    f"must be less than or equal to "
                                    f"{MAX_STABILIZATION_SECONDS}"))
    select = given.get("selectPolicy")
    if select is not None and select not in SELECT_POLICIES:
        causes.append(field.not_supported(f"{path}.selectPolicy", select, SELECT_POLICIES))
    policies = given.get("policies")
    if policies is not None and not policies:
        causes.append(field.required(f"{path}.policies", "must specify at least one Policy"))
    for at, policy in field.objects(policies, f"{path}.policies", causes):
        if policy.get("type") not in POLICY_TYPES:
            causes.append(field.not_supported(f"{at}.type", policy.get("type"), POLICY_TYPES))
        _positive(f"{at}.value", policy.get("value"), causes)
        period = policy.get("periodSeconds")
        if not (isinstance(period, int) and not isinstance(period, bool)
                and 0 < period <= MAX_PERIOD_SECONDS):
            causes.append(field.invalid(f"{at}.periodSeconds", period, f"must be greater "
                                        f"than zero and less than or equal to "
                                        f"{MAX_PERIOD_SECONDS}"))
    return causes


def _utilization_cell(metric: Mapping[str, Any], status: Mapping[str, Any] | None) -> str:
    kind = metric.get("type")
    source = as_dict(metric.get({"Resource": "resource", "ContainerResource":
                                 "containerResource", "Pods": "pods"}.get(str(kind), "")))
    target = as_dict(source.get("target"))
    name = source.get("name") or as_dict(source.get("metric")).get("name") or "<unknown>"
    current_source = as_dict(as_dict(status).get({"Resource": "resource",
                                                  "ContainerResource": "containerResource",
                                                  "Pods": "pods"}.get(str(kind), "")))
    current = as_dict(current_source.get("current"))
    if target.get("type") == "Utilization":
        now = current.get("averageUtilization")
        shown = f"{now}%" if now is not None else "<unknown>"
        return f"{name}: {shown}/{target.get('averageUtilization')}%"
    now = current.get("averageValue")
    return f"{name}: {now if now is not None else '<unknown>'}/{target.get('averageValue')}"


def targets_cell(hpa: Mapping[str, Any]) -> str:
    """kubectl's TARGETS: each metric as `name: current/target`, "<none>" without any."""
    metrics = dicts(as_dict(hpa.get("spec")).get("metrics"))
    statuses = dicts(as_dict(hpa.get("status")).get("currentMetrics"))
    if not metrics:
        return "<none>"
    cells = [_utilization_cell(m, statuses[i] if i < len(statuses) else None)
             for i, m in enumerate(metrics)]
    shown = cells[:3]
    more = f" + {len(cells) - 3} more..." if len(cells) > 3 else ""
    return ", ".join(shown) + more


class HorizontalPodAutoscalerStrategy(Strategy):
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Reference", description="Reference to the target object."),
        table.Column("Targets", description="The current and target values of the metrics."),
        table.Column("MinPods", description="The minimum number of replicas."),
        table.Column("MaxPods", description="The maximum number of replicas."),
        table.Column("Replicas", description="The current number of replicas."),
        table.AGE,
    )

    def set_defaults(self, obj: Object) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        spec.setdefault("minReplicas", 1)
        if not spec.get("metrics"):
            spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}}}]
        behavior = spec.get("behavior")
        if isinstance(behavior, dict):
            for direction in ("scaleUp", "scaleDown"):
                behavior[direction] = rules(obj, direction)

    def validate(self, obj: Object) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [field.required("spec")]
        causes: list[Cause] = []
        ref = as_dict(spec.get("scaleTargetRef"))
        for key in ("kind", "name"):
            if not ref.get(key):
                causes.append(field.required(f"spec.scaleTargetRef.{key}"))
            elif not isinstance(ref[key], str) or (key == "name" and meta.dns1123_subdomain(
                    ref[key])):
                causes.append(field.invalid(f"spec.scaleTargetRef.{key}", ref[key],
                                            "must be a valid name"))
        minimum, maximum = spec.get("minReplicas"), spec.get("maxReplicas")
        _positive("spec.minReplicas", minimum, causes)
        if not isinstance(maximum, int) or isinstance(maximum, bool) or maximum < 1:
            causes.append(field.invalid("spec.maxReplicas", maximum, "must be greater than 0"))
        if isinstance(minimum, int) and isinstance(maximum, int) and maximum < minimum:
            causes.append(field.invalid("spec.maxReplicas", maximum, "must be greater than or "
                                        "equal to `minReplicas`"))
        for at, metric in field.objects(spec.get("metrics"), "spec.metrics", causes):
            causes += _metric(metric, at)
        behavior = spec.get("behavior")
        if behavior is not None:
            for direction in ("scaleUp", "scaleDown"):
                causes += _rules(as_dict(behavior).get(direction),
                                 f"spec.behavior.{direction}")
        return causes

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
        ref = as_dict(spec.get("scaleTargetRef"))
        minimum = spec.get("minReplicas")
        return [table.name(obj), f"{ref.get('kind')}/{ref.get('name')}", targets_cell(obj),
                "<unset>" if minimum is None else minimum, spec.get("maxReplicas", 0),
                status.get("currentReplicas", 0), table.age(obj, now)]
