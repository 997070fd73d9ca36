"""DaemonSets (apps/v1): RollingUpdate 1/0 defaults, update strategy validation,
and `kubectl get ds`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, table, workload
from minikube_py.api.errors import Cause
from minikube_py.api.shape import as_dict, dig
from minikube_py.api.types import Object

UPDATE_STRATEGIES = ("OnDelete", "RollingUpdate")


def node_selector_text(selector: Any) -> str:
    """labels.FormatLabels of the template's nodeSelector: 'k=v,k2=v2' or '<none>'."""
    if not isinstance(selector, Mapping) or not selector:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


class DaemonSetStrategy(workload.WorkloadStrategy):
    has_replicas = False
    required_status_counters = ("currentNumberScheduled", "numberMisscheduled",
                                "desiredNumberScheduled", "numberReady")
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Desired", type="integer", description="The total number of nodes that "
                     "should be running the daemon pod (including nodes correctly running the "
                     "daemon pod)."),
        table.Column("Current", type="integer", description="The number of nodes that are "
                     "running at least 1 daemon pod and are supposed to run the daemon pod."),
        table.Column("Ready", type="integer", description="The number of nodes that should be "
                     "running the daemon pod and have one or more of the daemon pod running "
                     "and ready."),
        table.Column("Up-to-date", type="integer", description="The total number of nodes "
                     "that are running updated daemon pod"),
        table.Column("Available", type="integer", description="The number of nodes that "
                     "should be running the daemon pod and have one or more of the daemon pod "
                     "running and available (ready for at least spec.minReadySeconds)"),
        table.Column("Node Selector", description="NodeSelector is a selector which must be "
                     "true for the pod to fit on a node. Selector which must match a node's "
                     "labels for the pod to be scheduled on that node."),
        table.AGE,
        workload.CONTAINERS, workload.IMAGES, workload.SELECTOR,
    )

    def set_defaults(self, obj: Object) -> None:
        super().set_defaults(obj)
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        workload.default_rolling_update(spec, "updateStrategy", maxUnavailable=1, maxSurge=0)
        spec.setdefault("revisionHistoryLimit", 10)

    def validate(self, obj: Object) -> list[Cause]:
        causes = super().validate(obj)
        spec = obj.get("spec")
        if not isinstance(spec, Mapping):
            return causes
        causes += field.at_least("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
        causes += update_strategy_causes(spec.get("updateStrategy"), "spec.updateStrategy",
                                         UPDATE_STRATEGIES, surge=True)
        return causes

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        status = as_dict(obj.get("status"))
        return [table.name(obj), status.get("desiredNumberScheduled", 0),
                status.get("currentNumberScheduled", 0), status.get("numberReady", 0),
                status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0),
                node_selector_text(dig(obj, "spec", "template", "spec", "nodeSelector")),
                table.age(obj, now), *self.workload_cells(obj)]


def update_strategy_causes(strategy: Any, path: str, types: tuple[str, ...], *,
                           surge: bool) -> list[Cause]:
    """A DaemonSet's or StatefulSet's updateStrategy: its type, and rollingUpdate only
    with RollingUpdate."""
    if strategy is None:
        return []
    if not isinstance(strategy, Mapping):
        return [field.invalid(path, strategy, "must be an object")]
    kind = strategy.get("type", "RollingUpdate")
    if kind not in types:
        return [field.not_supported(f"{path}.type", kind, types)]
    rolling = strategy.get("rollingUpdate")
    if kind != "RollingUpdate":
        if rolling is not None:
            return [field.forbidden(f"{path}.rollingUpdate", "only allowed for updateStrategy "
                                    "'RollingUpdate'")]
        return []
    if rolling is None:
        return []
    if not isinstance(rolling, Mapping):
        return [field.invalid(f"{path}.rollingUpdate", rolling, "must be an object")]
    causes: list[Cause] = []
    unavailable = rolling.get("maxUnavailable", 1)
    causes += workload.int_or_percent_causes(unavailable, f"{path}.rollingUpdate.maxUnavailable")
    if surge:
        extra = rolling.get("maxSurge", 0)
        causes += workload.int_or_percent_causes(extra, f"{path}.rollingUpdate.maxSurge")
        if not causes and workload.is_zero(extra) and workload.is_zero(unavailable):
            causes.append(field.invalid(f"{path}.rollingUpdate.maxUnavailable", unavailable,
                                        "may not be 0 when `maxSurge` is 0"))
    return causes
