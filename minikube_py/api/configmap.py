"""ConfigMaps: valid keys, no key in both data and binaryData, at most 1 MiB."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import configdata, field, table
from minikube_py.api.errors import Cause
from minikube_py.api.shape import as_dict
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object


class ConfigMapStrategy(Strategy):
    has_spec = False
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Data", type="integer", description="The number of entries in data"),
        table.AGE,
    )

    def validate(self, obj: Object) -> list[Cause]:
        causes, size = configdata.validate_map(obj.get("data"), "data", base64_values=False)
        binary_causes, binary_size = configdata.validate_map(obj.get("binaryData"), "binaryData",
                                                             base64_values=True)
        causes += binary_causes
        data, binary = obj.get("data"), obj.get("binaryData")
        if isinstance(data, Mapping) and isinstance(binary, Mapping):
            for key in sorted(set(data) & set(binary)):
                causes.append(field.invalid(f"data[{key}]", key,
                                            "duplicate of key present in binaryData"))
        if size + binary_size > configdata.MAX_TOTAL_BYTES:
            causes.append(field.too_long("", configdata.MAX_TOTAL_BYTES))
        return causes

    def immutable_causes(self, new: Object, old: Object) -> list[Cause]:
        return configdata.immutable_data_causes(new, old, ("data", "binaryData"))

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        count = len(as_dict(obj.get("data"))) + len(as_dict(obj.get("binaryData")))
        return [table.name(obj), count, table.age(obj, now)]
