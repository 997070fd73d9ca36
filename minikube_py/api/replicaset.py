"""ReplicaSets (apps/v1) and `kubectl get rs`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import table, workload
from minikube_py.api.shape import as_dict, dig, str_field
from minikube_py.api.types import Object


class ReplicaSetStrategy(workload.WorkloadStrategy):
    selectable_fields = ("status.replicas",)
    required_status_counters = ("replicas",)
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Desired", type="integer", description="Replicas is the number of desired "
                                                            "replicas."),
        table.Column("Current", type="integer", description="Replicas is the most recently "
                                                            "observed number of replicas."),
        table.Column("Ready", type="integer", description="The number of ready replicas for "
                                                          "this replica set."),
        table.AGE,
        workload.CONTAINERS, workload.IMAGES, workload.SELECTOR,
    )

    def extra_field_values(self, obj: Object) -> dict[str, str]:
        return {"status.replicas": str_field(dig(obj, "status", "replicas", default=0))}

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        status = as_dict(obj.get("status"))
        return [table.name(obj), dig(obj, "spec", "replicas", default=0),
                status.get("replicas", 0), status.get("readyReplicas", 0),
                table.age(obj, now), *self.workload_cells(obj)]
