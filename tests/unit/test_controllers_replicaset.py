"""ReplicaSet sync with a fake client at our seam (ApiClient) and informer
caches filled directly, as Kubernetes' replica_set_test.go does."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.api.resources import PODS, REPLICASETS
from minikube_py.client.errors import Conflict, NotFound, ServerError
from minikube_py.controllers.owners import CannotAdopt
from minikube_py.controllers.replicaset import (
    ReplicaSetController,
    compute_status,
    seconds_until_available,
)
from tests.fixtures import builders
from tests.fixtures.builders import T0, ref, replicaset
from tests.fixtures.caches import fill
from tests.fixtures.controllers import start
from tests.fixtures.fake_client import FakeClient
from tests.fixtures.queues import recorded


def rs(replicas: int) -> dict[str, Any]:
    return replicaset("web", "ns", replicas=replicas, uid="rs-uid", generation=4,
                      template_labels={"tier": "fe"})


def pod(name: str, *, node: str = "n1", ready: bool = True, owned: bool = True,
        labels: dict[str, Any] | None = None) -> dict[str, Any]:
    return builders.pod(name, "ns", node=node or None, phase="Running" if node else "Pending",
                        ready=ready, labels=labels or {"app": "web", "tier": "fe"},
                        owners=[ref(rs(1))] if owned else ())


def controller(replicaset: dict[str, Any], pods: list[dict[str, Any]]
               ) -> tuple[ReplicaSetController, FakeClient]:
    return start(ReplicaSetController, replicaset, *pods)


async def test_creates_the_missing_and_never_twice_while_expecting() -> None:
    c, client = controller(rs(3), [pod("a")])
    await c.sync("ns/web")
    creates = [call for call in client.summary() if call[0] == "create"]
    assert len(creates) == 2 and all(name.startswith("web-") for _, _, name in creates)
    await c.sync("ns/web")  # the informer has not seen them yet
    assert len([call for call in client.summary() if call[0] == "create"]) == 2
    c.expectations.creation_observed("ns/web")
    c.expectations.creation_observed("ns/web")
    fill(c.pods, pod("b"), pod("c"))
    await c.sync("ns/web")
    assert len([call for call in client.summary() if call[0] == "create"]) == 2


@pytest.mark.parametrize(
    ("pods", "deleted"),
    [
        pytest.param([pod("ready"), pod("unscheduled", node=""), pod("not-ready", ready=False)],
                     {"unscheduled", "not-ready"}, id="unscheduled-and-not-ready-first"),
        pytest.param([pod("a"), pod("b"), pod("c")], None, id="two-of-equals"),
    ],
)
async def test_deletes_the_surplus_in_kubernetes_order(pods: list[dict[str, Any]],
                                                       deleted: set[str] | None) -> None:
    c, client = controller(rs(1), pods)
    await c.sync("ns/web")
    gone = {name for verb, _, name in client.summary() if verb == "delete"}
    assert len(gone) == 2
    if deleted is not None:
        assert gone == deleted


async def test_adopts_matching_orphans_and_releases_mismatches() -> None:
    c, client = controller(rs(2), [pod("orphan", owned=False),
                                   pod("stray", labels={"app": "other"}),
                                   pod("mine")])
    await c.sync("ns/web")
    patched = {name for verb, _, name in client.summary() if verb == "patch"}
    assert patched == {"orphan", "stray"}
    assert not [call for call in client.summary() if call[0] in ("create", "delete")]


@pytest.mark.parametrize(
    "live",
    [
        pytest.param(None, id="a replicaset deleted behind the cache adopts nothing"),
        pytest.param(replicaset("web", "ns", uid="uid-of-a-new-web"),
                     id="a replicaset replaced behind the cache adopts nothing"),
        pytest.param(replicaset("web", "ns", uid="rs-uid", deletion_timestamp=T0),
                     id="a replicaset just deleted adopts nothing"),
    ],
)
async def test_an_owner_that_is_gone_adopts_nothing(live: dict[str, Any] | None) -> None:
    c, client = controller(rs(2), [pod("orphan", owned=False)])
    client.objects.clear()
    if live is not None:
        client.put(REPLICASETS, live)
    with pytest.raises(CannotAdopt):
        await c.sync("ns/web")
    assert client.writes == []


async def test_deleting_replicaset_does_not_manage_pods() -> None:
    doomed = rs(3)
    doomed["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    c, client = controller(doomed, [])
    await c.sync("ns/web")
    assert not [call for call in client.summary() if call[0] == "create"]


def test_status_counts() -> None:
    partly_labelled = pod("p", labels={"app": "web"})
    status = compute_status(rs(3), [pod("a"), pod("b", ready=False), partly_labelled],
                            now=2e9)
    assert status == {"replicas": 3, "fullyLabeledReplicas": 2, "readyReplicas": 2,
                      "availableReplicas": 2, "observedGeneration": 4}
    slow = rs(3)
    slow["spec"]["minReadySeconds"] = 60
    just_ready = pod("j")
    just_ready["status"]["conditions"][0]["lastTransitionTime"] = "2026-01-01T00:00:00Z"
    at = 1767225600.0 + 30  # 30 s after it became ready
    assert compute_status(slow, [just_ready], at)["availableReplicas"] == 0
    assert compute_status(slow, [just_ready], at + 30)["availableReplicas"] == 1



def test_next_look_when_a_ready_pod_becomes_available() -> None:
    slow = rs(2)
    slow["spec"]["minReadySeconds"] = 60
    t0 = 1767225600.0  # the pods' lastTransitionTime
    assert seconds_until_available(slow, [pod("a"), pod("b", ready=False)], t0 + 20) == 40.5
    assert seconds_until_available(slow, [pod("a")], t0 + 61) is None  # already available
    assert seconds_until_available(rs(2), [pod("a")], t0) is None  # no minReadySeconds


async def test_created_pods_are_reported() -> None:
    c, client = controller(rs(2), [pod("a")])
    await c.sync("ns/web")
    [create] = [w for w in client.writes if w.verb == "create"]
    assert create.body["metadata"]["ownerReferences"] == [ref(rs(2))]
    assert client.events() == [("Normal", "SuccessfulCreate", f"Created pod: {create.name}")]


async def test_a_failed_create_is_reported_raised_and_not_expected_any_more() -> None:
    c, client = controller(rs(3), [pod("a")])
    client.fail("create", PODS, times=None)
    with pytest.raises(ServerError):
        await c.sync("ns/web")
    [(kind, reason, message)] = client.events()
    assert (kind, reason) == ("Warning", "FailedCreate")
    assert message.startswith("Error creating: 500 InternalError")
    assert c.expectations.satisfied("ns/web")  # the retry creates again


async def test_a_pod_gone_before_its_delete_is_not_an_error() -> None:
    c, client = controller(rs(1), [pod("a"), pod("b", ready=False)])
    client.fail("delete", PODS, "b", error=NotFound)
    await c.sync("ns/web")
    assert client.events() == []
    assert c.expectations.satisfied("ns/web")


async def test_a_conflicting_status_write_is_tried_again_shortly() -> None:
    c, client = controller(rs(1), [pod("a")])
    client.fail("update", REPLICASETS, "web", error=Conflict)
    await c.sync("ns/web")
    assert recorded(c.queue).delayed == [("ns/web", 0.1)]


async def test_a_deleted_replicaset_forgets_what_it_expected() -> None:
    c, client = controller(rs(3), [])
    await c.sync("ns/web")
    assert not c.expectations.satisfied("ns/web")
    c.replicasets.cache.remove("ns/web")
    await c.sync("ns/web")
    assert c.expectations.satisfied("ns/web")
    assert [verb for verb, _, _ in client.summary()].count("create") == 3


# -- what informer events queue -------------------------------------------------------------

def watching(*pods: dict[str, Any]) -> ReplicaSetController:
    c, _ = controller(rs(3), list(pods))
    fill(c.replicasets, replicaset("db", "ns", selector={"app": "db"}))
    return c


def test_an_owned_pod_appearing_is_an_expected_creation_seen() -> None:
    c = watching()
    c.expectations.expect("ns/web", adds=1)
    c.pods.apply("ADDED", pod("a"))
    assert recorded(c.queue).added == ["ns/web"] and c.expectations.satisfied("ns/web")


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(("DELETED", pod("a")), id="an owned pod deleted"),
        pytest.param(("MODIFIED", builders.pod(
            "a", "ns", labels={"app": "web", "tier": "fe"}, owners=[ref(rs(1))],
            deletion_timestamp="2026-01-01T00:00:00Z", resource_version="2")),
            id="an owned pod marked for deletion"),
    ],
)
def test_an_owned_pod_going_is_an_expected_deletion_seen(event: tuple[str, dict[str, Any]]) -> None:
    c = watching(pod("a"))
    c.expectations.expect("ns/web", deletes={"ns/a"})
    c.pods.apply(*event)
    assert recorded(c.queue).added == ["ns/web"] and c.expectations.satisfied("ns/web")


@pytest.mark.parametrize(
    ("event", "queued"),
    [
        pytest.param(("ADDED", pod("o", owned=False)), ["ns/web"],
                     id="an orphan queues the replica sets that may adopt it"),
        pytest.param(("ADDED", pod("o", owned=False, labels={"app": "none"})), [],
                     id="an orphan nobody selects queues nothing"),
        pytest.param(("MODIFIED", builders.pod("a", "ns", labels={"app": "db"},
                                               owners=[ref(rs(1))], resource_version="2")),
                     ["ns/web", "ns/db"],
                     id="an owned pod relabelled queues its owner and who may adopt it"),
    ],
)
def test_pod_events_queue_owners_and_adopters(event: tuple[str, dict[str, Any]],
                                              queued: list[str]) -> None:
    c = watching(pod("a"))
    c.pods.apply(*event)
    assert recorded(c.queue).added == queued
