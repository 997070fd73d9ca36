"""/openapi/v3 documents: every reference resolves inside its own document, and every
served kind is found by its group-version-kind, as kubectl explain looks it up."""

from __future__ import annotations

import json
from typing import Any

from minikube_py.api.resources import served
from minikube_py.apiserver import openapi_v3


def _refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["$ref"]} if "$ref" in value else set()
        return found.union(*(_refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value))
    return set()


def test_every_reference_resolves_in_its_document() -> None:
    for key, body in openapi_v3.documents().items():
        doc = json.loads(body)
        schemas = doc["components"]["schemas"]
        for ref in _refs(doc):
            assert ref.startswith("#/components/schemas/"), (key, ref)
            assert ref.rsplit("/", 1)[-1] in schemas, (key, ref)


def test_every_served_kind_is_found_by_its_gvk() -> None:
    documents = {k: json.loads(v) for k, v in openapi_v3.documents().items()}
    for resource in served():
        doc = documents[openapi_v3.group_version_key(resource)]
        gvk = {"group": resource.group, "version": resource.version, "kind": resource.kind}
        assert any(gvk in s.get("x-kubernetes-group-version-kind", [])
                   for s in doc["components"]["schemas"].values()), resource


def test_the_index_hash_follows_the_content() -> None:
    paths = json.loads(openapi_v3.index())["paths"]
    assert set(paths) == set(openapi_v3.documents())
    assert paths["api/v1"]["serverRelativeURL"].startswith("/openapi/v3/api/v1?hash=")
