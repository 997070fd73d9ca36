"""DaemonSet sync(key) on filled caches with the fake client, as Kubernetes'
daemon_controller_test.go: which nodes get a pod (selector, affinity, taints,
the automatic tolerations, cordons), removed nodes, failed pods, the pinned
pod, ControllerRevisions, RollingUpdate within maxUnavailable / maxSurge,
OnDelete, and status counters."""

from __future__ import annotations

from typing import Any, cast

import pytest

from minikube_py.api.resources import CONTROLLERREVISIONS
from minikube_py.client import ApiClient
from minikube_py.controllers import daemonset_pods as dp
from minikube_py.controllers import history
from minikube_py.controllers.daemonset import DaemonSetController
from minikube_py.controllers.deployment_util import template_hash
from minikube_py.controllers.settings import ControllerManagerSettings
from tests.fixtures import builders
from tests.fixtures.builders import controllerrevision as revision_of
from tests.fixtures.builders import ref
from tests.fixtures.caches import fill
from tests.fixtures.fake_client import FakeClient

KEY = "ns/agent"


def ds(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("uid", "ds-uid")
    kwargs.setdefault("generation", 1)
    return builders.daemonset("agent", "ns", **kwargs)


def daemon_pod(owner: dict[str, Any], node: str, *, digest: str | None = None, ready: bool = True,
               phase: str = "Running", name: str | None = None) -> dict[str, Any]:
    digest = digest if digest is not None else template_hash(owner["spec"]["template"])
    return builders.pod(name or f"agent-{node}", "ns", node=node, phase=phase, ready=ready,
                        labels={"app": "agent", history.HASH_LABEL: digest},
                        owners=[ref(owner)])


def controller(
        owner: dict[str, Any], nodes: list[dict[str, Any]], pods: list[dict[str, Any]],
        revisions: list[dict[str, Any]] | None = None) -> tuple[DaemonSetController, FakeClient]:
    client = FakeClient()
    c = DaemonSetController(cast(ApiClient, client), ControllerManagerSettings())
    fill(c.daemonsets, owner)
    fill(c.nodes, *nodes)
    fill(c.pods, *pods)
    fill(c.revisions, *(revisions if revisions is not None else [revision_of(owner)]))
    return c, client


def created_for(client: FakeClient) -> list[str]:
    return sorted(dp.target_node(w.body) or "" for w in client.writes
                  if w.verb == "create" and w.resource == "pods")


def deleted(client: FakeClient) -> set[str]:
    return {w.name for w in client.writes if w.verb == "delete" and w.resource == "pods"}


@pytest.mark.parametrize(("owner", "nodes", "expected"), [
    pytest.param(ds(), [builders.node("a"), builders.node("b")], ["a", "b"], id="every-node"),
    pytest.param(ds(node_selector={"disk": "ssd"}),
                 [builders.node("a", labels={"disk": "ssd"}), builders.node("b")], ["a"],
                 id="node-selector"),
    pytest.param(ds(), [builders.node("a", taints=[{"key": "gpu", "effect": "NoSchedule"}]),
                        builders.node("b")], ["b"], id="untolerated-taint"),
    pytest.param(ds(), [builders.node("a", unschedulable=True),
                        builders.node("b", taints=[{"key": "node.kubernetes.io/not-ready",
                                                    "effect": "NoExecute"}])], ["a", "b"],
                 id="cordoned-and-not-ready-tolerated"),
    pytest.param(ds(spec={"template": {"metadata": {"labels": {"app": "agent"}}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["z1"]}]}]}}}}}}),
        [builders.node("a", labels={"zone": "z1"}), builders.node("b", labels={"zone": "z2"})],
        ["a"], id="node-affinity"),
])
async def test_places_one_pod_per_eligible_node(owner: dict[str, Any], nodes: list[dict[str, Any]],
                                                expected: list[str]) -> None:
    c, client = controller(owner, nodes, [])
    await c.sync(KEY)
    assert created_for(client) == expected


