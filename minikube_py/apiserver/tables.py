"""Server-side printing: answer `Accept: ...;as=Table;g=meta.k8s.io;v=v1` with a Table.

The columns come from the kind's strategy (whether a Table was asked for is
views.py's); this module fills each row's `object` as `includeObject` says
(PartialObjectMetadata by default, the whole object, or nothing).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.registry import strategy_for
from minikube_py.api.resources import Resource
from minikube_py.apiserver import views


def _row_object(obj: dict[str, Any], include: str, version: str) -> dict[str, Any] | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return views.partial(obj, version)


def to_table(request: web.Request, resource: Resource, objs: Iterable[dict[str, Any]],
             version: str, list_meta: dict[str, Any] | None = None) -> dict[str, Any]:
    include = request.query.get("includeObject", "Metadata")
    if include not in ("None", "Metadata", "Object"):
        raise errors.bad_request(f'invalid includeObject "{include}": must be None, '
                                 "Metadata or Object")
    objs = list(objs)
    table = strategy_for(resource).table(objs, wide=True)
    table["apiVersion"] = f"meta.k8s.io/{version}"
    table["metadata"] = list_meta or {}
    for row, obj in zip(table["rows"], objs):
        row_object = _row_object(obj, include, version)
        if row_object is not None:
            row["object"] = row_object
    return table
