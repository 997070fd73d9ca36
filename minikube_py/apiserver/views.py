"""Which meta.k8s.io view of objects a client asks for with `Accept: ...;as=<Kind>;g=
meta.k8s.io;v=v1`: a Table (server-side printing, tables.py) or PartialObjectMetadata
(a GET, a write or a watch) / PartialObjectMetadataList (a list), the metadata alone,
as metadata-only clients want it (client-go's metadata informers, the Python client's
dynamic client, kube's own garbage collector).

A view the request cannot give is skipped for the next media type; when none is left
and no plain one either, the answer is kube-apiserver's 406.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from minikube_py.api import errors
from minikube_py.api.types import Object

GROUP = "meta.k8s.io"
VERSIONS = ("v1", "v1beta1")
TABLE = "Table"
PARTIAL = "PartialObjectMetadata"
PARTIAL_LIST = "PartialObjectMetadataList"
OBJECT_VIEWS = (TABLE, PARTIAL)  # a GET, a write's response, a watch's events
LIST_VIEWS = (TABLE, PARTIAL_LIST)

View = tuple[str, str]  # (kind, meta.k8s.io version)


def negotiate(request: web.Request, allowed: tuple[str, ...]) -> View | None:
    """The first view of `allowed` the Accept header names, or None for plain objects."""
    accept = request.headers.get("Accept", "")
    if "as=" not in accept:
        return None
    plain = False
    for media in accept.split(","):
        kind, *rest = media.split(";")
        params = dict(p.strip().partition("=")[::2] for p in rest)
        if "as" not in params:
            plain = plain or kind.strip() in ("application/json", "application/*", "*/*", "")
            continue
        version = params.get("v", "v1")
        if params["as"] in allowed and params.get("g", GROUP) == GROUP \
                and version in VERSIONS:
            return params["as"], version
    if plain:
        return None
    raise errors.not_acceptable([f"application/json;as={kind};v=v1;g={GROUP}"
                                 for kind in allowed] + ["application/json"])


def partial(obj: Object, version: str) -> Object:
    return {"kind": PARTIAL, "apiVersion": f"{GROUP}/{version}",
            "metadata": obj.get("metadata", {})}


def partial_list(objs: list[Object], version: str, list_meta: dict[str, Any]) -> Object:
    return {"kind": PARTIAL_LIST, "apiVersion": f"{GROUP}/{version}", "metadata": list_meta,
            "items": [partial(obj, version) for obj in objs]}
