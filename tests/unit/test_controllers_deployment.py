"""Deployment controller: what sync(key) writes for a Deployment and its
ReplicaSets: a new ReplicaSet per template, rolling and recreate steps within
maxSurge/maxUnavailable, proportional scaling, pause, rollback, history
clean-up, hash collisions and status (Kubernetes' deployment_controller_test.go,
sync_test.go, rolling_test.go and recreate_test.go cases, over our fake
client)."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.api.meta import now_rfc3339
from minikube_py.api.resources import DEPLOYMENTS, REPLICASETS
from minikube_py.client.errors import AlreadyExists, Conflict
from minikube_py.controllers import deployment_util as du
from minikube_py.controllers.deployment import ROLLBACK_ANNOTATION, DeploymentController
from minikube_py.controllers.owners import CannotAdopt
from tests.fixtures.builders import T0, deployment, ref, replicaset
from tests.fixtures.controllers import start
from tests.fixtures.fake_client import FakeClient, Write
from tests.fixtures.queues import recorded

JsonDict = dict[str, Any]
ROLLING = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def web(replicas: int = 3, image: str = "web:2", **kw: Any) -> JsonDict:
    kw.setdefault("strategy", ROLLING)
    return deployment("web", "ns", replicas=replicas, image=image, **kw)


def rs_of(d: JsonDict, name: str, replicas: int, *, image: str, revision: int,
          available: int | None = None, created: str = T0, owned: bool = True,
          desired: int | None = None) -> JsonDict:
    """A ReplicaSet of `d` running `image`, `available` of its pods available."""
    ready = replicas if available is None else available
    annotations = {du.REVISION: str(revision)}
    if desired is not None:
        annotations[du.DESIRED_REPLICAS] = str(desired)
    return replicaset(name, "ns", replicas=replicas, image=image, selector={"app": "web"},
                      template_labels={du.HASH_LABEL: name.rpartition("-")[2]},
                      owners=[ref(d)] if owned else (), annotations=annotations,
                      creation_timestamp=created,
                      status={"replicas": replicas, "readyReplicas": ready,
                              "availableReplicas": ready})


def controller(*objs: JsonDict) -> tuple[DeploymentController, FakeClient]:
    return start(DeploymentController, *objs)


def of(client: FakeClient, verb: str, resource: str) -> list[Write]:
    return [w for w in client.writes if (w.verb, w.resource) == (verb, resource)]


def scaled(client: FakeClient) -> dict[str, int]:
    """ReplicaSet name -> the size it was patched to."""
    return {w.name: w.body["spec"]["replicas"] for w in of(client, "patch", "replicasets")
            if "replicas" in (w.body.get("spec") or {})}


# -- a new template -------------------------------------------------------------------------

async def test_a_new_deployment_gets_a_replicaset_of_its_whole_size() -> None:
    d = web(3)
    c, client = controller(d)
    await c.sync("ns/web")
    [create] = of(client, "create", "replicasets")
    rs = create.body
    pod_hash = rs["spec"]["template"]["metadata"]["labels"][du.HASH_LABEL]
    assert create.name == f"web-{pod_hash}"
    assert rs["metadata"]["labels"] == {"app": "web", du.HASH_LABEL: pod_hash}
    assert rs["spec"]["selector"] == {"matchLabels": {"app": "web", du.HASH_LABEL: pod_hash}}
    assert rs["spec"]["replicas"] == 3
    assert rs["metadata"]["ownerReferences"] == [ref(d)]
    assert rs["metadata"]["annotations"] == {du.REVISION: "1", du.DESIRED_REPLICAS: "3",
                                             du.MAX_REPLICAS: "4"}
    assert client.events() == [("Normal", "ScalingReplicaSet",
                                f"Scaled up replica set {create.name} to 3 from 0")]
    [annotate] = of(client, "patch", "deployments")
    assert annotate.body == {"metadata": {"annotations": {du.REVISION: "1"}}}
    [status] = of(client, "update", "deployments/status")
    progressing = [cond for cond in status.body["status"]["conditions"]
                   if cond["type"] == "Progressing"]
    assert [(cond["status"], cond["reason"]) for cond in progressing] == [
        ("True", "NewReplicaSetCreated")]


OLD = rs_of(web(), "web-old", 3, image="web:1", revision=1)


@pytest.mark.parametrize(
    ("strategy", "new_size", "old_size"),
    [
        pytest.param(ROLLING, 1, None,
                     id="a rollout with maxUnavailable 0 only surges at first"),
        pytest.param({"type": "RollingUpdate",
                      "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}, 1, 2,
                     id="a rollout with maxUnavailable 1 also takes one old pod away"),
        pytest.param({"type": "RollingUpdate",
                      "rollingUpdate": {"maxSurge": "100%", "maxUnavailable": 0}}, 3, None,
                     id="a surge of 100% starts the whole new set at once"),
    ],
)
async def test_a_template_change_starts_a_rolling_update(strategy: JsonDict, new_size: int,
                                                         old_size: int | None) -> None:
    c, client = controller(web(3, strategy=strategy), OLD)
    await c.sync("ns/web")
    [create] = of(client, "create", "replicasets")
    assert create.body["spec"]["replicas"] == new_size
    assert create.body["metadata"]["annotations"][du.REVISION] == "2"
    assert scaled(client) == ({} if old_size is None else {"web-old": old_size})


async def test_new_pods_available_let_old_ones_go() -> None:
    d = web(3)
    new = rs_of(d, "web-new", 1, image="web:2", revision=2, available=1)
    c, client = controller(d, OLD, new)
    await c.sync("ns/web")
    assert of(client, "create", "replicasets") == []
    assert scaled(client) == {"web-old": 2}  # one available new pod: one old may go


@pytest.mark.parametrize(
    ("new_size", "sizes"),
    [
        pytest.param(2, {"web-new": 3},
                     id="the new set grows into the room the old ones left, "
                        "the old pod stays until the new ones are available"),
        pytest.param(3, {"web-old": 0}, id="the last old pod goes once the new ones are available"),
    ],
)
async def test_a_rollout_goes_on(new_size: int, sizes: dict[str, int]) -> None:
    d = web(3)
    old = rs_of(d, "web-old", 1, image="web:1", revision=1)
    c, client = controller(d, old, rs_of(d, "web-new", new_size, image="web:2", revision=2))
    await c.sync("ns/web")
    assert scaled(client) == sizes


async def test_a_finished_rollout_reports_the_new_set_available() -> None:
    d = web(3, generation=2)
    new = rs_of(d, "web-new", 3, image="web:2", revision=2)
    c, client = controller(d, rs_of(d, "web-old", 0, image="web:1", revision=1), new)
    await c.sync("ns/web")
    [status] = of(client, "update", "deployments/status")
    body = status.body["status"]
    assert {k: body[k] for k in ("observedGeneration", "replicas", "updatedReplicas",
                                 "readyReplicas", "availableReplicas",
                                 "unavailableReplicas")} == {
        "observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
        "availableReplicas": 3, "unavailableReplicas": 0}
    reasons = {cond["type"]: cond["reason"] for cond in body["conditions"]}
    assert reasons == {"Available": "MinimumReplicasAvailable",
                       "Progressing": "NewReplicaSetAvailable"}


def stuck(last_update: str) -> tuple[JsonDict, JsonDict, JsonDict]:
    """A rollout whose new pod never became available, its status as last written."""
    d = web(3, status={
        "observedGeneration": 1, "replicas": 4, "updatedReplicas": 1, "readyReplicas": 3,
        "availableReplicas": 3, "unavailableReplicas": 0,
        "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                        "message": 'ReplicaSet "web-new" is progressing.',
                        "lastUpdateTime": last_update, "lastTransitionTime": last_update}]},
        spec={"progressDeadlineSeconds": 600})
    return (d, rs_of(d, "web-old", 3, image="web:1", revision=1),
            rs_of(d, "web-new", 1, image="web:2", revision=2, available=0))


async def test_a_rollout_without_progress_past_its_deadline_is_reported() -> None:
    c, client = controller(*stuck("2020-01-01T00:00:00Z"))
    await c.sync("ns/web")
    assert scaled(client) == {}
    [status] = of(client, "update", "deployments/status")
    [progressing] = [cond for cond in status.body["status"]["conditions"]
                     if cond["type"] == "Progressing"]
    assert (progressing["status"], progressing["reason"], progressing["message"]) == (
        "False", "ProgressDeadlineExceeded", 'ReplicaSet "web-new" has timed out progressing.')


async def test_a_rollout_in_progress_is_looked_at_again_at_its_deadline() -> None:
    c, _ = controller(*stuck(now_rfc3339()))
    await c.sync("ns/web")
    [(key, seconds)] = recorded(c.queue).delayed
    assert key == "ns/web" and 595 < seconds <= 601


# -- Recreate -------------------------------------------------------------------------------

RECREATE = {"type": "Recreate"}


async def test_recreate_scales_the_old_sets_down_before_anything_new() -> None:
    d = web(3, strategy=RECREATE)
    c, client = controller(d, rs_of(d, "web-old", 3, image="web:1", revision=1))
    await c.sync("ns/web")
    assert scaled(client) == {"web-old": 0}
    assert of(client, "create", "replicasets") == []


async def test_recreate_waits_for_the_old_pods_to_be_gone() -> None:
    d = web(3, strategy=RECREATE)
    old = rs_of(d, "web-old", 0, image="web:1", revision=1)
    old["status"]["replicas"] = 2  # still terminating
    c, client = controller(d, old)
    await c.sync("ns/web")
    assert of(client, "create", "replicasets") == []


async def test_recreate_creates_the_new_set_whole_once_the_old_pods_are_gone() -> None:
    d = web(3, strategy=RECREATE)
    c, client = controller(d, rs_of(d, "web-old", 0, image="web:1", revision=1))
    await c.sync("ns/web")
    [create] = of(client, "create", "replicasets")
    assert create.body["spec"]["replicas"] == 3


# -- scaling ----------------------------------------------------------------------------------

async def test_scaling_mid_rollout_grows_every_active_set_in_proportion() -> None:
    """sync_test.go "proportional scaling: 10 -> 20 with 2 active sets"; leftovers go to
    the largest set, the newer on a tie."""
    d = web(20, strategy={"type": "RollingUpdate",
                          "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    old = rs_of(d, "web-old", 6, image="web:1", revision=1, desired=10)
    new = rs_of(d, "web-new", 6, image="web:2", revision=2, desired=10)
    for rs in (old, new):
        rs["metadata"]["annotations"][du.MAX_REPLICAS] = "13"
    c, client = controller(d, old, new)
    await c.sync("ns/web")
    assert scaled(client) == {"web-new": 13, "web-old": 12}
    for w in of(client, "patch", "replicasets"):
        assert w.body["metadata"]["annotations"] == {du.DESIRED_REPLICAS: "20",
                                                     du.MAX_REPLICAS: "25"}


async def test_scaling_a_settled_deployment_scales_its_set() -> None:
    d = web(5)
    c, client = controller(d, rs_of(d, "web-new", 3, image="web:2", revision=1, desired=3))
    await c.sync("ns/web")
    assert scaled(client) == {"web-new": 5}
    assert ("Normal", "ScalingReplicaSet", "Scaled up replica set web-new to 5 from 3") in \
        client.events()


# -- states that stop the rollout ---------------------------------------------------------------

@pytest.mark.parametrize(
    "d",
    [
        pytest.param(web(3, deletion_timestamp=T0),
                     id="a deployment being deleted is not rolled out"),
        pytest.param(web(3, spec={"paused": True}), id="a paused deployment starts no rollout"),
    ],
)
async def test_no_rollout(d: JsonDict) -> None:
    c, client = controller(d, rs_of(d, "web-old", 3, image="web:1", revision=1))
    await c.sync("ns/web")
    assert of(client, "create", "replicasets") == [] and scaled(client) == {}


async def test_a_paused_deployment_still_scales_its_only_set() -> None:
    d = web(5, spec={"paused": True})
    c, client = controller(d, rs_of(d, "web-new", 3, image="web:2", revision=1))
    await c.sync("ns/web")
    assert scaled(client) == {"web-new": 5}
    [status] = of(client, "update", "deployments/status")
    assert {cond["type"]: cond["reason"] for cond in status.body["status"]["conditions"]
            }["Progressing"] == "DeploymentPaused"


async def test_a_deployment_selecting_everything_only_gets_a_warning() -> None:
    c, client = controller(web(3, selector={}), OLD)
    await c.sync("ns/web")
    assert client.writes == []
    assert client.events() == [("Warning", "SelectingAll", (
        "This deployment is selecting all pods. A non-empty selector is required."))]


async def test_a_deleted_deployment_is_nothing_to_do() -> None:
    c, client = controller(OLD)
    await c.sync("ns/web")
    assert client.writes == []


# -- ownership, history, rollback ------------------------------------------------------------

async def test_an_orphan_set_matching_the_selector_is_adopted() -> None:
    d = web(3)
    orphan = rs_of(d, "web-new", 3, image="web:2", revision=1, owned=False)
    c, client = controller(d, orphan)
    await c.sync("ns/web")
    adopt = of(client, "patch", "replicasets")[0]
    assert (adopt.name, adopt.body["metadata"]["ownerReferences"]) == ("web-new", [ref(d)])
    assert of(client, "create", "replicasets") == []


async def test_a_deployment_replaced_behind_the_cache_adopts_nothing() -> None:
    """deployment_controller_test.go TestSyncDeploymentDeletionRace."""
    d = web(3)
    c, client = controller(d, rs_of(d, "web-new", 3, image="web:2", revision=1, owned=False))
    client.put(DEPLOYMENTS, web(3, uid="uid-of-a-new-web"))
    with pytest.raises(CannotAdopt, match="is gone: got uid uid-of-a-new-web"):
        await c.sync("ns/web")
    assert client.writes == []


async def test_old_idle_sets_beyond_the_history_limit_are_deleted_oldest_first() -> None:
    d = web(3, spec={"revisionHistoryLimit": 1})
    idle = [rs_of(d, f"web-r{i}", 0, image=f"web:0.{i}", revision=i) for i in (1, 2, 3)]
    c, client = controller(d, *idle, rs_of(d, "web-new", 3, image="web:2", revision=4))
    await c.sync("ns/web")
    assert sorted(w.name for w in of(client, "delete", "replicasets")) == ["web-r1", "web-r2"]


@pytest.mark.parametrize(
    ("revision", "template_from"),
    [
        pytest.param("1", "web-old", id="a rollback to revision 1 copies its template back"),
        pytest.param("0", "web-old", id="a rollback to 0 goes to the revision before"),
        pytest.param("7", None, id="a rollback to a revision that never was only clears"),
    ],
)
async def test_deprecated_rollback_requests(revision: str, template_from: str | None) -> None:
    d = web(3, annotations={ROLLBACK_ANNOTATION: revision})
    old = rs_of(d, "web-old", 0, image="web:1", revision=1)
    c, client = controller(d, old, rs_of(d, "web-new", 3, image="web:2", revision=2))
    await c.sync("ns/web")
    [patch] = client.writes
    assert (patch.verb, patch.resource, patch.patch_type) == ("patch", "deployments", "json")
    ops: list[dict[str, Any]] = [
        {"op": "remove", "path": f"/metadata/annotations/{ROLLBACK_ANNOTATION}"}]
    if template_from is not None:
        ops.append({"op": "replace", "path": "/spec/template",
                    "value": du.without_hash(old["spec"]["template"])})
    assert patch.body == ops
    assert client.events() == ([("Normal", "DeploymentRollback",
                                 'Rolled back deployment "web" to revision 1')]
                               if template_from else
                               [("Warning", "RollbackRevisionNotFound",
                                 "Unable to find the revision to rollback to.")])


# -- races -------------------------------------------------------------------------------------

async def test_a_hash_collision_bumps_the_collision_count() -> None:
    d = web(3)
    c, client = controller(d)
    client.fail("create", REPLICASETS, error=AlreadyExists)
    await c.sync("ns/web")
    [status] = client.writes
    assert (status.verb, status.resource) == ("update", "deployments/status")
    assert status.body["status"]["collisionCount"] == 1


async def test_a_conflicting_status_write_is_tried_again_shortly() -> None:
    d = web(3)
    c, client = controller(d, rs_of(d, "web-new", 3, image="web:2", revision=1))
    client.fail("update", DEPLOYMENTS, "web", error=Conflict)
    await c.sync("ns/web")
    assert recorded(c.queue).delayed[-1] == ("ns/web", 0.1)


# -- what informer events queue -------------------------------------------------------------

@pytest.mark.parametrize(
    ("event", "queued"),
    [
        pytest.param(("deployments", web(resource_version="2")), ["ns/web"],
                     id="a deployment queues itself"),
        pytest.param(("replicasets", OLD), ["ns/web"], id="an owned set queues its deployment"),
        pytest.param(("replicasets", rs_of(web(), "web-x", 1, image="x", revision=1,
                                           owned=False)),
                     ["ns/web"], id="an orphan set queues the deployments that may adopt it"),
        pytest.param(("replicasets", replicaset("db", "ns")), [],
                     id="an orphan set nobody selects queues nothing"),
        pytest.param(("replicasets", replicaset("web-x", "ns", selector={"app": "web"},
                                                owners=[ref(replicaset("other", "ns"))])), [],
                     id="a set another kind controls is not ours"),
    ],
)
def test_events_queue_the_deployments_concerned(event: tuple[str, JsonDict],
                                                queued: list[str]) -> None:
    c, _ = controller(web())
    informer, obj = event
    getattr(c, informer).apply("ADDED", obj)
    assert recorded(c.queue).added == queued
