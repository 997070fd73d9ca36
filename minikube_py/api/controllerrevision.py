"""ControllerRevisions (apps/v1): the immutable template history of DaemonSets and
StatefulSets that `kubectl rollout history/undo` reads, and `kubectl get controllerrevision`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, table
from minikube_py.api.errors import Cause
from minikube_py.api.meta import owner_of
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object


def controller_text(obj: Mapping[str, Any]) -> str:
    """The CONTROLLER cell: 'daemonset.apps/web', or '<none>'."""
    ref = owner_of(obj)
    if ref is None:
        return "<none>"
    group = str(ref.get("apiVersion", "")).rpartition("/")[0]
    kind = str(ref.get("kind", "")).lower()
    return f"{kind}.{group}/{ref.get('name')}" if group else f"{kind}/{ref.get('name')}"


class ControllerRevisionStrategy(Strategy):
    has_spec = False
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Controller", description="Controller of the object."),
        table.Column("Revision", type="integer", description="Revision indicates the revision "
                     "of the state represented by Data."),
        table.AGE,
    )

    def validate(self, obj: Object) -> list[Cause]:
        revision = obj.get("revision")
        if revision is None:
            return [field.required("revision")]
        return field.at_least("revision", revision)

    def immutable_causes(self, new: Object, old: Object) -> list[Cause]:
        if new.get("data") != old.get("data"):
            return [field.immutable("data", new.get("data"))]
        return []

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        return [table.name(obj), controller_text(obj), obj.get("revision", 0),
                table.age(obj, now)]
