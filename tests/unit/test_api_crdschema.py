"""Structural schemas: pruning, defaulting and validation as apiextensions-apiserver does."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minikube_py.api import crdschema
from minikube_py.api.customresourcedefinition import resources_of, version_priority
from minikube_py.api.jsonpath import json_path, set_path
from tests.fixtures.strategies import anything

SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "spec": {"type": "object", "required": ["size"], "properties": {
        "size": {"type": "integer", "minimum": 1, "maximum": 10},
        "name": {"type": "string", "maxLength": 5, "pattern": "^[a-z]+$"},
        "mode": {"type": "string", "enum": ["fast", "safe"], "default": "safe"},
        "port": {"x-kubernetes-int-or-string": True},
        "ratio": {"type": "number", "nullable": True},
        "tags": {"type": "array", "maxItems": 3, "items": {"type": "string"},
                 "x-kubernetes-list-type": "set"},
        "ports": {"type": "array", "x-kubernetes-list-type": "map",
                  "x-kubernetes-list-map-keys": ["name"], "items": {
                      "type": "object", "properties": {
                          "name": {"type": "string"},
                          "port": {"type": "integer", "default": 80}}}},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                     "x-kubernetes-preserve-unknown-fields": True},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                 "properties": {"known": {"type": "integer", "default": 7}}}}},
    "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}


def causes(obj: Any) -> dict[str, str]:
    return {c.field: c.message for c in crdschema.validate(obj, SCHEMA)}


@pytest.mark.parametrize("spec,path,message", [
    ({"size": "3"}, "spec.size",
     'Invalid value: "3": spec.size in body must be of type integer: "string"'),
    ({"size": 0}, "spec.size",
     "Invalid value: 0: spec.size in body should be greater than or equal to 1"),
    ({"size": 11}, "spec.size",
     "Invalid value: 11: spec.size in body should be less than or equal to 10"),
    ({}, "spec.size", "Required value"),
    ({"size": 1, "mode": "slow"}, "spec.mode",
     'Unsupported value: "slow": supported values: "fast", "safe"'),
    ({"size": 1, "name": "ABC"}, "spec.name",
     "Invalid value: \"ABC\": spec.name in body should match '^[a-z]+$'"),
    ({"size": 1, "name": "abcdefg"}, "spec.name", "Too long: must have at most 5 bytes"),
    ({"size": 1, "port": 1.5}, "spec.port",
     'Invalid value: 1.5: spec.port in body must be of type integer,string: "number"'),
    ({"size": 1, "tags": ["a", "b", "a"]}, "spec.tags[2]", 'Duplicate value: "a"'),
    ({"size": 1, "tags": ["a", "b", "c", "d"]}, "spec.tags",
     "Too many: 4: must have at most 3 items"),
    ({"size": 1, "ports": [{"name": "x"}, {"name": "x"}]}, "spec.ports[1]",
     'Duplicate value: {"name":"x"}'),
    ({"size": 1, "labels": {"a": 1}}, "spec.labels[a]",
     'Invalid value: 1: spec.labels[a] in body must be of type string: "integer"'),
    ({"size": 1, "template": {"kind": "Pod"}}, "spec.template.apiVersion",
     "Required value: must not be empty"),
    ({"size": True}, "spec.size",
     'Invalid value: true: spec.size in body must be of type integer: "boolean"'),
])
def test_validation_messages(spec: dict[str, Any], path: str, message: str) -> None:
    found = causes({"spec": spec})
    assert found.get(path) == message, found


def test_valid_objects_and_nullable_and_int_or_string() -> None:
    assert causes({"spec": {"size": 3, "port": "http", "ratio": None}}) == {}
    assert causes({"spec": {"size": 3, "port": 8080, "ratio": 0.5}}) == {}
    assert causes({"spec": {"size": 3, "mode": None}})["spec.mode"].endswith(
        'must be of type string: "null"')


def test_pruning_keeps_envelope_declared_and_preserved_fields() -> None:
    obj: dict[str, Any] = {
        "apiVersion": "x/v1", "kind": "W", "metadata": {"name": "a"}, "junk": 1,
        "spec": {"size": 1, "typo": 2, "ports": [{"name": "a", "bad": 1}],
                 "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {}, "any": 1},
                 "free": {"anything": {"deep": 1}}, "labels": {"k": "v"}}}
    removed = crdschema.prune(obj, SCHEMA)
    assert sorted(removed) == ["junk", "spec.ports[0].bad", "spec.typo"]
    assert obj["spec"]["template"]["any"] == 1 and obj["spec"]["free"]["anything"]
    assert obj["metadata"] == {"name": "a"} and obj["spec"]["labels"] == {"k": "v"}


def test_defaulting_fills_absent_fields_at_every_depth() -> None:
    obj: dict[str, Any] = {"spec": {"size": 1, "ports": [{"name": "a"}, {"name": "b",
                                                                        "port": 81}],
                                    "free": {}}}
    crdschema.default(obj, SCHEMA)
    assert obj["spec"]["mode"] == "safe"
    assert [p["port"] for p in obj["spec"]["ports"]] == [80, 81]
    assert obj["spec"]["free"] == {"known": 7}


def test_structural_schema_needs_types() -> None:
    bad = {"type": "object", "properties": {"spec": {"properties": {}},
                                            "list": {"type": "array"},
                                            "odd": {"type": "thing"}}}
    fields = {c.field for c in crdschema.structural_causes(bad, "s")}
    assert fields == {"s.properties[spec].type", "s.properties[list].items",
                      "s.properties[odd].type"}
    assert crdschema.structural_causes(SCHEMA, "s") == []


def test_printer_column_json_paths() -> None:
    obj: dict[str, Any] = {"status": {"conditions": [{"type": "A", "status": "False"},
                                                     {"type": "Ready", "status": "True"}]},
                           "spec": {"items": [1, 2]}}
    assert json_path(obj, '.status.conditions[?(@.type=="Ready")].status') == "True"
    assert json_path(obj, ".spec.items[1]") == 2
    assert json_path(obj, ".spec.missing.deeper") is None
    set_path(obj, ".spec.scale.replicas", 3)
    assert json_path(obj, ".spec.scale.replicas") == 3 and obj["spec"]["items"] == [1, 2]


# -- properties ---------------------------------------------------------------------------

objects = st.fixed_dictionaries({}, optional={
    "spec": st.dictionaries(st.sampled_from(["size", "name", "mode", "port", "ratio", "tags",
                                             "ports", "labels", "template", "free", "x"]),
                            anything, max_size=6) | anything,
    "status": anything, "junk": anything, "metadata": anything})


@settings(max_examples=300, deadline=None)
@given(objects)
def test_validate_never_raises_and_names_fields_under_the_object(obj: dict[str, Any]) -> None:
    for cause in crdschema.validate(obj, SCHEMA):
        assert cause.field.split(".")[0].split("[")[0] in ("spec", "status", "junk")
        assert cause.message


@settings(max_examples=300, deadline=None)
@given(objects)
def test_prune_then_default_is_idempotent(obj: dict[str, Any]) -> None:
    crdschema.prune(obj, SCHEMA)
    crdschema.default(obj, SCHEMA)
    once = copy.deepcopy(obj)
    assert crdschema.prune(obj, SCHEMA) == []
    crdschema.default(obj, SCHEMA)
    assert obj == once
    assert set(obj) <= {"spec", "status", "metadata"}
    if isinstance(obj.get("spec"), dict):
        assert set(obj["spec"]) <= set(SCHEMA["properties"]["spec"]["properties"])


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10), st.sampled_from(["fast", "safe"]), st.integers() | st.text(),
       st.lists(st.text(max_size=3), unique=True, max_size=3))
def test_objects_within_the_schema_are_valid(size: int, mode: str, port: int | str,
                                             tags: list[str]) -> None:
    obj = {"spec": {"size": size, "mode": mode, "port": port, "tags": tags}}
    assert crdschema.validate(obj, SCHEMA) == []


def test_versions_are_served_in_kubernetes_priority_order() -> None:
    names = ["v1alpha1", "foo", "v2beta1", "v1", "v11alpha2", "v1beta1", "v2", "v10beta3"]
    assert sorted(names, key=version_priority) == [
        "v2", "v1", "v10beta3", "v2beta1", "v1beta1", "v11alpha2", "v1alpha1", "foo"]
    crd = {"spec": {"group": "g.io", "scope": "Namespaced",
                    "names": {"plural": "ws", "kind": "W"},
                    "versions": [{"name": "v1beta1"}, {"name": "v1"},
                                 {"name": "v2", "served": False}]}}
    assert [r.version for r in resources_of(crd)] == ["v1", "v1beta1"]
