"""The JSONPath forms CRDs use (printer columns, scale paths): `.a.b`, `.a[0]` and
`.a[?(@.type=="Ready")]`, read as kubectl reads them; and setting a plain `.a.b`."""

from __future__ import annotations

import re
from typing import Any

_STEP = re.compile(r'\.([^.\[]+)|\[(\d+)\]|\[\?\(@\.([\w.-]+)\s*==\s*["\']([^"\']*)["\']\)\]')


def json_path(obj: Any, path: str) -> Any:
    """kubectl's JSONPath for printer columns, the forms CRDs use: `.a.b`, `.a[0]` and
    `.a[?(@.type=="Ready")]` (the first match); None where nothing is found."""
    value, at = obj, 0
    while at < len(path):
        step = _STEP.match(path, at)
        if step is None:
            return None
        key, index, filter_key, filter_value = step.groups()
        at = step.end()
        if key is not None:
            value = value.get(key) if isinstance(value, dict) else None
        elif index is not None:
            value = value[int(index)] if isinstance(value, list) and int(index) < len(value) \
                else None
        else:
            value = next((v for v in value or () if isinstance(v, dict)
                          and str(v.get(filter_key)) == filter_value), None) \
                if isinstance(value, list) else None
        if value is None:
            return None
    return value


def set_path(obj: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path (`.spec.replicas`), making the objects on the way."""
    keys = [k for k in path.split(".") if k]
    for key in keys[:-1]:
        child = obj.get(key)
        if not isinstance(child, dict):
            child = obj[key] = {}
        obj = child
    obj[keys[-1]] = value
