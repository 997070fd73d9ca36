"""Namespaces: the `kubernetes` finalizer, phase Active, and the name label
Kubernetes adds so selectors can pick namespaces by name."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, meta, table
from minikube_py.api.errors import Cause
from minikube_py.api.shape import as_dict, dig, str_field
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object

NAME_LABEL = "kubernetes.io/metadata.name"


class NamespaceStrategy(Strategy):
    has_spec = False
    selectable_fields = ("status.phase",)
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Status", description="The status of the namespace"),
        table.AGE,
    )

    def name_problems(self, name: str) -> list[str]:
        return meta.dns1123_label(name)

    def set_defaults(self, obj: Object) -> None:
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            spec.setdefault("finalizers", ["kubernetes"])
        metadata = obj.get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
            labels = metadata.get("labels")
            if labels is None:
                labels = metadata["labels"] = {}
            if isinstance(labels, dict):
                labels[NAME_LABEL] = metadata["name"]

    def initial_status(self, obj: Object) -> Object:
        return {"phase": "Active"}

    def validate(self, obj: Object) -> list[Cause]:
        finalizers = dig(obj, "spec", "finalizers", default=[])
        if not isinstance(finalizers, list):
            return [field.invalid("spec.finalizers", finalizers, "must be a list")]
        causes = []
        for i, name in enumerate(finalizers):
            if not isinstance(name, str) or (
                    "/" not in name and name != "kubernetes"):
                causes.append(field.invalid(f"spec.finalizers[{i}]", name,
                                            "name is neither a standard finalizer name nor is "
                                            "it fully qualified"))
        phase = dig(obj, "status", "phase")
        if phase is not None and phase not in ("Active", "Terminating"):
            causes.append(field.not_supported("status.phase", phase, ("Active", "Terminating")))
        return causes

    def prepare_update(self, new: Object, old: Object, subresource: str | None = None) -> None:
        """Finalizers change only through /finalize; status only through /status."""
        super().prepare_update(new, old, subresource)
        if subresource == "finalize":
            finalizers = copy.deepcopy(dig(new, "spec", "finalizers", default=[]))
            for key in ("metadata", "status"):
                if key in old:
                    kept = copy.deepcopy(old[key])
                    version = as_dict(new.get("metadata")).get("resourceVersion")
                    if key == "metadata" and version is not None:
                        kept["resourceVersion"] = version
                    new[key] = kept
            new["spec"] = {**copy.deepcopy(as_dict(old.get("spec"))), "finalizers": finalizers}
        elif subresource is None:
            new["spec"] = copy.deepcopy(as_dict(old.get("spec")))

    def extra_field_values(self, obj: Object) -> dict[str, str]:
        return {"status.phase": str_field(dig(obj, "status", "phase"))}

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        return [table.name(obj), dig(obj, "status", "phase", default=""), table.age(obj, now)]
