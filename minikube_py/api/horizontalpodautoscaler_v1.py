"""autoscaling/v1 HorizontalPodAutoscaler: the older version `kubectl autoscale` (up to
1.32) writes, served beside autoscaling/v2 and converted as Kubernetes converts it.

v1 has only spec.targetCPUUtilizationPercentage and status.currentCPUUtilizationPercentage;
what v2 says beyond them travels in annotations (autoscaling.alpha.kubernetes.io/metrics,
/current-metrics, /behavior, /conditions, in their v1-era shapes), so a read-modify-write
through v1 loses nothing; converting back lifts them out again. An HPA stored through
either version is read through both (api-server objects.served_as). Validation converts
to v2 first, so causes name v2's fields, as Kubernetes' validation of its internal type does.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import table
from minikube_py.api.errors import Cause
from minikube_py.api.horizontalpodautoscaler import (
    DEFAULT_CPU_UTILIZATION,
    HorizontalPodAutoscalerStrategy,
)
from minikube_py.api.resources import HORIZONTALPODAUTOSCALERS
from minikube_py.api.shape import as_dict, dicts
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object

V1, V2 = "autoscaling/v1", "autoscaling/v2"
METRICS = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS = "autoscaling.alpha.kubernetes.io/current-metrics"
BEHAVIOR = "autoscaling.alpha.kubernetes.io/behavior"
CONDITIONS = "autoscaling.alpha.kubernetes.io/conditions"
_SOURCES = {"Resource": "resource", "ContainerResource": "containerResource", "Pods": "pods"}
_SPEC_KEYS = ("scaleTargetRef", "minReplicas", "maxReplicas")
_STATUS_KEYS = ("observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas")
_V2 = HorizontalPodAutoscalerStrategy(HORIZONTALPODAUTOSCALERS)


def _is_cpu_utilization(metric: Mapping[str, Any], part: str) -> bool:
    source = as_dict(metric.get("resource"))
    return (metric.get("type") == "Resource" and source.get("name") == "cpu"
            and as_dict(source.get(part)).get("averageUtilization") is not None)


def _to_v1_metric(metric: Mapping[str, Any], part: str, prefix: str) -> Object:
    """A v2 MetricSpec (part "target") or MetricStatus ("current") in v1's shape."""
    kind = str(metric.get("type"))
    key = _SOURCES.get(kind)
    if key is None:  # Object/External: not served here, kept as written
        return dict(metric)
    source = as_dict(metric.get(key))
    out: Object = {k: source[k] for k in ("name", "container") if k in source}
    if kind == "Pods":
        out = {"metricName": as_dict(source.get("metric")).get("name")}
        if as_dict(source.get("metric")).get("selector") is not None:
            out["selector"] = source["metric"]["selector"]
    values = as_dict(source.get(part))
    for field in ("averageUtilization", "averageValue"):
        if values.get(field) is not None:
            out[f"{prefix}{field[0].upper()}{field[1:]}"] = values[field]
    return {"type": kind, key: out}


def _to_v2_metric(metric: Mapping[str, Any], part: str, prefix: str) -> Object:
    kind = str(metric.get("type"))
    key = _SOURCES.get(kind)
    if key is None:
        return dict(metric)
    source = as_dict(metric.get(key))
    values = {field: source[f"{prefix}{field[0].upper()}{field[1:]}"]
              for field in ("averageUtilization", "averageValue")
              if source.get(f"{prefix}{field[0].upper()}{field[1:]}") is not None}
    if part == "target":
        values["type"] = "Utilization" if "averageUtilization" in values else "AverageValue"
    if kind == "Pods":
        identifier: Object = {"name": source.get("metricName")}
        if source.get("selector") is not None:
            identifier["selector"] = source["selector"]
        return {"type": kind, key: {"metric": identifier, part: values}}
    body: Object = {k: source[k] for k in ("name", "container") if k in source}
    return {"type": kind, key: {**body, part: values}}


def _recased(value: Any, first: Callable[[str], str]) -> Any:
    """Keys with their first letter changed: the behavior annotation is Kubernetes'
    internal struct marshalled without JSON tags ("ScaleUp", "Policies" ...)."""
    if isinstance(value, dict):
        return {first(k[:1]) + k[1:]: _recased(v, first) for k, v in value.items()}
    if isinstance(value, list):
        return [_recased(v, first) for v in value]
    return value


def _common(part: Mapping[str, Any], keys: tuple[str, ...]) -> Object:
    """The fields both versions have alike."""
    return {k: part[k] for k in keys if k in part}


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))  # as Go's json.Marshal writes it


def _annotation(obj: Object, key: str) -> Any:
    try:
        return json.loads(str(as_dict(as_dict(obj.get("metadata")).get("annotations"))[key]))
    except (KeyError, ValueError):
        return None


