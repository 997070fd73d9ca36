"""The per-kind strategy the api-server calls around every write and read.

Order on create: default -> prepare_create -> validate_create; on update
(PUT, PATCH, status/scale writes): default -> prepare_update -> validate_update,
as kube-apiserver's rest.BeforeCreate/BeforeUpdate do. A kind module subclasses
`Strategy` and overrides only the hooks it needs (`set_defaults`, `validate`,
`immutable_causes`, `initial_status`, `row` ...).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import meta, schema, table
from minikube_py.api.errors import Cause
from minikube_py.api.resources import Resource
from minikube_py.api.shape import as_dict
from minikube_py.api.types import Object

# Metadata the server owns: an update keeps the stored values whatever the body says.
_SYSTEM_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                "generation")


class Strategy:
    """Defaults, validation, write preparation, field selectors and Tables for one kind."""

    columns: ClassVar[tuple[table.Column, ...]] = (table.NAME, table.AGE)
    selectable_fields: ClassVar[tuple[str, ...]] = ()
    # Whether metadata.generation tracks spec changes (kinds with a desired state).
    has_spec: ClassVar[bool] = True
    # Status writes may change labels for core kinds; apps kinds keep them (as Kubernetes).
    status_keeps_labels: ClassVar[bool] = False
    # Where the scale subresource reads and writes (a CRD names its own); no selector path
    # means spec.selector, a metav1.LabelSelector.
    scale_spec_path = ".spec.replicas"
    scale_status_path = ".status.replicas"
    scale_selector_path = ""

    def __init__(self, resource: Resource) -> None:
        self.resource = resource

    @property
    def status_subresource(self) -> bool:
        return "status" in self.resource.subresources

    # -- hooks for kind modules -------------------------------------------------------------

    def name_problems(self, name: str) -> list[str]:
        """Most names are DNS subdomains; Services and Namespaces are stricter."""
        return meta.dns1123_subdomain(name)

    def set_defaults(self, obj: Object) -> None:
        """Fill omitted fields as Kubernetes' SetDefaults_* do."""

    def validate(self, obj: Object) -> list[Cause]:
        """Kind-specific causes (spec, data ...); metadata is checked by the callers."""
        return []

    def immutable_causes(self, new: Object, old: Object) -> list[Cause]:
        """Causes for fields that may not change on update."""
        return []

    def initial_status(self, obj: Object) -> Object | None:
        """The status a new object starts with; None keeps what the client sent."""
        return {} if self.status_subresource else None

    # Status counters Go's encoder always writes (int32 without omitempty): an object
    # read back from kube-apiserver has them, 0 when unset, and typed clients (the
    # Python client's models) refuse one without them.
    required_status_counters: tuple[str, ...] = ()

    def _fill_required_status(self, obj: Object) -> None:
        if not self.required_status_counters:
            return
        status = obj.setdefault("status", {})
        if isinstance(status, dict):
            for name in self.required_status_counters:
                if status.get(name) is None:
                    status[name] = 0

    def extra_field_values(self, obj: Object) -> dict[str, str]:
        return {}

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        return [table.name(obj), table.age(obj, now)]

    # -- what the api-server calls -----------------------------------------------------------

    def default(self, obj: Object) -> list[str]:
        """Drop undeclared fields (as typed decoding does), then fill defaults.

        Returns the dropped fields' paths, for a `Warning: unknown field` header.
        """
        removed = self.prune(obj)
        self.set_defaults(obj)
        return removed

    def prune(self, obj: Object) -> list[str]:
        """Drop undeclared fields; their paths (server-side apply checks configurations
        with it before owning anything)."""
        return schema.prune(obj, self.resource)

    def validate_create(self, obj: Object) -> list[Cause]:
        causes = meta.validate_object_meta(obj.get("metadata"),
                                           namespaced=self.resource.namespaced,
                                           name_validator=self.name_problems)
        return causes + self.validate(obj)

    def validate_update(self, new: Object, old: Object) -> list[Cause]:
        causes = meta.immutable_meta_causes(new, old)
        causes += meta.validate_object_meta(new.get("metadata"),
                                            namespaced=self.resource.namespaced,
                                            name_validator=self.name_problems)
        return causes + self.validate(new) + self.immutable_causes(new, old)

    def prepare_create(self, obj: Object) -> None:
        """Clear what clients may not set on create; start generation at 1."""
        metadata = obj.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            return  # validation reports it; nothing is written
        for key in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            metadata.pop(key, None)
        if self.has_spec:
            metadata["generation"] = 1
        else:
            metadata.pop("generation", None)
        status = self.initial_status(obj)
        if status is not None:
            obj["status"] = status
        self._fill_required_status(obj)

    def prepare_update(self, new: Object, old: Object, subresource: str | None = None) -> None:
        """Apply the status/spec split and bump generation when the spec changed.

        A status write keeps the stored spec and the stored metadata (labels and
        annotations excepted, unless `status_keeps_labels`); any other write keeps
        the stored status when the kind has a status subresource.
        """
        new_meta = new.setdefault("metadata", {})
        old_meta = as_dict(old.get("metadata"))
        if not isinstance(new_meta, dict):
            return  # validation reports it; nothing is written
        for key in _SYSTEM_META:
            if key in old_meta:
                new_meta[key] = copy.deepcopy(old_meta[key])
            else:
                new_meta.pop(key, None)
        if subresource == "status":
            self._keep_all_but_status(new, old)
            self._fill_required_status(new)
            return
        if self.status_subresource:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        if self.has_spec and self.spec_of(new) != self.spec_of(old):
            new_meta["generation"] = int(old_meta.get("generation") or 0) + 1
        self._fill_required_status(new)

    def spec_of(self, obj: Mapping[str, Any]) -> Any:
        """What counts as the desired state for generation tracking."""
        return obj.get("spec")

    def _keep_all_but_status(self, new: Object, old: Object) -> None:
        for key, value in old.items():
            if key not in ("metadata", "status", "apiVersion", "kind"):
                new[key] = copy.deepcopy(value)
        for key in [k for k in new if k not in old and k not in ("metadata", "status",
                                                                 "apiVersion", "kind")]:
            del new[key]
        new_meta, old_meta = new["metadata"], as_dict(old.get("metadata"))
        # managedFields come from the field manager, which ignores the request's.
        allowed = ("resourceVersion", "managedFields") if self.status_keeps_labels else (
            "resourceVersion", "managedFields", "labels", "annotations")
        kept = {k: copy.deepcopy(v) for k, v in old_meta.items() if k not in allowed}
        kept.update({k: new_meta[k] for k in allowed if k in new_meta})
        new_meta.clear()
        new_meta.update(kept)

    def field_values(self, obj: Mapping[str, Any]) -> dict[str, str]:
        """The flat fields a fieldSelector may test (missing ones read as "")."""
        metadata = as_dict(obj.get("metadata"))
        values = {"metadata.name": str(metadata.get("name") or "")}
        if self.resource.namespaced:
            values["metadata.namespace"] = str(metadata.get("namespace") or "")
        values.update(self.extra_field_values(obj))  # type: ignore[arg-type]
        return values

    @property
    def supported_fields(self) -> frozenset[str]:
        base = {"metadata.name"} | ({"metadata.namespace"} if self.resource.namespaced else set())
        return frozenset(base | set(self.selectable_fields))

    def table(self, objs: Iterable[Mapping[str, Any]], *, wide: bool = True,
              now: datetime | None = None) -> Object:
        return table.build_table(type(self).columns, self.row, objs, wide=wide, now=now)

