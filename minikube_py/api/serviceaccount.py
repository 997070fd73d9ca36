"""ServiceAccounts: little to check; `kubectl get sa` shows how many secrets each lists."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, table
from minikube_py.api.errors import Cause
from minikube_py.api.shape import as_list
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object


class ServiceAccountStrategy(Strategy):
    has_spec = False
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Secrets", type="integer", description="Secrets is a list of the secrets "
                                                            "in the same namespace"),
        table.AGE,
    )

    def validate(self, obj: Object) -> list[Cause]:
        causes = []
        for key in ("secrets", "imagePullSecrets"):
            refs = obj.get(key)
            if refs is not None and (not isinstance(refs, list) or not all(
                    isinstance(r, Mapping) for r in refs)):
                causes.append(field.invalid(key, refs, "must be a list of object references"))
        return causes

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        return [table.name(obj), len(as_list(obj.get("secrets"))), table.age(obj, now)]
