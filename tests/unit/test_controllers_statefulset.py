"""StatefulSet sync(key) on filled caches with the fake client, as Kubernetes'
stateful_set_control_test.go: ordered creation and removal, Parallel, stable
identities, failed pods replaced, RollingUpdate from the top down to the
partition, revisions in status, a claim per pod and template created before the pod."""

from __future__ import annotations

from typing import Any, cast

import pytest

from minikube_py.api.resources import PERSISTENTVOLUMECLAIMS
from minikube_py.client import ApiClient
from minikube_py.client.errors import Invalid
from minikube_py.controllers import history
from minikube_py.controllers.deployment_util import template_hash
from minikube_py.controllers.settings import ControllerManagerSettings
from minikube_py.controllers.statefulset import (
    POD_INDEX_LABEL,
    POD_NAME_LABEL,
    StatefulSetController,
)
from tests.fixtures import builders
from tests.fixtures.builders import controllerrevision as revision_of
from tests.fixtures.builders import ref
from tests.fixtures.caches import fill
from tests.fixtures.fake_client import FakeClient

KEY = "ns/db"


def sts(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("uid", "sts-uid")
    kwargs.setdefault("generation", 1)
    return builders.statefulset("db", "ns", **kwargs)


def member(owner: dict[str, Any], ordinal: int, *, ready: bool = True, phase: str = "Running",
           digest: str | None = None) -> dict[str, Any]:
    digest = digest if digest is not None else template_hash(owner["spec"]["template"])
    return builders.pod(f"db-{ordinal}", "ns", node="n1", phase=phase, ready=ready,
                        labels={"app": "db", history.HASH_LABEL: digest}, owners=[ref(owner)])


def controller(
        owner: dict[str, Any], pods: list[dict[str, Any]],
        revisions: list[dict[str, Any]] | None = None) -> tuple[StatefulSetController, FakeClient]:
    client = FakeClient()
    c = StatefulSetController(cast(ApiClient, client), ControllerManagerSettings())
    fill(c.sets, owner)
    fill(c.pods, *pods)
    fill(c.revisions, *(revisions if revisions is not None else [revision_of(owner)]))
    return c, client


def created(client: FakeClient) -> list[str]:
    return sorted(w.name for w in client.writes if w.verb == "create" and w.resource == "pods")


def deleted(client: FakeClient) -> list[str]:
    return sorted(w.name for w in client.writes if w.verb == "delete" and w.resource == "pods")


@pytest.mark.parametrize(("parallel", "replicas", "existing", "creates", "deletes"), [
    pytest.param(False, 3, [], ["db-0"], [], id="ordered-first"),
    pytest.param(False, 3, [(0, True)], ["db-1"], [], id="ordered-next-after-ready"),
    pytest.param(False, 3, [(0, False)], [], [], id="ordered-waits-for-ready"),
    pytest.param(True, 3, [(0, False)], ["db-1", "db-2"], [], id="parallel-all"),
    pytest.param(False, 1, [(0, True), (1, True), (2, True)], [], ["db-2"],
                 id="ordered-scale-down-top-first"),
    pytest.param(False, 1, [(0, True), (1, True), (2, False)], [], ["db-2"],
                 id="ordered-scale-down-unready-top"),
    pytest.param(False, 1, [(0, False), (1, True)], [], [], id="ordered-scale-down-waits"),
    pytest.param(True, 1, [(0, True), (1, True), (2, False)], [], ["db-1", "db-2"],
                 id="parallel-scale-down"),
])
async def test_ordered_and_parallel(parallel: bool, replicas: int,
                                    existing: list[tuple[int, bool]], creates: list[str],
                                    deletes: list[str]) -> None:
    owner = sts(replicas=replicas, parallel=parallel)
    c, client = controller(owner, [member(owner, o, ready=r) for o, r in existing])
    await c.sync(KEY)
    assert created(client) == creates
    assert deleted(client) == deletes


async def test_pods_get_stable_identities() -> None:
    owner = sts(replicas=1)
    c, client = controller(owner, [])
    await c.sync(KEY)
    pod = next(w.body for w in client.writes if w.verb == "create")
    assert pod["metadata"]["name"] == "db-0"
    assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == ("db-0", "db")
    labels = pod["metadata"]["labels"]
    assert labels[POD_NAME_LABEL] == "db-0" and labels[POD_INDEX_LABEL] == "0"
    assert labels[history.HASH_LABEL] == template_hash(owner["spec"]["template"])


async def test_failed_pod_is_replaced() -> None:
    owner = sts(replicas=1)
    c, client = controller(owner, [member(owner, 0, phase="Failed", ready=False)])
    await c.sync(KEY)
    assert deleted(client) == ["db-0"]


@pytest.mark.parametrize(("partition", "deletes"), [
    pytest.param(0, ["db-2"], id="top-first"),
    pytest.param(2, ["db-2"], id="partition-2"),
    pytest.param(3, [], id="partition-holds-all"),
])
async def test_rolling_update(partition: int, deletes: list[str]) -> None:
    old = sts(replicas=3, partition=partition)
    new = sts(replicas=3, partition=partition, image="busybox:2")
    old_hash = template_hash(old["spec"]["template"])
    pods = [member(old, o, digest=old_hash) for o in range(3)]
    old_rev = revision_of(old, 1)
    new["status"] = {"currentRevision": old_rev["metadata"]["name"]}
    c, client = controller(new, pods, [old_rev, revision_of(new, 2)])
    await c.sync(KEY)
    assert deleted(client) == deletes


async def test_recreated_pod_below_partition_keeps_the_current_revision() -> None:
    old = sts(replicas=2, partition=1)
    new = sts(replicas=2, partition=1, image="busybox:2")
    old_rev, new_rev = revision_of(old, 1), revision_of(new, 2)
    new["status"] = {"currentRevision": old_rev["metadata"]["name"]}
    c, client = controller(new, [member(new, 1)], [old_rev, new_rev])
    await c.sync(KEY)
    pod = next(w.body for w in client.writes if w.verb == "create")
    assert pod["metadata"]["name"] == "db-0"
    assert pod["metadata"]["labels"][history.HASH_LABEL] == history.hash_of(old_rev)
    assert pod["spec"]["containers"][0]["image"] == "busybox"


async def test_status_moves_current_revision_once_all_are_updated() -> None:
    old = sts(replicas=2)
    new = sts(replicas=2, image="busybox:2")
    old_rev, new_rev = revision_of(old, 1), revision_of(new, 2)
    new["status"] = {"currentRevision": old_rev["metadata"]["name"]}
    c, client = controller(new, [member(new, 0), member(new, 1)], [old_rev, new_rev])
    await c.sync(KEY)
    status = next(w.body["status"] for w in client.writes if w.resource == "statefulsets/status")
    assert status["currentRevision"] == status["updateRevision"] == new_rev["metadata"]["name"]
    assert (status["replicas"], status["readyReplicas"], status["updatedReplicas"],
            status["currentReplicas"]) == (2, 2, 2, 2)


async def test_claim_templates_create_a_claim_per_pod_before_it() -> None:
    template = {"metadata": {"name": "data", "labels": {"tier": "db"}},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "1Gi"}}}}
    owner = sts(replicas=1, spec={"volumeClaimTemplates": [template],
                                  "persistentVolumeClaimRetentionPolicy": {
                                      "whenDeleted": "Delete", "whenScaled": "Retain"}})
    c, client = controller(owner, [])
    await c.sync(KEY)
    writes = [w for w in client.writes if w.verb == "create"]
    assert [w.resource for w in writes[:2]] == ["persistentvolumeclaims", "pods"]
    claim = writes[0].body
    assert claim["metadata"]["name"] == "data-db-0"
    assert claim["metadata"]["labels"] == {"tier": "db", **owner["spec"]["selector"][
        "matchLabels"]}
    assert claim["metadata"]["ownerReferences"][0]["uid"] == "sts-uid"
    assert claim["spec"] == template["spec"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}} in \
        writes[1].body["spec"]["volumes"]


async def test_a_claim_that_cannot_be_created_holds_its_pod_back() -> None:
    template = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}
    owner = sts(replicas=1, spec={"volumeClaimTemplates": [template]})
    c, client = controller(owner, [])
    client.fail("create", PERSISTENTVOLUMECLAIMS, error=Invalid)
    await c.sync(KEY)
    assert created(client) == []
    assert any(e[1] == "FailedCreate" and "create Claim data-db-0 for Pod db-0" in e[2]
               for e in client.events())
