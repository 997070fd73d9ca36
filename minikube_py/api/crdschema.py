"""Structural schemas of CustomResourceDefinitions: pruning, defaulting, validation.

A custom object goes through what apiextensions-apiserver does on every write: fields
the schema does not declare are pruned (unless `x-kubernetes-preserve-unknown-fields`),
`default`s fill what is missing, then the OpenAPI v3 checks run with kube-openapi's
messages as apiextensions turns them into field errors (`spec.replicas: Invalid value:
"x": spec.replicas in body must be of type integer: "x"`). Schemas are plain JSON, as
in the CRD.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

from minikube_py.api import field
from minikube_py.api.errors import Cause
from minikube_py.api.types import Object

Schema = Object
# What every object keeps at its root, and an embedded resource at its own.
_ENVELOPE = ("apiVersion", "kind", "metadata")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _properties(schema: Schema) -> dict[str, Schema]:
    props = schema.get("properties")
    return props if isinstance(props, dict) else {}


def _additional(schema: Schema) -> Schema | None:
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def _items(schema: Schema) -> Schema | None:
    items = schema.get("items")
    return items if isinstance(items, dict) else None


# -- pruning -------------------------------------------------------------------------------

def prune(obj: dict[str, Any], schema: Schema) -> list[str]:
    """Drop undeclared fields in place (the envelope stays); their paths, for warnings."""
    removed: list[str] = []
    _prune(obj, schema, "", removed, root=True)
    return removed


def _prune(value: Any, schema: Schema, path: str, removed: list[str], *,
           root: bool = False) -> None:
    if isinstance(value, dict):
        keep_envelope = root or schema.get("x-kubernetes-embedded-resource") is True
        props, extra = _properties(schema), _additional(schema)
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        for key in list(value):
            if keep_envelope and key in _ENVELOPE and key not in props:
                continue
            child = props.get(key) or extra
            if child is not None:
                _prune(value[key], child, f"{path}[{key}]" if child is extra
                       and key not in props else _join(path, key), removed)
            elif not preserve:
                removed.append(_join(path, key))
                del value[key]
    elif isinstance(value, list):
        items = _items(schema)
        if items is not None:
            for i, item in enumerate(value):
                _prune(item, items, f"{path}[{i}]", removed)


# -- defaulting ----------------------------------------------------------------------------

def default(obj: Any, schema: Schema) -> None:
    """Fill `default`s of absent properties, at every depth, in place."""
    if isinstance(obj, dict):
        props = _properties(schema)
        for key, child in props.items():
            if key not in obj and "default" in child:
                obj[key] = copy.deepcopy(child["default"])
        for key, value in obj.items():
            found = props.get(key) or _additional(schema)
            if found is not None:
                default(value, found)
    elif isinstance(obj, list):
        items = _items(schema)
        if items is not None:
            for item in obj:
                default(item, items)


# -- validation ----------------------------------------------------------------------------

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "boolean": (bool,),
    "integer": (int,), "number": (int, float),
}


def _type_name(value: Any) -> str:
    for name, kinds in (("null", (type(None),)), ("boolean", (bool,)), ("integer", (int,)),
                        ("number", (float,)), ("string", (str,)), ("array", (list,)),
                        ("object", (dict,))):
        if isinstance(value, kinds):
            return name
    return type(value).__name__


def _has_type(value: Any, wanted: str) -> bool:
    if isinstance(value, bool) and wanted != "boolean":
        return False
    if wanted == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(wanted, (object,)))


def _quote(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else field.format_value(value)


def validate(obj: Any, schema: Schema) -> list[Cause]:
    """Every violation of the schema, named by field path; the root's envelope (apiVersion,
    kind, metadata) is the api-server's to check, not the schema's."""
    body = {k: v for k, v in obj.items() if k not in _ENVELOPE} if isinstance(obj, dict) \
        else obj
    props = {k: v for k, v in _properties(schema).items() if k not in _ENVELOPE}
    return list(_validate(body, {**schema, "properties": props}, ""))


def _validate(value: Any, schema: Schema, path: str) -> Iterator[Cause]:
    if value is None:
        if schema.get("nullable") is not True and _declared_type(schema):
            yield _type_error(path, value, _declared_type(schema))
        return
    wanted = _declared_type(schema)
    if schema.get("x-kubernetes-int-or-string") is True:
        if not isinstance(value, (int, str)) or isinstance(value, bool):
            yield _type_error(path, value, "integer,string")
            return
    elif wanted and not _has_type(value, wanted):
        yield _type_error(path, value, wanted)
        return
    yield from _enum(value, schema, path)
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield from _number(value, schema, path)
    elif isinstance(value, str):
        yield from _string(value, schema, path)
    elif isinstance(value, list):
        yield from _array(value, schema, path)
    elif isinstance(value, dict):
        yield from _object(value, schema, path)


def _declared_type(schema: Schema) -> str:
    wanted = schema.get("type")
    return wanted if isinstance(wanted, str) else ""


def _type_error(path: str, value: Any, wanted: str) -> Cause:
    shown = _quote(value) if value is not None else '"null"'
    return Cause(path, f"Invalid value: {shown}: {path or 'body'} in body must be of type "
                 f'{wanted}: "{_type_name(value)}"', "FieldValueTypeInvalid")


def _enum(value: Any, schema: Schema, path: str) -> Iterator[Cause]:
    allowed = schema.get("enum")
    if isinstance(allowed, list) and value not in allowed:
        supported = ", ".join(_quote(a) for a in allowed)
        yield Cause(path, f"Unsupported value: {_quote(value)}: supported values: {supported}",
                    "FieldValueNotSupported")


def _invalid(path: str, value: Any, detail: str) -> Cause:
    return Cause(path, f"Invalid value: {_quote(value)}: {path} in body {detail}")


def _number(value: float, schema: Schema, path: str) -> Iterator[Cause]:
    maximum, minimum = schema.get("maximum"), schema.get("minimum")
    if isinstance(maximum, (int, float)):
        if schema.get("exclusiveMaximum") is True and value >= maximum:
            yield _invalid(path, value, f"should be less than {maximum}")
        elif value > maximum:
            yield _invalid(path, value, f"should be less than or equal to {maximum}")
    if isinstance(minimum, (int, float)):
        if schema.get("exclusiveMinimum") is True and value <= minimum:
            yield _invalid(path, value, f"should be greater than {minimum}")
        elif value < minimum:
            yield _invalid(path, value, f"should be greater than or equal to {minimum}")
    step = schema.get("multipleOf")
    if isinstance(step, (int, float)) and step > 0 and (value / step) % 1:
        yield _invalid(path, value, f"should be a multiple of {step}")


def _string(value: str, schema: Schema, path: str) -> Iterator[Cause]:
    longest, shortest = schema.get("maxLength"), schema.get("minLength")
    if isinstance(longest, int) and len(value) > longest:
        yield field.too_long(path, longest)
    if isinstance(shortest, int) and len(value) < shortest:
        yield _invalid(path, value, f"should be at least {shortest} chars long")
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            matched = re.search(pattern, value) is not None
        except re.error:
            matched = True  # the CRD's own validation refuses such a pattern
        if not matched:
            yield _invalid(path, value, f"should match '{pattern}'")


def _array(value: list[Any], schema: Schema, path: str) -> Iterator[Cause]:
    most, least = schema.get("maxItems"), schema.get("minItems")
    if isinstance(most, int) and len(value) > most:
        yield Cause(path, f"Too many: {len(value)}: must have at most {most} items",
                    "FieldValueTooMany")
    if isinstance(least, int) and len(value) < least:
        yield Cause(path, f"Invalid value: {len(value)}: {path} in body should have at least "
                    f"{least} items")
    items = _items(schema)
    if items is not None:
        for i, item in enumerate(value):
            yield from _validate(item, items, f"{path}[{i}]")
    yield from _list_type(value, schema, path)


def _list_type(value: list[Any], schema: Schema, path: str) -> Iterator[Cause]:
    """listType set: no two equal items; map: no two items with the same map keys."""
    list_type = schema.get("x-kubernetes-list-type")
    keys = schema.get("x-kubernetes-list-map-keys")
    seen: list[Any] = []
    for i, item in enumerate(value):
        if list_type == "set":
            identity = item
        elif list_type == "map" and isinstance(keys, list) and isinstance(item, dict):
            identity = {k: item.get(k) for k in keys if k in item}
        else:
            return
        if identity in seen:
            yield field.duplicate(f"{path}[{i}]", identity)
        else:
            seen.append(identity)


def _object(value: dict[str, Any], schema: Schema, path: str) -> Iterator[Cause]:
    required = schema.get("required")
    for name in required if isinstance(required, list) else ():
        if isinstance(name, str) and name not in value:
            yield field.required(_join(path, name))
    most, least = schema.get("maxProperties"), schema.get("minProperties")
    if isinstance(most, int) and len(value) > most:
        yield Cause(path, f"Too many: {len(value)}: must have at most {most} items",
                    "FieldValueTooMany")
    if isinstance(least, int) and len(value) < least:
        yield _invalid(path, len(value), f"should have at least {least} properties")
    props, extra = _properties(schema), _additional(schema)
    for key, item in value.items():
        if key in props:
            yield from _validate(item, props[key], _join(path, key))
        elif extra is not None:
            yield from _validate(item, extra, f"{path}[{key}]")
    if schema.get("x-kubernetes-embedded-resource") is True:
        for key in ("apiVersion", "kind"):
            if not value.get(key):
                yield field.required(_join(path, key), "must not be empty")


# -- the schema itself ---------------------------------------------------------------------

def structural_causes(schema: Any, path: str) -> list[Cause]:
    """A structural schema names a type everywhere a value may be (apiextensions'
    "must not be empty for specified ... fields"), unless the node preserves unknown
    fields or is int-or-string."""
    causes: list[Cause] = []
    _structural(schema, path, causes)
    return causes


def _structural(schema: Any, path: str, causes: list[Cause]) -> None:
    if not isinstance(schema, dict):
        causes.append(field.invalid(path, schema, "must be an object"))
        return
    free = schema.get("x-kubernetes-preserve-unknown-fields") is True \
        or schema.get("x-kubernetes-int-or-string") is True
    wanted = schema.get("type")
    if not wanted and not free:
        causes.append(field.required(f"{path}.type", "must not be empty for specified "
                                     "object fields"))
    elif wanted and wanted not in _TYPES:
        causes.append(field.not_supported(f"{path}.type", wanted, list(_TYPES)))
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            re.compile(pattern)
        except re.error as e:
            causes.append(field.invalid(f"{path}.pattern", pattern, str(e)))
    for key, child in _properties(schema).items():
        _structural(child, f"{path}.properties[{key}]", causes)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _structural(schema[key], f"{path}.{key}", causes)
    if wanted == "array" and not isinstance(schema.get("items"), dict):
        causes.append(field.required(f"{path}.items", "must be specified"))
