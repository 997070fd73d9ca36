"""Deployments (apps/v1): RollingUpdate 25%/25% defaults, strategy validation,
and `kubectl get deploy`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, table, workload
from minikube_py.api.errors import Cause
from minikube_py.api.shape import as_dict, dig
from minikube_py.api.types import Object

STRATEGIES = ("RollingUpdate", "Recreate")


class DeploymentStrategy(workload.WorkloadStrategy):
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Ready", description="Number of the pod with ready state"),
        table.Column("Up-to-date", type="integer",
                     description="Total number of non-terminated pods targeted by this "
                                 "deployment that have the desired template spec."),
        table.Column("Available", type="integer",
                     description="Total number of available pods (ready for at least "
                                 "minReadySeconds) targeted by this deployment."),
        table.AGE,
        workload.CONTAINERS, workload.IMAGES, workload.SELECTOR,
    )

    def set_defaults(self, obj: Object) -> None:
        super().set_defaults(obj)
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        workload.default_rolling_update(spec, "strategy", maxUnavailable="25%", maxSurge="25%")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)

    def validate(self, obj: Object) -> list[Cause]:
        causes = super().validate(obj)
        spec = obj.get("spec")
        if not isinstance(spec, Mapping):
            return causes
        causes += _strategy_causes(spec.get("strategy"))
        for key in ("revisionHistoryLimit", "progressDeadlineSeconds"):
            causes += field.at_least(f"spec.{key}", spec.get(key))
        deadline, min_ready = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds", 0)
        if isinstance(deadline, int) and isinstance(min_ready, int) and deadline <= min_ready:
            causes.append(field.invalid("spec.progressDeadlineSeconds", deadline,
                                        "must be greater than minReadySeconds"))
        return causes

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        status = as_dict(obj.get("status"))
        desired = dig(obj, "spec", "replicas", default=0)
        return [table.name(obj), f"{status.get('readyReplicas', 0)}/{desired}",
                status.get("updatedReplicas", 0), status.get("availableReplicas", 0),
                table.age(obj, now), *self.workload_cells(obj)]


def _strategy_causes(strategy: Any) -> list[Cause]:
    if strategy is None:
        return []
    if not isinstance(strategy, Mapping):
        return [field.invalid("spec.strategy", strategy, "must be an object")]
    kind = strategy.get("type", "RollingUpdate")
    if kind not in STRATEGIES:
        return [field.not_supported("spec.strategy.type", kind, STRATEGIES)]
    rolling = strategy.get("rollingUpdate")
    if kind == "Recreate":
        if rolling is not None:
            return [field.forbidden("spec.strategy.rollingUpdate",
                                    "may not be specified when strategy `type` is 'Recreate'")]
        return []
    if not isinstance(rolling, Mapping):
        return [] if rolling is None else [field.invalid("spec.strategy.rollingUpdate", rolling,
                                                         "must be an object")]
    causes: list[Cause] = []
    path = "spec.strategy.rollingUpdate"
    surge, unavailable = rolling.get("maxSurge", "25%"), rolling.get("maxUnavailable", "25%")
    causes += workload.int_or_percent_causes(surge, f"{path}.maxSurge")
    causes += workload.int_or_percent_causes(unavailable, f"{path}.maxUnavailable")
    if not causes and workload.is_zero(surge) and workload.is_zero(unavailable):
        causes.append(field.invalid(f"{path}.maxUnavailable", unavailable,
                                    "may not be 0 when `maxSurge` is 0"))
    return causes
