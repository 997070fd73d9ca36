"""Tolerant reads of untrusted JSON: defaults and validation run before anything
is known about a body's shape, so every walk goes through these."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def dig(obj: Any, *path: str, default: Any = None) -> Any:
    """obj[path[0]][path[1]]... tolerating missing levels and non-dict values."""
    for key in path:
        if not isinstance(obj, Mapping):
            return default
        obj = obj.get(key)
    return default if obj is None else obj


def as_list(value: Any) -> list[Any]:
    """`value` if it is a list, else [] (validation reports the wrong type)."""
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    """`value` if it is a dict, else {} (validation reports the wrong type)."""
    return value if isinstance(value, dict) else {}


def dicts(value: Any) -> list[dict[str, Any]]:
    """The dict elements of a list (anything else in or instead of it is skipped)."""
    return [item for item in as_list(value) if isinstance(item, dict)]


def str_field(value: Any) -> str:
    """A field-selector value as Kubernetes renders it (bools lowercase)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
