"""Proportional scaling mid-rollout (Kubernetes' sync.go scale/GetProportion), table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.controllers import deployment_util as du
from minikube_py.controllers.deployment_scale import is_scaling_event, proportional_sizes
from tests.fixtures import builders


def deployment(replicas: int, surge: int = 3) -> dict[str, Any]:
    return builders.deployment("d", replicas=replicas, status={"replicas": 13}, strategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": 0}})


def rs(name: str, size: int, *, desired: int = 10, max_replicas: int = 13,
       available: int = 0) -> dict[str, Any]:
    return builders.replicaset(name, replicas=size, status={"availableReplicas": available},
                               annotations={du.DESIRED_REPLICAS: str(desired),
                                            du.MAX_REPLICAS: str(max_replicas)})


@pytest.mark.parametrize(("replicas", "olds", "new", "expected"), [
    pytest.param(20, [rs("old", 6)], rs("new", 7), {"new": 12, "old": 11},
                 id="scale up 10->20: both grow by their share, total 20+surge"),
    pytest.param(5, [rs("old", 6)], rs("new", 7), {"new": 4, "old": 4},
                 id="scale down 10->5: both shrink by their share, total 5+surge"),
    pytest.param(5, [rs("old", 6, max_replicas=0)], rs("new", 7), {"new": 4, "old": 4},
                 id="missing max-replicas falls back to status.replicas"),
    pytest.param(20, [rs("old", 0)], rs("new", 10), {"new": 20},
                 id="one active set takes the whole new size"),
    pytest.param(0, [rs("old", 6)], rs("new", 7), {"new": 0, "old": 0},
                 id="scale to zero empties every set"),
    pytest.param(10, [rs("a", 2), rs("b", 3)], rs("new", 10, available=10),
                 {"a": 0, "b": 0}, id="saturated new set: old sets go to zero"),
    pytest.param(4, [rs("a", 3, max_replicas=9), rs("b", 3, max_replicas=9)],
                 rs("new", 3, max_replicas=9), {"new": 3, "b": 2, "a": 2},
                 id="equal sizes shrinking: the older sets give first"),
])
def test_proportional_sizes(replicas: int, olds: list[dict[str, Any]], new: dict[str, Any],
                            expected: dict[str, int]) -> None:
    assert proportional_sizes(deployment(replicas), new, olds) == expected


@pytest.mark.parametrize(("replicas", "sets", "expected"), [
    pytest.param(10, [rs("a", 5), rs("b", 5)], False, id="sized for this replicas"),
    pytest.param(20, [rs("a", 5), rs("b", 5)], True, id="sized for another replicas"),
    pytest.param(20, [rs("a", 0), rs("b", 20, desired=20)], False,
                 id="only active sets count"),
])
def test_is_scaling_event(replicas: int, sets: list[dict[str, Any]], expected: bool) -> None:
    assert is_scaling_event(deployment(replicas), sets) is expected
