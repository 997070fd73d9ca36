"""/openapi/v3: one OpenAPI 3.0 document per group/version, and their index.

kubectl >= 1.27 prefers these to /openapi/v2 for `explain` and for the patch
metadata of client-side `apply`; it reads the index (`/openapi/v3`), then the
document of the group/version it needs at the `serverRelativeURL` the index gives,
whose `hash` changes whenever the document does (kubectl caches by it). The schemas
are /openapi/v2's (same generator, same patch tags) with `$ref`s moved to
`#/components/schemas/`, each document keeping only what its kinds reference; a
custom kind keeps its CRD schema whole (v3 says nullable, anyOf and the rest).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from typing import Any

from minikube_py.api.registry import strategy_for
from minikube_py.api.resources import Resource, served
from minikube_py.api.schema import definition_name
from minikube_py.api.types import Object
from minikube_py.apiserver import openapi

_V2_REF, _V3_REF = "#/definitions/", "#/components/schemas/"
_ALWAYS = ("io.k8s.apimachinery.pkg.apis.meta.v1.Status",
           "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions")


def group_version_key(resource: Resource) -> str:
    """The index's name of a resource's document: api/v1, apis/apps/v1."""
    return f"apis/{resource.group}/{resource.version}" if resource.group else "api/v1"


def _refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["$ref"].rsplit("/", 1)[-1]} if isinstance(value.get("$ref"), str) \
            else set()
        for child in value.values():
            found |= _refs(child)
        return found
    if isinstance(value, list):
        return set().union(*map(_refs, value)) if value else set()
    return set()


def _moved_refs(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (v.replace(_V2_REF, _V3_REF) if k == "$ref" and isinstance(v, str)
                    else _moved_refs(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_moved_refs(v) for v in value]
    return value


def _custom_schema(resource: Resource, v2_schema: Object) -> Object:
    """The CRD's structural schema as given (v3 keeps what v2 drops), with the envelope
    and the tags the v2 definition carries."""
    schema = copy.deepcopy(getattr(strategy_for(resource), "schema", {}))
    properties = schema.setdefault("properties", {})
    for name in ("apiVersion", "kind", "metadata"):
        properties[name] = v2_schema["properties"][name]
    schema["type"] = "object"
    schema["x-kubernetes-group-version-kind"] = v2_schema["x-kubernetes-group-version-kind"]
    return schema


def _operation(resource: Resource, schema_name: str, v2_op: Object) -> Object:
    parameters = [{"name": p["name"], "in": "query", "description": p["description"],
                   "schema": {"type": "string", "uniqueItems": True}}
                  for p in v2_op["parameters"]]
    return {"patch": {
        "operationId": v2_op["operationId"],
        "parameters": parameters,
        "requestBody": {"content": {t: {"schema": {"type": "object"}}
                                    for t in v2_op["consumes"]}, "required": True},
        "responses": {"200": {"description": "OK", "content": {"application/json": {
            "schema": {"$ref": _V3_REF + schema_name}}}}},
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": v2_op["x-kubernetes-group-version-kind"]}}


def _document(resources: list[Resource], v2: Object) -> Object:
    definitions = v2["definitions"]
    wanted = [definition_name(r) for r in resources]
    schemas: dict[str, Object] = {}
    pending = [*wanted, *_ALWAYS]
    while pending:
        name = pending.pop()
        if name in schemas or name not in definitions:
            continue
        schemas[name] = definitions[name]
        pending.extend(_refs(definitions[name]))
    for resource in resources:
        name = definition_name(resource)
        if resource.custom and name in schemas:
            schemas[name] = _custom_schema(resource, schemas[name])
    paths = {}
    for resource in resources:
        path = resource.path("{namespace}", "{name}")
        if path in v2["paths"]:
            paths[path] = _operation(resource, definition_name(resource),
                                     v2["paths"][path]["patch"])
    return {"openapi": "3.0.0", "info": dict(v2["info"]), "paths": paths,
            "components": {"schemas": _moved_refs(dict(sorted(schemas.items())))}}


@functools.lru_cache(maxsize=2)
def documents(generation: int = 0) -> dict[str, bytes]:
    """Every group/version's document as JSON, cached per CRD registry generation."""
    v2 = openapi.openapi_v2(generation)
    grouped: dict[str, list[Resource]] = {}
    for resource in served():
        grouped.setdefault(group_version_key(resource), []).append(resource)
    return {key: json.dumps(_document(resources, v2), separators=(",", ":")).encode()
            for key, resources in sorted(grouped.items())}


@functools.lru_cache(maxsize=2)
def index(generation: int = 0) -> bytes:
    """kube-apiserver's discovery of v3 documents: each with its content hash."""
    paths = {key: {"serverRelativeURL": f"/openapi/v3/{key}?hash="
                   f"{hashlib.sha512(body).hexdigest().upper()}"}
             for key, body in documents(generation).items()}
    return json.dumps({"paths": paths}, separators=(",", ":")).encode()
