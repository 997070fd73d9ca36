"""Checks shared by ConfigMaps and Secrets: data keys, base64 payloads, `immutable`."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from minikube_py.api import field
from minikube_py.api.errors import Cause

_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
KEY_MSG = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
           "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
           "'[-._a-zA-Z0-9]+')")
MAX_TOTAL_BYTES = 1024 * 1024


def key_causes(key: Any, path: str) -> list[Cause]:
    if not isinstance(key, str) or not _KEY.match(key) or len(key) > 253 or key in (".", ".."):
        return [field.invalid(path, key, KEY_MSG)]
    return []


def decode_base64(value: Any) -> bytes | None:
    """The bytes a base64 data value stands for, or None if it is not base64."""
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def validate_map(values: Any, path: str, *, base64_values: bool) -> tuple[list[Cause], int]:
    """Causes for one data map and its decoded size."""
    if values is None:
        return [], 0
    if not isinstance(values, Mapping):
        return [field.invalid(path, values, "must be a map of string keys to string values")], 0
    causes, size = [], 0
    for key, value in values.items():
        here = f"{path}[{key}]"
        causes += key_causes(key, here)
        if base64_values:
            decoded = decode_base64(value)
            if decoded is None:
                causes.append(field.invalid(here, "<value omitted>",
                                            "must be a base64-encoded string"))
                continue
            size += len(decoded)
        elif not isinstance(value, str):
            causes.append(field.invalid(here, value, "must be a string"))
        else:
            size += len(value.encode())
    return causes, size


def immutable_data_causes(new: Mapping[str, Any], old: Mapping[str, Any],
                          keys: tuple[str, ...]) -> list[Cause]:
    """Once `immutable: true`, neither it nor the data may change."""
    if not old.get("immutable"):
        return []
    causes = []
    if not new.get("immutable"):
        causes.append(field.forbidden("immutable", "field is immutable when `immutable` is set"))
    for key in keys:
        if new.get(key) != old.get(key):
            causes.append(field.forbidden(key, "field is immutable when `immutable` is set"))
    return causes