def _without_annotations(obj: Object) -> Object:
    metadata = as_dict(obj.get("metadata"))
    annotations = {k: v for k, v in as_dict(metadata.get("annotations")).items()
                   if k not in (METRICS, CURRENT_METRICS, BEHAVIOR, CONDITIONS)}
    if annotations:
        return {**metadata, "annotations": annotations}
    return {k: v for k, v in metadata.items() if k != "annotations"}


def to_v1(obj: Object) -> Object:
    """A v2 HPA as v1 (Convert_autoscaling_HorizontalPodAutoscaler_To_v1_...)."""
    spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
    metrics = dicts(spec.get("metrics"))
    v1_spec = _common(spec, _SPEC_KEYS)
    cpu = next((m for m in metrics if _is_cpu_utilization(m, "target")), None)
    if cpu is not None:
        v1_spec["targetCPUUtilizationPercentage"] = cpu["resource"]["target"][
            "averageUtilization"]
    annotations: dict[str, str] = {}
    others = [_to_v1_metric(m, "target", "target") for m in metrics
              if not _is_cpu_utilization(m, "target")]
    if others:
        annotations[METRICS] = _compact(others)
    current = dicts(status.get("currentMetrics"))
    if current:
        annotations[CURRENT_METRICS] = _compact(
            [_to_v1_metric(m, "current", "current") for m in current])
    if isinstance(spec.get("behavior"), dict):
        annotations[BEHAVIOR] = _compact(_recased(spec["behavior"], str.upper))
    if dicts(status.get("conditions")):
        annotations[CONDITIONS] = _compact(dicts(status.get("conditions")))
    metadata = _without_annotations(obj)
    if annotations:
        metadata["annotations"] = {**as_dict(metadata.get("annotations")), **annotations}
    out: Object = {**obj, "apiVersion": V1, "metadata": metadata, "spec": v1_spec}
    if "status" in obj:
        v1_status = _common(status, _STATUS_KEYS)
        cpu_now = next((m for m in current if _is_cpu_utilization(m, "current")), None)
        if cpu_now is not None:
            v1_status["currentCPUUtilizationPercentage"] = cpu_now["resource"]["current"][
                "averageUtilization"]
        out["status"] = v1_status
    return out


def to_v2(obj: Object) -> Object:
    """A v1 HPA as v2 (Convert_v1_HorizontalPodAutoscaler_To_autoscaling_...): the
    annotated metrics first, then the CPU target; CPU at 80% when there is neither."""
    spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
    v2_spec = _common(spec, _SPEC_KEYS)
    metrics = [_to_v2_metric(m, "target", "target") for m in dicts(_annotation(obj, METRICS))]
    cpu = spec.get("targetCPUUtilizationPercentage")
    if cpu is not None or not metrics:
        metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization",
            "averageUtilization": DEFAULT_CPU_UTILIZATION if cpu is None else cpu}}})
    v2_spec["metrics"] = metrics
    behavior = _annotation(obj, BEHAVIOR)
    if isinstance(behavior, dict):
        v2_spec["behavior"] = _recased(behavior, str.lower)
    out: Object = {**obj, "apiVersion": V2, "metadata": _without_annotations(obj),
                   "spec": v2_spec}
    if "status" in obj:
        v2_status = _common(status, _STATUS_KEYS)
        current = [_to_v2_metric(m, "current", "current")
                   for m in dicts(_annotation(obj, CURRENT_METRICS))]
        if not current and status.get("currentCPUUtilizationPercentage") is not None:
            current = [{"type": "Resource", "resource": {"name": "cpu", "current": {
                "averageUtilization": status["currentCPUUtilizationPercentage"]}}}]
        if current:
            v2_status["currentMetrics"] = current
        conditions = dicts(_annotation(obj, CONDITIONS))
        if conditions:
            v2_status["conditions"] = conditions
        out["status"] = v2_status
    return out


def convert(obj: Object, api_version: str) -> Object:
    """`obj` (stored through either version) as `api_version` shows it."""
    if obj.get("apiVersion") == api_version:
        return obj
    return to_v1(obj) if api_version == V1 else to_v2(obj)


class HorizontalPodAutoscalerV1Strategy(Strategy):
    columns: ClassVar[tuple[table.Column, ...]] = HorizontalPodAutoscalerStrategy.columns

    def set_defaults(self, obj: Object) -> None:
        if isinstance(obj.get("spec"), dict):
            obj["spec"].setdefault("minReplicas", 1)

    def validate(self, obj: Object) -> list[Cause]:
        return _V2.validate(to_v2(copy.deepcopy(obj)))

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        return _V2.row(to_v2(dict(obj)), now)
