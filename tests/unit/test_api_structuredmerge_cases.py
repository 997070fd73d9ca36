"""structured-merge-diff's own merge tables, run against our Updater.

data/smd_merge_cases.json holds the cases of kubernetes-sigs/structured-merge-diff
merge/*_test.go (Apache-2.0; commit in the file): the schema of each table, a sequence
of applies, forced applies and updates by named managers, and the object, ownership
and conflicts they must end with. The cases that need version conversion are left out
(our versions differ in apiVersion only). SMD's YAML schemas are read by `SmdNode`
below, a test-only `TypeNode`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from minikube_py.api import applytypes
from minikube_py.api.applytypes import ATOMIC, DEDUCED, MAP, SET, TypeNode
from minikube_py.api.fieldpath import FieldSet, PathElement, key, value
from minikube_py.api.structuredmerge import Conflicts, Managers, apply, update
from minikube_py.api.typedwalk import TypedError, same

DATA = json.loads((Path(__file__).parent / "data" / "smd_merge_cases.json").read_text())
# Maps whose entries are null: SMD keeps `key: null` in the object, we drop it (as
# kube-apiserver's typed conversion does), so later steps see a different live object.
NULL_ENTRIES = {f"multiple_appliers/{test}/{case}" for test, case in (
    ("TestMultipleAppliersNestedType", "multiple_appliers_recursive_map"),
    ("TestMultipleAppliersDeducedType", "multiple_appliers_recursive_map_deduced"))}


class SmdNode(TypeNode):
    """A type of an SMD schema (`types: - name: ... map/list/scalar`)."""

    def __init__(self, types: dict[str, Any], atom: dict[str, Any]) -> None:
        self.types, self.atom = types, atom

    @classmethod
    def ref(cls, types: dict[str, Any], ref: dict[str, Any]) -> TypeNode:
        named = ref.get("namedType")
        if named is not None:
            if named.startswith("__untyped"):
                return DEDUCED
            return cls(types, types[named])
        if "untyped" in ref:
            return DEDUCED
        return cls(types, ref)

    def _fields(self) -> dict[str, Any]:
        return {f["name"]: f for f in (self.atom.get("map") or {}).get("fields") or []}

    def field(self, name: str) -> TypeNode:
        found = self._fields().get(name)
        if found is not None:
            return self.ref(self.types, found["type"])
        element = (self.atom.get("map") or {}).get("elementType")
        return self.ref(self.types, element) if element else DEDUCED

    def has_field(self, name: str) -> bool:
        return name in self._fields()

    def item(self) -> TypeNode:
        element = (self.atom.get("list") or {}).get("elementType")
        return self.ref(self.types, element) if element else DEDUCED

    def map_atomic(self) -> bool:
        return (self.atom.get("map") or {}).get("elementRelationship") == "atomic"

    def list_type(self) -> str:
        spec = self.atom.get("list") or {}
        if spec.get("elementRelationship") != "associative":
            return ATOMIC
        return MAP if spec.get("keys") else SET

    def keys(self) -> dict[str, Any]:
        names = (self.atom.get("list") or {}).get("keys") or []
        item = self.item()
        fields = item._fields() if isinstance(item, SmdNode) else {}
        return {n: (fields.get(n) or {}).get("default") for n in names}


def root(case: dict[str, Any]) -> TypeNode:
    if case["schema"] is None:
        return applytypes.DEDUCED
    types = {t["name"]: t for t in yaml.safe_load(case["schema"])["types"]}
    return SmdNode(types, types[case["root"]])


def element(raw: list[Any]) -> PathElement:
    kind, payload = raw
    if kind == "k":
        return key(payload)
    if kind == "v":
        return value(payload)
    return (kind, payload)


def fieldset(paths: list[list[list[Any]]]) -> FieldSet:
    return FieldSet.of(*(tuple(element(pe) for pe in path) for path in paths))


def load(text: str) -> dict[str, Any]:
    loaded = yaml.safe_load(text.replace("\t", "  ")) if text.strip() else None
    return loaded if isinstance(loaded, dict) else {}


def without_nulls(v: Any) -> Any:
    """SMD keeps a field set to null in the object; we drop it, as kube-apiserver's
    conversion to the typed object does before anything is stored."""
    if isinstance(v, dict):
        kept = {k: without_nulls(x) for k, x in v.items() if x is not None}
        return kept
    return v


def run(case: dict[str, Any]) -> tuple[dict[str, Any], Managers]:
    node = root(case)
    live: dict[str, Any] = {}
    managers: Managers = {}
    for step, op in enumerate(case["ops"]):
        config = load(op["object"])
        if op["op"] == "update":
            managers = update(live, config, node, managers, op["manager"], "v1")
            live = config
            continue
        try:
            merged, managers = apply(live, config, node, managers, op["manager"], "v1",
                                     force=op["op"] == "force")
        except Conflicts as e:
            got = {(c.manager, c.path) for c in e.conflicts}
            want = {(m, tuple(element(pe) for pe in p)) for m, p in op.get("conflicts") or []}
            assert got == want, f"step {step}: conflicts {got} != {want}"
            continue
        assert not op.get("conflicts"), f"step {step}: expected conflicts {op['conflicts']}"
        live = merged if merged is not None else live
    return live, managers


@pytest.mark.parametrize("case", [
    pytest.param(c, id=c["name"], marks=[pytest.mark.skip(reason="null map entries")]
                 if c["name"] in NULL_ENTRIES else []) for c in DATA["cases"]])
def test_smd_case(case: dict[str, Any]) -> None:
    if case.get("error"):
        with pytest.raises(TypedError):
            run(case)
        return
    live, managers = run(case)
    if case.get("object", "").strip():
        expected = without_nulls(load(case["object"]))
        assert same(live, expected), f"{live} != {expected}"
    if "managed" in case:
        got = {name: owned.fields for name, owned in managers.items()}
        want = {name: fieldset(paths) for name, paths in case["managed"].items()}
        assert got == want