async def test_the_pod_is_pinned_by_affinity_and_tolerates_node_trouble() -> None:
    owner = ds()
    c, client = controller(owner, [builders.node("a")], [])
    await c.sync(KEY)
    pod = next(w.body for w in client.writes if w.verb == "create" and w.resource == "pods")
    assert "nodeName" not in pod["spec"]
    assert pod["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"] == {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["a"]}]}]}
    keys = {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"]}
    assert {("node.kubernetes.io/not-ready", "NoExecute"),
            ("node.kubernetes.io/unreachable", "NoExecute"),
            ("node.kubernetes.io/disk-pressure", "NoSchedule"),
            ("node.kubernetes.io/memory-pressure", "NoSchedule"),
            ("node.kubernetes.io/pid-pressure", "NoSchedule"),
            ("node.kubernetes.io/unschedulable", "NoSchedule")} == keys
    assert pod["metadata"]["labels"][history.HASH_LABEL] == \
        template_hash(owner["spec"]["template"])


async def test_pods_leave_removed_nodes_noexecute_taints_and_failures() -> None:
    owner = ds()
    nodes = [builders.node("tainted", taints=[{"key": "evict", "effect": "NoExecute"}]),
             builders.node("ok"), builders.node("broken")]
    pods = [daemon_pod(owner, "gone"), daemon_pod(owner, "tainted"), daemon_pod(owner, "ok"),
            daemon_pod(owner, "broken", phase="Failed", ready=False)]
    c, client = controller(owner, nodes, pods)
    await c.sync(KEY)
    assert deleted(client) == {"agent-gone", "agent-tainted", "agent-broken"}
    assert created_for(client) == ["broken"]


async def test_a_first_sync_records_revision_one() -> None:
    owner = ds()
    c, client = controller(owner, [], [], revisions=[])
    await c.sync(KEY)
    made = client.stored(CONTROLLERREVISIONS, revision_of(owner)["metadata"]["name"], "ns")
    assert made is not None and made["revision"] == 1
    assert made["data"]["spec"]["template"]["$patch"] == "replace"
    assert made["metadata"]["labels"][history.HASH_LABEL]


def updated(owner: dict[str, Any]) -> dict[str, Any]:
    new = ds(strategy=owner["spec"]["updateStrategy"], image="busybox:2")
    new["metadata"]["generation"] = 2
    return new


@pytest.mark.parametrize(("strategy", "ready_new", "deletes", "creates"), [
    pytest.param({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1,
                                                             "maxSurge": 0}},
                 False, 1, [], id="max-unavailable-1"),
    pytest.param({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "50%",
                                                             "maxSurge": 0}},
                 False, 2, [], id="max-unavailable-50%"),
    pytest.param({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0,
                                                             "maxSurge": 1}},
                 False, 0, ["n0"], id="surge-creates-first"),
    pytest.param({"type": "OnDelete"}, False, 0, [], id="on-delete"),
])
async def test_rolling_update(strategy: dict[str, Any], ready_new: bool, deletes: int,
                              creates: list[str]) -> None:
    old = ds(strategy=strategy)
    new = updated(old)
    old_hash = template_hash(old["spec"]["template"])
    nodes = [builders.node(f"n{i}") for i in range(4)]
    pods = [daemon_pod(old, f"n{i}", digest=old_hash) for i in range(4)]
    c, client = controller(new, nodes, pods, revisions=[revision_of(old)])
    await c.sync(KEY)
    assert len(deleted(client)) == deletes
    assert created_for(client) == creates


async def test_surge_deletes_the_old_pod_once_the_new_is_available() -> None:
    old = ds(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0,
                                                                  "maxSurge": 1}})
    new = updated(old)
    old_hash = template_hash(old["spec"]["template"])
    pods = [daemon_pod(old, "n0", digest=old_hash, name="old"),
            daemon_pod(new, "n0", name="new")]
    c, client = controller(new, [builders.node("n0")], pods, revisions=[revision_of(old)])
    await c.sync(KEY)
    assert deleted(client) == {"old"}


async def test_rollback_renumbers_the_old_revision() -> None:
    owner = ds()
    older = revision_of(owner, 1)
    newer = revision_of(ds(image="busybox:2"), 2)
    c, client = controller(owner, [], [], revisions=[older, newer])
    await c.sync(KEY)
    writes = [w for w in client.writes if w.resource == "controllerrevisions"]
    assert [(w.verb, w.name, w.body["revision"]) for w in writes] == [
        ("update", older["metadata"]["name"], 3)]


async def test_status_counts_nodes() -> None:
    owner = ds(node_selector={"role": "worker"})
    nodes = [builders.node("w1", labels={"role": "worker"}),
             builders.node("w2", labels={"role": "worker"}),
             builders.node("w3", labels={"role": "worker"}), builders.node("other")]
    old_hash = "oldhash"
    pods = [daemon_pod(owner, "w1"), daemon_pod(owner, "w2", ready=False),
            daemon_pod(owner, "w3", digest=old_hash), daemon_pod(owner, "other")]
    c, client = controller(owner, nodes, pods)
    c.expectations.expect(KEY, adds=1)  # hold placement: status only
    await c.sync(KEY)
    status = next(w.body["status"] for w in client.writes if w.resource == "daemonsets/status")
    assert status == {"desiredNumberScheduled": 3, "currentNumberScheduled": 3,
                      "numberMisscheduled": 1, "numberReady": 2, "numberAvailable": 2,
                      "updatedNumberScheduled": 2, "numberUnavailable": 1,
                      "observedGeneration": 1}


async def test_placements_and_surges_of_one_sync_are_all_expected() -> None:
    """A new node's pod and a surge pod made in one sync: until the informer has seen
    both, a second sync creates nothing."""
    old = ds(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0,
                                                                  "maxSurge": 1}})
    new = updated(old)
    old_hash = template_hash(old["spec"]["template"])
    c, client = controller(new, [builders.node("n0"), builders.node("fresh")],
                           [daemon_pod(old, "n0", digest=old_hash)],
                           revisions=[revision_of(old)])
    await c.sync(KEY)
    assert created_for(client) == ["fresh", "n0"]
    c.expectations.creation_observed(KEY)  # the informer saw one of the two
    await c.sync(KEY)
    assert created_for(client) == ["fresh", "n0"]
