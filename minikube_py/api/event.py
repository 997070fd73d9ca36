"""core/v1 Events: validation, the involvedObject.* field selectors `kubectl describe`
uses, and `kubectl get events`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, table
from minikube_py.api.errors import Cause
from minikube_py.api.shape import as_dict, dig, str_field
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object

TYPES = ("Normal", "Warning")
_INVOLVED = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")


class EventStrategy(Strategy):
    has_spec = False
    selectable_fields = tuple(f"involvedObject.{k}" for k in _INVOLVED) + (
        "reason", "reportingComponent", "source", "type")
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.Column("Last Seen", description="Time when this Event was last observed"),
        table.Column("Type", description="Type of this event (Normal, Warning)"),
        table.Column("Reason", description="Why the action was taken"),
        table.Column("Object", description="The object that this event is about"),
        table.Column("Subobject", priority=1, description="The subobject this event is about"),
        table.Column("Source", priority=1, description="The component reporting this event"),
        table.Column("Message", description="A human-readable description of the status"),
        table.Column("First Seen", priority=1, description="Time when this Event was first "
                                                           "observed"),
        table.Column("Count", priority=1, description="The number of times this event has "
                                                      "occurred"),
        table.Column("Name", priority=1, format="name", description="Name of the event"),
    )

    def validate(self, obj: Object) -> list[Cause]:
        causes: list[Cause] = []
        involved = obj.get("involvedObject")
        if not isinstance(involved, Mapping):
            causes.append(field.required("involvedObject"))
        else:
            namespace = as_dict(obj.get("metadata")).get("namespace")
            theirs = involved.get("namespace")
            if theirs and namespace and theirs != namespace:
                causes.append(field.invalid("involvedObject.namespace", theirs,
                                            "does not match event.namespace"))
        kind = obj.get("type")
        if kind and kind not in TYPES:
            causes.append(field.not_supported("type", kind, TYPES))
        causes += field.at_least("count", obj.get("count"))
        return causes

    def extra_field_values(self, obj: Object) -> dict[str, str]:
        values = {f"involvedObject.{k}": str_field(dig(obj, "involvedObject", k))
                  for k in _INVOLVED}
        values.update({
            "reason": str_field(obj.get("reason")),
            "reportingComponent": str_field(obj.get("reportingComponent")),
            "source": str_field(dig(obj, "source", "component")),
            "type": str_field(obj.get("type")),
        })
        return values

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        first = table.since(obj.get("firstTimestamp") or obj.get("eventTime"), now)
        last = table.since(obj.get("lastTimestamp"), now) if obj.get("lastTimestamp") else first
        count = obj.get("count") or 1
        series = obj.get("series")
        if isinstance(series, Mapping):
            last = table.since(series.get("lastObservedTime"), now)
            count = series.get("count", count)
        involved = as_dict(obj.get("involvedObject"))
        target = str(involved.get("kind", "")).lower()
        if involved.get("name"):
            target = f"{target}/{involved['name']}"
        source = as_dict(obj.get("source"))
        component = source.get("component") or obj.get("reportingComponent") or ""
        host = source.get("host") or obj.get("reportingInstance") or ""
        return [last, obj.get("type", ""), obj.get("reason", ""), target,
                involved.get("fieldPath", ""), f"{component}, {host}" if host else component,
                str(obj.get("message", "")).strip(), first, int(count), table.name(obj)]
