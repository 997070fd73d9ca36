"""The strategy of one served version of a custom kind, built from its CRD.

As apiextensions-apiserver's customresource strategy: prune, default, then validate
against the version's structural schema; with a status subresource a create drops
status and a main-resource write keeps the stored one; generation follows every
change but metadata and status; Tables print the version's additionalPrinterColumns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from minikube_py.api import celrules, crdschema, customresourcedefinition, table
from minikube_py.api.errors import Cause
from minikube_py.api.jsonpath import json_path
from minikube_py.api.resources import Resource
from minikube_py.api.shape import as_dict, dicts
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object

_OPEN: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
class CustomResourceStrategy(Strategy):
    """One version of a custom kind: its schema, subresources and printer columns."""

    def __init__(self, resource: Resource, crd: Mapping[str, Any]) -> None:
        super().__init__(resource)
        version = next((v for v in dicts(as_dict(crd.get("spec")).get("versions"))
                        if v.get("name") == resource.version), {})
        schema = as_dict(version.get("schema")).get("openAPIV3Schema")
        self.schema: dict[str, Any] = schema if isinstance(schema, dict) else _OPEN
        self.optional_old_self = celrules.has_optional_old_self(self.schema)
        self.printer_columns = [c for c in dicts(version.get("additionalPrinterColumns"))
                                if isinstance(c.get("jsonPath"), str)]
        scale = as_dict(as_dict(version.get("subresources")).get("scale"))
        self.scale_spec_path = str(scale.get("specReplicasPath") or ".spec.replicas")
        self.scale_status_path = str(scale.get("statusReplicasPath") or ".status.replicas")
        selector = scale.get("labelSelectorPath")
        self.scale_selector_path = selector if isinstance(selector, str) else ""

    @classmethod
    def for_crd(cls, crd: Mapping[str, Any]) -> list[CustomResourceStrategy]:
        return [cls(r, crd) for r in customresourcedefinition.resources_of(crd)]

    def default(self, obj: Object) -> list[str]:
        removed = self.prune(obj)
        crdschema.default(obj, self.schema)
        return removed

    def prune(self, obj: Object) -> list[str]:
        return crdschema.prune(obj, self.schema)

    def validate(self, obj: Object) -> list[Cause]:
        causes = crdschema.validate(obj, self.schema)
        if causes:  # rules assume a well-typed self, as Kubernetes runs them after
            return causes
        return celrules.rule_causes(obj, self.schema, transition=False)

    def validate_create(self, obj: Object) -> list[Cause]:
        """Transition rules with optionalOldSelf run on create too (oldSelf none)."""
        causes = super().validate_create(obj)
        if self.optional_old_self and not crdschema.validate(obj, self.schema):
            causes += celrules.rule_causes(obj, self.schema, transition=True)
        return causes

    def immutable_causes(self, new: Object, old: Object) -> list[Cause]:
        """Transition rules (those naming oldSelf) see the stored object as oldSelf."""
        return celrules.rule_causes(new, self.schema, old, transition=True)

    def initial_status(self, obj: Object) -> Object | None:
        return None

    def prepare_create(self, obj: Object) -> None:
        super().prepare_create(obj)
        if self.status_subresource:
            obj.pop("status", None)

    def spec_of(self, obj: Mapping[str, Any]) -> Any:
        """Everything but metadata (and status, when it is a subresource)."""
        skip = ("metadata", "status") if self.status_subresource else ("metadata",)
        return {k: v for k, v in obj.items() if k not in skip}

    def table(self, objs: Iterable[Mapping[str, Any]], *, wide: bool = True,
              now: datetime | None = None) -> Object:
        if not self.printer_columns:
            return super().table(objs, wide=wide, now=now)
        columns = (table.NAME, *(table.Column(
            str(c.get("name", "")), str(c.get("type", "string")),
            str(c.get("description", "")), int(c.get("priority") or 0),
            str(c.get("format", ""))) for c in self.printer_columns))

        def row(obj: Mapping[str, Any], _: datetime) -> list[Any]:
            return [table.name(obj), *(_cell(obj, c) for c in self.printer_columns)]
        return table.build_table(columns, row, objs, wide=wide, now=now)


def _cell(obj: Mapping[str, Any], column: Mapping[str, Any]) -> Any:
    """A printer column's value as the Table carries it (kubectl formats dates as ages)."""
    value = json_path(obj, str(column["jsonPath"]))
    if value is None:
        return None
    if column.get("type") in ("integer", "number", "boolean") and not isinstance(
            value, (dict, list)):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
