"""ReplicationControllers (core/v1): ReplicaSets' older form with an equality
selector (a plain label map, defaulted from the template's labels), and
`kubectl get rc`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from minikube_py.api import field, table
from minikube_py.api.errors import Cause
from minikube_py.api.replicaset import ReplicaSetStrategy
from minikube_py.api.shape import dig
from minikube_py.api.types import Object


def selector_text(selector: Any) -> str:
    if not isinstance(selector, Mapping) or not selector:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


class ReplicationControllerStrategy(ReplicaSetStrategy):
    status_keeps_labels = False  # a core kind
    columns: ClassVar[tuple[table.Column, ...]] = ReplicaSetStrategy.columns

    def set_defaults(self, obj: Object) -> None:
        super().set_defaults(obj)
        spec, labels = obj.get("spec"), dig(obj, "spec", "template", "metadata", "labels")
        if not isinstance(spec, dict) or not isinstance(labels, dict) or not labels:
            return
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        metadata = obj.get("metadata")
        if isinstance(metadata, dict) and not metadata.get("labels"):
            metadata["labels"] = dict(labels)

    def validate(self, obj: Object) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, Mapping):
            return [field.required("spec")]
        selector = spec.get("selector")
        if not selector:
            return [field.required("spec.selector")]
        if not isinstance(selector, Mapping):
            return [field.invalid("spec.selector", selector, "must be a map of labels")]
        view = {**spec, "selector": {"matchLabels": dict(selector)}}
        causes = super().validate({**obj, "spec": view})
        return [Cause(c.field.replace("spec.selector.matchLabels", "spec.selector"), c.message,
                      c.reason) for c in causes]

    def immutable_causes(self, new: Object, old: Object) -> list[Cause]:
        return []  # a ReplicationController's selector may change

    def workload_cells(self, obj: Mapping[str, Any]) -> list[Any]:
        containers, images = table.containers_and_images(
            dig(obj, "spec", "template", "spec", default={}))
        return [containers, images, selector_text(dig(obj, "spec", "selector"))]

