"""Disruption controller sync(key) on filled caches, as Kubernetes'
disruption_test.go: expected/desired/healthy pods for minAvailable (count or
percentage) and maxUnavailable against the pods' controllers, disrupted pods
not counted until they expire, and the DisruptionAllowed condition."""

from __future__ import annotations

from typing import Any, cast

import pytest

from minikube_py.client import ApiClient
from minikube_py.controllers.disruption import DisruptionController
from minikube_py.controllers.pods import format_time
from minikube_py.controllers.settings import ControllerManagerSettings
from tests.fixtures import builders
from tests.fixtures.builders import ref
from tests.fixtures.caches import fill
from tests.fixtures.fake_client import FakeClient

NOW = 1_800_000_000.0
KEY = "ns/web-pdb"


def pdb(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    return builders.poddisruptionbudget("web-pdb", "ns", spec=spec, status=status,
                                        generation=2)


DEPLOY = builders.deployment("web", "ns", replicas=5)
RS = builders.replicaset("web-1", "ns", replicas=5, selector={"app": "web"},
                         owners=[ref(DEPLOY)])


def pods(ready: int, unready: int = 0) -> list[dict[str, Any]]:
    return [builders.pod(f"web-{i}", "ns", node="n1", ready=i < ready,
                         labels={"app": "web"}, owners=[ref(RS)])
            for i in range(ready + unready)]


async def sync(
        budget: dict[str, Any], members: list[dict[str, Any]]) -> tuple[dict[str, Any], FakeClient]:
    client = FakeClient()
    c = DisruptionController(cast(ApiClient, client), ControllerManagerSettings())
    c.clock = lambda: NOW
    fill(c.budgets, budget)
    fill(c.pods, *members)
    fill(c.owners["Deployment"], DEPLOY)
    fill(c.owners["ReplicaSet"], RS)
    await c.sync(KEY)
    writes = [w.body["status"] for w in client.writes
              if w.resource == "poddisruptionbudgets/status"]
    return (writes[-1] if writes else budget["status"]), client


@pytest.mark.parametrize(("spec", "ready", "unready", "expected"), [
    pytest.param({"minAvailable": 2}, 3, 0, (3, 2, 3, 1), id="min-available-count"),
    pytest.param({"minAvailable": 3}, 3, 1, (4, 3, 3, 0), id="min-available-unready"),
    pytest.param({"minAvailable": "50%"}, 4, 0, (5, 3, 4, 1), id="min-available-percent"),
    pytest.param({"maxUnavailable": 1}, 5, 0, (5, 4, 5, 1), id="max-unavailable"),
    pytest.param({"maxUnavailable": "40%"}, 4, 1, (5, 3, 4, 1), id="max-unavailable-percent"),
    pytest.param({}, 3, 0, (0, 0, 3, 0), id="neither"),
])
async def test_budget_arithmetic(spec: dict[str, Any], ready: int, unready: int,
                                 expected: tuple[int, int, int, int]) -> None:
    status, _ = await sync(pdb(spec), pods(ready, unready))
    assert (status["expectedPods"], status["desiredHealthy"], status["currentHealthy"],
            status["disruptionsAllowed"]) == expected
    assert status["observedGeneration"] == 2
    condition = status["conditions"][0]
    assert condition["type"] == "DisruptionAllowed"
    assert condition["reason"] == ("SufficientPods" if expected[3] else "InsufficientPods")


async def test_disrupted_pods_are_not_healthy_until_they_expire() -> None:
    fresh, stale = format_time(NOW - 10), format_time(NOW - 130)
    budget = pdb({"minAvailable": 1}, {"disruptedPods": {"web-0": fresh, "web-1": stale,
                                                         "gone": fresh}})
    status, _ = await sync(budget, pods(3))
    assert status["disruptedPods"] == {"web-0": fresh}
    assert status["currentHealthy"] == 2 and status["disruptionsAllowed"] == 1


async def test_no_pods_is_an_event() -> None:
    status, client = await sync(pdb({"minAvailable": 1}), [])
    assert status["disruptionsAllowed"] == 0
    assert ("Normal", "NoPods", "No matching pods found") in client.events()
