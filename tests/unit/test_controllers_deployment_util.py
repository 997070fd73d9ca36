"""Deployment and ReplicaSet arithmetic, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.controllers import deployment_util as du
from minikube_py.controllers.pods import is_available, pods_to_delete
from tests.fixtures import builders


def deployment(replicas: int, surge: object = None, unavailable: object = None
               ) -> dict[str, Any]:
    rolling = {k: v for k, v in (("maxSurge", surge), ("maxUnavailable", unavailable))
               if v is not None}
    return builders.deployment("d", replicas=replicas, generation=3,
                               strategy={"type": "RollingUpdate", "rollingUpdate": rolling})


def rs(replicas: int, available: int = 0, ready: int | None = None) -> dict[str, Any]:
    return builders.replicaset("rs", replicas=replicas, status={
        "replicas": replicas, "availableReplicas": available,
        "readyReplicas": available if ready is None else ready})


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "expected"),
    [
        pytest.param(10, None, None, (3, 2), id="defaults-25%-round-up-and-down"),
        pytest.param(10, 2, 1, (2, 1), id="numbers"),
        pytest.param(10, "0%", "0%", (0, 1), id="both-zero-means-one-unavailable"),
        pytest.param(3, "50%", "50%", (2, 1), id="percent-rounding"),
        pytest.param(1, 0, 5, (0, 1), id="unavailable-capped-at-replicas"),
    ],
)
def test_fenceposts(replicas: int, surge: object, unavailable: object,
                    expected: tuple[int, int]) -> None:
    assert du.fenceposts(deployment(replicas, surge, unavailable)) == expected


@pytest.mark.parametrize(
    ("old", "new", "surge", "expected"),
    [
        pytest.param(10, 0, 3, 3, id="start-with-surge"),
        pytest.param(10, 3, 3, 3, id="at-surge-limit"),
        pytest.param(7, 3, 3, 6, id="room-after-old-scaled-down"),
        pytest.param(0, 9, 3, 10, id="capped-at-replicas"),
        pytest.param(0, 12, 3, 10, id="scaled-down-to-replicas"),
    ],
)
def test_new_rs_target(old: int, new: int, surge: int, expected: int) -> None:
    new_rs = rs(new)
    assert du.new_rs_target(deployment(10, surge, 1), [rs(old), new_rs], new_rs) == expected


@pytest.mark.parametrize(
    ("old", "old_available", "new", "new_available", "budget"),
    [
        pytest.param(10, 10, 3, 0, 1, id="new-pods-not-available-yet"),
        pytest.param(10, 10, 3, 3, 4, id="new-pods-available"),
        pytest.param(10, 10, 0, 0, 1, id="max-unavailable-first"),
    ],
)
def test_old_scale_down_budget(old: int, old_available: int, new: int, new_available: int,
                               budget: int) -> None:
    old_rs, new_rs = rs(old, old_available), rs(new, new_available)
    d = deployment(10, 3, 1)
    assert du.old_scale_down_budget(d, [old_rs, new_rs], new_rs) == budget


def test_available_budget_does_not_count_pods_an_rs_is_scaling_away() -> None:
    d = deployment(10, 3, 2)
    stale_old = rs(8, available=10)  # scaled 10 -> 8; its status not written yet
    assert du.available_scale_down_budget(d, [stale_old, rs(3, available=0)]) == 0
    assert du.available_scale_down_budget(d, [rs(8, available=8), rs(3, available=2)]) == 2


def test_template_hash_is_stable_vowel_free_and_collision_aware() -> None:
    template = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c"}]}}
    h = du.template_hash(template)
    assert h == du.template_hash({"spec": template["spec"], "metadata": template["metadata"]})
    assert h != du.template_hash(template, 1)
    assert not set(h) & set("aeiou") and 1 <= len(h) <= 10
    labelled = {"metadata": {"labels": {"app": "x", du.HASH_LABEL: h}},
                "spec": template["spec"]}
    assert du.equal_ignore_hash(template, labelled)


def test_max_revision_and_status() -> None:
    a, b = rs(0), rs(3, 2)
    a["metadata"]["annotations"] = {du.REVISION: "4"}
    b["metadata"]["annotations"] = {du.REVISION: "x"}
    assert du.max_revision([a, b]) == 4
    d = deployment(3)
    status = du.calculate_status(d, [a, b], b)
    assert status == {"observedGeneration": 3, "replicas": 3, "updatedReplicas": 3,
                      "readyReplicas": 2, "availableReplicas": 2, "unavailableReplicas": 1}
    assert not du.is_complete(d, status)
    assert du.is_complete(d, {**status, "availableReplicas": 3})


def pod(name: str, *, node: str = "n", phase: str = "Running", ready: bool = True,
        ready_at: str = "2026-01-01T00:00:00Z", created: str = "2026-01-01T00:00:00Z",
        restarts: int = 0) -> dict[str, Any]:
    return builders.pod(name, node=node, phase=phase, ready=ready, ready_since=ready_at,
                        restarts=restarts, creation_timestamp=created)


@pytest.mark.parametrize(
    ("pods", "first"),
    [
        pytest.param([pod("a"), pod("b", node="")], "b", id="unscheduled"),
        pytest.param([pod("a"), pod("b", phase="Pending")], "b", id="pending"),
        pytest.param([pod("a"), pod("b", ready=False)], "b", id="not-ready"),
        pytest.param([pod("a"), pod("b", ready_at="2026-01-01T00:01:00Z")], "b",
                     id="ready-for-less-time"),
        pytest.param([pod("a"), pod("b", restarts=3)], "b", id="restarts"),
        pytest.param([pod("a"), pod("b", created="2026-01-02T00:00:00Z")], "b", id="newest"),
    ],
)
def test_pods_to_delete_order(pods: list[dict[str, Any]], first: str) -> None:
    assert pods_to_delete(pods, 1)[0]["metadata"]["name"] == first
    assert pods_to_delete(list(reversed(pods)), 1)[0]["metadata"]["name"] == first


def test_available_needs_min_ready_seconds() -> None:
    p = pod("a", ready_at="2026-01-01T00:00:00Z")
    t0 = 1767225600.0  # 2026-01-01T00:00:00Z
    assert is_available(p, 0, t0)
    assert not is_available(p, 10, t0 + 9)
    assert is_available(p, 10, t0 + 10)
    assert not is_available(pod("b", ready=False), 0, t0)
