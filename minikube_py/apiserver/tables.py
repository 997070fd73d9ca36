"""Server-side printing: answer `Accept: ...;as=Table;g=meta.k8s.io;v=v1` with a Table.

The columns come from the kind's strategy; this module only decides whether a
Table was asked for and fills each row's `object` as `includeObject` says
(PartialObjectMetadata by default, the whole object, or nothing).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.registry import strategy_for
from minikube_py.api.resources import Resource


def table_version(request: web.Request) -> str | None:
    """"v1" or "v1beta1" when the client accepts a meta.k8s.io Table, else None."""
    accept = request.headers.get("Accept", "")
    if "as=Table" not in accept:
        return None
    for media in accept.split(","):
        params = dict(p.strip().partition("=")[::2] for p in media.split(";")[1:])
        if params.get("as") == "Table" and params.get("g", "meta.k8s.io") == "meta.k8s.io":
            version = params.get("v", "v1")
            if version in ("v1", "v1beta1"):
                return version
    if "application/json" in accept or "*/*" in accept:
        return None
    raise errors.not_acceptable(["application/json;as=Table;v=v1;g=meta.k8s.io",
                                 "application/json"])


def _row_object(obj: dict[str, Any], include: str, version: str) -> dict[str, Any] | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{version}",
            "metadata": obj.get("metadata", {})}


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
