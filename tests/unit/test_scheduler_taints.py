"""Taint parsing and toleration matching (minikube_py/api/taints.py)."""

from __future__ import annotations

import pytest

from minikube_py.api.taints import parse_taint, tolerates, toleration_seconds
from minikube_py.api.types import Taint, Toleration

NOEXEC: Taint = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}


@pytest.mark.parametrize(
    ("text", "taint"),
    [
        ("node-role.kubernetes.io/control-plane:NoSchedule",
         {"key": "node-role.kubernetes.io/control-plane", "value": "", "effect": "NoSchedule"}),
        ("dedicated=db:NoExecute", {"key": "dedicated", "value": "db", "effect": "NoExecute"}),
    ],
)
def test_parse_taint(text: str, taint: Taint) -> None:
    assert parse_taint(text) == taint


@pytest.mark.parametrize("text", ["nokey", ":NoSchedule", "k:Sometimes", "=v:NoSchedule"])
def test_parse_taint_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="taint"):
        parse_taint(text)


@pytest.mark.parametrize(
    ("toleration", "taint", "expected"),
    [
        ({"operator": "Exists"}, {"key": "a", "value": "b", "effect": "NoSchedule"}, True),
        ({"key": "a", "operator": "Exists"}, {"key": "a", "value": "b", "effect": "NoExecute"},
         True),
        ({"key": "a", "value": "b"}, {"key": "a", "value": "b", "effect": "NoSchedule"}, True),
        ({"key": "a", "value": "c"}, {"key": "a", "value": "b", "effect": "NoSchedule"}, False),
        ({"key": "a", "operator": "Exists", "effect": "NoSchedule"},
         {"key": "a", "effect": "NoExecute"}, False),
        ({"key": "b", "operator": "Exists"}, {"key": "a", "effect": "NoSchedule"}, False),
    ],
)
def test_tolerates(toleration: Toleration, taint: Taint, expected: bool) -> None:
    assert tolerates(toleration, taint) is expected


@pytest.mark.parametrize(
    ("tolerations", "seconds"),
    [
        ([], 0.0),
        ([{"key": NOEXEC["key"], "operator": "Exists", "effect": "NoExecute"}], None),
        ([{"key": NOEXEC["key"], "operator": "Exists", "effect": "NoExecute",
           "tolerationSeconds": 300},
          {"operator": "Exists", "tolerationSeconds": 30}], 30.0),
    ],
)
def test_toleration_seconds(tolerations: list[Toleration], seconds: float | None) -> None:
    assert toleration_seconds([NOEXEC, {"key": "x", "effect": "NoSchedule"}], tolerations) == seconds
