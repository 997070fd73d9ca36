"""PodDisruptionBudgets (policy/v1): validation, `kubectl get pdb`, and the
budget arithmetic the disruption controller and the eviction subresource share."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, meta, table, workload
from minikube_py.api.errors import Cause
from minikube_py.api.selectors import LabelSelector
from minikube_py.api.shape import as_dict
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object

EVICTION_POLICIES = ("AlwaysAllow", "IfHealthyBudget")


def selects(pdb: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    """policy/v1: a missing selector selects nothing, an empty one every pod."""
    selector = as_dict(pdb.get("spec")).get("selector")
    if selector is None:
        return False
    try:
        return LabelSelector.from_dict(selector).matches(
            as_dict(pod.get("metadata")).get("labels") or {})
    except ValueError:
        return False


def scaled(value: int | str, total: int, *, round_up: bool) -> int:
    """An int-or-percent of `total` (GetScaledValueFromIntOrPercent)."""
    if isinstance(value, int):
        return value
    fraction = int(str(value).rstrip("%")) * total / 100
    return math.ceil(fraction) if round_up else math.floor(fraction)


def _intstr_text(value: Any) -> str:
    return "N/A" if value is None else str(value)


class PodDisruptionBudgetStrategy(Strategy):
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Min Available", description="The minimum number of pods that must be "
                     "available."),
        table.Column("Max Unavailable", description="The maximum number of pods that may be "
                     "unavailable."),
        table.Column("Allowed Disruptions", type="integer", description="Calculated number of "
                     "pods that may be disrupted at this time."),
        table.AGE,
    )

    def validate(self, obj: Object) -> list[Cause]:
        spec = obj.get("spec")
        if spec is None:
            return []
        if not isinstance(spec, Mapping):
            return [field.invalid("spec", spec, "must be an object")]
        causes: list[Cause] = []
        low, high = spec.get("minAvailable"), spec.get("maxUnavailable")
        if low is not None and high is not None:
            causes.append(field.invalid("spec", spec, "minAvailable and maxUnavailable cannot "
                                                      "be both set"))
        for key, value in (("minAvailable", low), ("maxUnavailable", high)):
            if value is not None:
                causes += workload.int_or_percent_causes(value, f"spec.{key}")
        selector = spec.get("selector")
        if selector is not None:
            try:
                LabelSelector.from_dict(selector)
            except ValueError as e:
                causes.append(field.invalid("spec.selector", selector, str(e)))
            else:
                causes += meta.validate_labels(as_dict(selector).get("matchLabels"),
                                               "spec.selector.matchLabels")
        policy = spec.get("unhealthyPodEvictionPolicy")
        if policy is not None and policy not in EVICTION_POLICIES:
            causes.append(field.not_supported("spec.unhealthyPodEvictionPolicy", policy,
                                              EVICTION_POLICIES))
        return causes

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
        return [table.name(obj), _intstr_text(spec.get("minAvailable")),
                _intstr_text(spec.get("maxUnavailable")), status.get("disruptionsAllowed", 0),
                table.age(obj, now)]
