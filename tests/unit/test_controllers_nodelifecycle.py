"""Node lifecycle's pure rules: which taints a node gets from its Ready
condition, and which tolerations decide eviction."""

from __future__ import annotations

import pytest

from minikube_py.api.taints import toleration_seconds
from minikube_py.controllers.nodelifecycle import (
    NOT_READY,
    UNREACHABLE,
    desired_taints,
    effective_tolerations,
)

NOW = "2026-01-01T00:00:00Z"
USER_TAINT = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}


def node(ready: str | None, taints: list[dict] | None = None) -> dict:
    conditions = [] if ready is None else [{"type": "Ready", "status": ready}]
    return {"metadata": {"name": "n"}, "spec": {"taints": taints or []},
            "status": {"conditions": conditions}}


@pytest.mark.parametrize(
    ("ready", "existing", "expected"),
    [
        pytest.param("Unknown", [USER_TAINT], [USER_TAINT,
                     {"key": UNREACHABLE, "effect": "NoSchedule"},
                     {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": NOW}],
                     id="unknown-is-unreachable"),
        pytest.param("False", [], [{"key": NOT_READY, "effect": "NoSchedule"},
                                   {"key": NOT_READY, "effect": "NoExecute", "timeAdded": NOW}],
                     id="false-is-not-ready"),
        pytest.param("True", [USER_TAINT, {"key": UNREACHABLE, "effect": "NoExecute"}],
                     [USER_TAINT], id="back-to-ready-removes-ours-only"),
        pytest.param("False", [{"key": UNREACHABLE, "effect": "NoSchedule"}],
                     [{"key": NOT_READY, "effect": "NoSchedule"},
                      {"key": NOT_READY, "effect": "NoExecute", "timeAdded": NOW}],
                     id="unreachable-becomes-not-ready"),
        pytest.param(None, [], [], id="no-condition-yet"),
    ],
)
def test_desired_taints(ready: str | None, existing: list, expected: list) -> None:
    assert desired_taints(node(ready, existing), NOW) == expected


def test_desired_taints_keep_the_original_time_added() -> None:
    old = {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": "2025-01-01T00:00:00Z"}
    taints = desired_taints(node("Unknown", [old]), NOW)
    assert old in taints and len(taints) == 2


TAINTS = [{"key": UNREACHABLE, "effect": "NoExecute"}]


@pytest.mark.parametrize(
    ("tolerations", "seconds"),
    [
        pytest.param([], 7.0, id="none-get-the-eviction-timeout"),
        pytest.param([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                       "tolerationSeconds": 300}], 7.0, id="admission-default-is-replaced"),
        pytest.param([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                       "tolerationSeconds": 3600}], 3600.0, id="user-choice-kept"),
        pytest.param([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}], None,
                     id="forever"),
        pytest.param([{"operator": "Exists"}], None, id="tolerates-everything"),
    ],
)
def test_effective_tolerations(tolerations: list, seconds: float | None) -> None:
    assert toleration_seconds(TAINTS, effective_tolerations(tolerations, 7.0)) == seconds
