"""Strategic merge patch against upstream's own table of cases.

The cases in data/strategic_merge_cases.yaml come from apimachinery's
strategicpatch tests, which apply each patch to a `MergeItem` document; the
schema below declares MergeItem's struct tags the way patchmeta declares ours.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from minikube_py.api.strategic import PatchError, strategic_merge

CASES = yaml.safe_load((Path(__file__).parent / "data" / "strategic_merge_cases.yaml").read_text())


class MergeItemSchema:
    """patch_test.go's MergeItem: mergingList by name, mergingIntList merged, the rest replaced."""

    _LISTS: ClassVar[dict[str, tuple[str, str]]] = {"mergingList": ("merge", "name"), "mergingIntList": ("merge", ""),
              "retainKeysMergingList": ("merge", "name"), "mergeItemPtr": ("merge", "name")}

    def child(self, key: str) -> MergeItemSchema:
        return _OPAQUE if key in ("simpleMap", "replacingItem", "jsonItem") else self

    def list_rule(self, key: str) -> tuple[str, str]:
        return self._LISTS.get(key, ("replace", ""))

    def replaces_map(self, key: str) -> bool:
        return key == "replacingItem"


class _Opaque(MergeItemSchema):
    _LISTS: ClassVar[dict[str, tuple[str, str]]] = {}


_OPAQUE = _Opaque()


def _canonical(value: Any) -> Any:
    """Lists sorted, for cases upstream compares after sorting."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((_canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    return value


@pytest.mark.parametrize("case", [pytest.param(c, id=c["description"]) for c in CASES])
def test_upstream_case(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(PatchError, match=case["error"]):
            strategic_merge(case["original"], case["patch"], MergeItemSchema())
        return
    result = strategic_merge(case["original"], case["patch"], MergeItemSchema())
    if case["ordered"]:
        assert result == case["expected"]
    else:
        assert _canonical(result) == _canonical(case["expected"])


def test_inputs_are_not_modified() -> None:
    original = {"mergingList": [{"name": "a", "value": "1"}]}
    patch = {"mergingList": [{"name": "a", "value": "2"}, {"name": "b"}]}
    before = json.dumps([original, patch])
    strategic_merge(original, patch, MergeItemSchema())
    assert json.dumps([original, patch]) == before
