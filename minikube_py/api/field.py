"""Field-level validation errors (apimachinery's field.Error constructors).

Each helper returns a `Cause` whose message is the error body Kubernetes
prints after the field path, so `str(cause)` reads like kube-apiserver's
'spec.containers[0].name: Required value'.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from minikube_py.api.errors import Cause


def format_value(value: Any) -> str:
    """Render a bad value the way Go's %q / %v would for JSON-shaped data."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if value is None:
        return "null"
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def required(field: str, detail: str = "") -> Cause:
    return Cause(field, f"Required value: {detail}" if detail else "Required value",
                 "FieldValueRequired")


def invalid(field: str, value: Any, detail: str = "") -> Cause:
    body = f"Invalid value: {format_value(value)}"
    return Cause(field, f"{body}: {detail}" if detail else body, "FieldValueInvalid")


def duplicate(field: str, value: Any) -> Cause:
    return Cause(field, f"Duplicate value: {format_value(value)}", "FieldValueDuplicate")


def not_supported(field: str, value: Any, supported: list[str] | tuple[str, ...]) -> Cause:
    allowed = ", ".join(json.dumps(s) for s in sorted(supported))
    return Cause(field, f"Unsupported value: {format_value(value)}: supported values: {allowed}",
                 "FieldValueNotSupported")


def forbidden(field: str, detail: str) -> Cause:
    return Cause(field, f"Forbidden: {detail}", "FieldValueForbidden")


def too_long(field: str, limit: int, unit: str = "bytes") -> Cause:
    return Cause(field, f"Too long: must have at most {limit} {unit}", "FieldValueTooLong")


def immutable(field: str, value: Any) -> Cause:
    return invalid(field, value, "field is immutable")


def at_least(field: str, value: Any, minimum: int = 0) -> list[Cause]:
    """[] for an absent value or an integer >= minimum, else Kubernetes' range cause."""
    if value is None:
        return []
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return []
    detail = ("must be greater than or equal to 0" if minimum == 0
              else f"must be greater than {minimum - 1}")
    return [invalid(field, value, detail)]


def objects(items: Any, path: str, causes: list[Cause]) -> Iterator[tuple[str, Any]]:
    """(path[i], item) for each object of a JSON list, appending a cause for a non-list
    or for any element that is not an object, so validators only see well-shaped items."""
    if items is None:
        return
    if not isinstance(items, list):
        causes.append(invalid(path, items, "must be a list"))
        return
    for i, item in enumerate(items):
        if isinstance(item, Mapping):
            yield f"{path}[{i}]", item
        else:
            causes.append(invalid(f"{path}[{i}]", item, "must be an object"))
