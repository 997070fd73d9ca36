"""Job sync(key) on filled caches with the fake client, as Kubernetes'
job_controller_test.go: pod creation, counting through the tracking finalizer
(also after a restart between any two steps), completion, failure by
backoffLimit / deadline / podFailurePolicy, pod backoff, suspend, Indexed."""

from __future__ import annotations

from typing import Any, cast

import pytest

from minikube_py.api.job import COMPLETION_INDEX, TRACKING_FINALIZER
from minikube_py.api.meta import get_condition
from minikube_py.api.resources import JOBS
from minikube_py.client import ApiClient
from minikube_py.controllers.job import JobController
from minikube_py.controllers.pods import format_time
from minikube_py.controllers.settings import ControllerManagerSettings
from tests.fixtures import builders
from tests.fixtures.builders import ref
from tests.fixtures.caches import fill
from tests.fixtures.fake_client import FakeClient

NOW = 1_800_000_000.0
KEY = "ns/pi"


def job(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("uid", "job-uid")
    return builders.job("pi", "ns", **kwargs)


def pod(name: str, the_job: dict[str, Any], *, phase: str = "Running", finalizer: bool = True,
        exit_code: int | None = None, finished: float = NOW - 100, index: int | None = None,
        deleting: bool = False) -> dict[str, Any]:
    labels = dict(the_job["spec"]["template"]["metadata"]["labels"])
    annotations = {COMPLETION_INDEX: str(index)} if index is not None else {}
    status: dict[str, Any] = {}
    if exit_code is not None:
        status["containerStatuses"] = [{"name": "c", "restartCount": 0, "state": {
            "terminated": {"exitCode": exit_code, "finishedAt": format_time(finished)}}}]
    extra: dict[str, Any] = {"deletion_timestamp": format_time(NOW - 1)} if deleting else {}
    return builders.pod(name, "ns", node="n1", phase=phase, labels=labels,
                        annotations=annotations, owners=[ref(the_job)],
                        finalizers=[TRACKING_FINALIZER] if finalizer else (),
                        status=status, **extra)


def controller(the_job: dict[str, Any] | None, pods: list[dict[str, Any]], **settings: Any
               ) -> tuple[JobController, FakeClient]:
    client = FakeClient()
    c = JobController(cast(ApiClient, client), ControllerManagerSettings(**settings))
    c.clock = lambda: NOW
    if the_job is not None:
        fill(c.jobs, the_job)
        client.put(JOBS, the_job)
    fill(c.pods, *pods)
    return c, client


def status_of(client: FakeClient) -> dict[str, Any]:
    stored = client.stored(JOBS, "pi", "ns")
    assert stored is not None
    status: dict[str, Any] = stored["status"]
    return status


def condition_of(status: dict[str, Any], type_: str) -> dict[str, Any]:
    condition = get_condition(status["conditions"], type_)
    assert condition is not None, status
    return condition


def created(client: FakeClient) -> list[dict[str, Any]]:
    return [w.body for w in client.writes if w.verb == "create" and w.resource == "pods"]


def deleted(client: FakeClient) -> set[str]:
    return {w.name for w in client.writes if w.verb == "delete" and w.resource == "pods"}


def released(client: FakeClient) -> set[str]:
    return {w.name for w in client.writes if w.verb == "patch" and w.resource == "pods"}


@pytest.mark.parametrize(("spec", "running", "creates"), [
    pytest.param({"completions": 5, "parallelism": 2}, 0, 2, id="parallelism-bounds"),
    pytest.param({"completions": 5, "parallelism": 2}, 1, 1, id="tops-up"),
    pytest.param({"completions": 1, "parallelism": 3}, 0, 1, id="completions-bound"),
    pytest.param({"completions": None, "parallelism": 3}, 0, 3, id="work-queue"),
    pytest.param({"completions": 5, "parallelism": 0}, 0, 0, id="paused-by-parallelism"),
])
async def test_creates_pods_toward_parallelism(
        spec: dict[str, Any], running: int, creates: int) -> None:
    j = job(**spec)
    c, client = controller(j, [pod(f"r{i}", j) for i in range(running)])
    await c.sync(KEY)
    pods = created(client)
    assert len(pods) == creates
    for p in pods:
        assert p["metadata"]["generateName"] == "pi-"
        assert p["metadata"]["finalizers"] == [TRACKING_FINALIZER]
        assert p["metadata"]["ownerReferences"][0]["uid"] == "job-uid"
        assert p["metadata"]["labels"]["batch.kubernetes.io/controller-uid"] == "job-uid"
    status = status_of(client)
    assert status["active"] == running + creates and "startTime" in status


async def test_surplus_pods_are_deleted_when_parallelism_drops() -> None:
    j = job(completions=5, parallelism=1)
    c, client = controller(j, [pod("a", j), pod("b", j), pod("c", j)])
    await c.sync(KEY)
    assert len(deleted(client)) == 2 and not created(client)


async def test_indexed_pods_carry_their_index() -> None:
    j = job(completions=3, parallelism=3, indexed=True,
            status={"completedIndexes": "1"})
    c, client = controller(j, [])
    await c.sync(KEY)
    pods = sorted(created(client), key=lambda p: p["metadata"]["generateName"])
    assert [p["metadata"]["generateName"] for p in pods] == ["pi-0-", "pi-2-"]
    first = pods[0]
    assert first["metadata"]["annotations"][COMPLETION_INDEX] == "0"
    assert first["metadata"]["labels"][COMPLETION_INDEX] == "0"
    assert first["spec"]["hostname"] == "pi-0"
    assert first["spec"]["containers"][0]["env"] == [{
        "name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
            "fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}}}]


async def test_finished_pod_counted_once_through_three_steps() -> None:
    j = job(completions=3, parallelism=1)
    done = pod("done", j, phase="Succeeded", exit_code=0)
    c, client = controller(j, [done])
    await c.sync(KEY)
    status_writes = [w.body["status"] for w in client.writes if w.resource == "jobs/status"]
    assert status_writes[0]["uncountedTerminatedPods"] == {"succeeded": [done["metadata"]["uid"]]}
    assert "succeeded" not in status_writes[0] or status_writes[0]["succeeded"] == 0
    assert released(client) == {"done"}
    final = status_of(client)
    assert final["succeeded"] == 1 and final["uncountedTerminatedPods"] == {}
    # The informer now shows the pod without its finalizer: never counted again.
    fill(c.jobs, client.held(JOBS, "pi", "ns"))
    fill(c.pods, pod("done", j, phase="Succeeded", exit_code=0, finalizer=False))
    await c.sync(KEY)
    assert status_of(client)["succeeded"] == 1


async def test_a_pod_released_but_cached_with_its_finalizer_is_not_counted_again() -> None:
    """The Job's status event may come before the event of its pod's finalizer removal
    (two watches): a sync in between saw the pod finished and holding the finalizer, with
    its uid no longer uncounted, and counted it a second time (Kubernetes' job controller
    skips pods whose finalizer removal it expects)."""
    j = job(completions=3, parallelism=1)
    stale = pod("done", j, phase="Succeeded", exit_code=0)
    c, client = controller(j, [stale])
    await c.sync(KEY)
    assert status_of(client)["succeeded"] == 1
    fill(c.jobs, client.held(JOBS, "pi", "ns"))  # the pod cache still holds `stale`
    await c.sync(KEY)
    assert status_of(client)["succeeded"] == 1
    assert status_of(client)["uncountedTerminatedPods"] == {}
    fill(c.jobs, client.held(JOBS, "pi", "ns"))
    fill(c.pods, pod("done", j, phase="Succeeded", exit_code=0, finalizer=False))
    await c.sync(KEY)
    assert status_of(client)["succeeded"] == 1


@pytest.mark.parametrize("finalizer", [
    pytest.param(True, id="killed-after-uncounted-was-written"),
    pytest.param(False, id="killed-after-finalizer-was-removed"),
])
async def test_restart_between_steps_neither_loses_nor_double_counts(finalizer: bool) -> None:
    j = job(completions=3, parallelism=1)
    done = pod("done", j, phase="Succeeded", exit_code=0, finalizer=finalizer)
    j["status"] = {"succeeded": 0, "uncountedTerminatedPods": {
        "succeeded": [done["metadata"]["uid"]]}}
    c, client = controller(j, [done])
    await c.sync(KEY)
    assert released(client) == ({"done"} if finalizer else set())
    assert status_of(client)["succeeded"] == 1
    assert status_of(client)["uncountedTerminatedPods"] == {}


async def test_completes_when_completions_reached() -> None:
    j = job(completions=2, parallelism=2, status={"succeeded": 1, "startTime": format_time(NOW)})
    c, client = controller(j, [pod("last", j, phase="Succeeded", exit_code=0)])
    await c.sync(KEY)
    status = status_of(client)
    assert status["succeeded"] == 2 and status["completionTime"]
    assert condition_of(status, "SuccessCriteriaMet")["status"] == "True"
    assert condition_of(status, "Complete")["reason"] == "CompletionsReached"
    assert ("Normal", "Completed", "Job completed") in client.events()
    assert not created(client)


async def test_indexed_job_completes_when_every_index_succeeded() -> None:
    j = job(completions=2, parallelism=2, indexed=True, status={"completedIndexes": "0"})
    c, client = controller(j, [pod("one", j, phase="Succeeded", exit_code=0, index=1),
                               pod("dup", j, phase="Succeeded", exit_code=0, index=1)])
    await c.sync(KEY)
    status = status_of(client)
    assert status["completedIndexes"] == "0-1" and status["succeeded"] == 2
    assert condition_of(status, "Complete")["status"] == "True"


async def test_backoff_limit_fails_the_job_after_its_pods_are_gone() -> None:
    j = job(completions=5, parallelism=2, backoff_limit=1, status={"failed": 1})
    running = pod("running", j)
    c, client = controller(j, [pod("bad", j, phase="Failed", exit_code=3), running])
    await c.sync(KEY)
    status = status_of(client)
    assert status["failed"] == 2
    assert condition_of(status, "FailureTarget")["reason"] == \
        "BackoffLimitExceeded"
    assert get_condition(status["conditions"], "Failed") is None  # "running" still holds
    assert deleted(client) == {"running"}
    # The deleted pod terminates: counted as failed, released, and the Job is Failed.
    fill(c.jobs, client.held(JOBS, "pi", "ns"))
    fill(c.pods, pod("bad", j, phase="Failed", exit_code=3, finalizer=False),
         pod("running", j, deleting=True))
    await c.sync(KEY)
    status = status_of(client)
    assert status["failed"] == 3
    assert condition_of(status, "Failed")["message"] == \
        "Job has reached the specified backoff limit"
    assert ("Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit") \
        in client.events()


async def test_active_deadline_fails_the_job() -> None:
    j = job(completions=5, spec={"activeDeadlineSeconds": 30},
            status={"startTime": format_time(NOW - 31)})
    c, client = controller(j, [])
    await c.sync(KEY)
    status = status_of(client)
    assert condition_of(status, "Failed")["reason"] == "DeadlineExceeded"
    assert not created(client)


POLICY = {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}},
                    {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [7]}}]}


@pytest.mark.parametrize(("code", "failed", "reason"), [
    pytest.param(42, 1, "PodFailurePolicy", id="fail-job"),
    pytest.param(7, 0, None, id="ignore"),
    pytest.param(3, 1, None, id="count"),
])
async def test_pod_failure_policy(code: int, failed: int, reason: str | None) -> None:
    j = job(completions=1, spec={"podFailurePolicy": POLICY, "podReplacementPolicy": "Failed"})
    c, client = controller(j, [pod("x", j, phase="Failed", exit_code=code)])
    await c.sync(KEY)
    status = status_of(client)
    assert int(status.get("failed") or 0) == failed
    condition = get_condition(status.get("conditions"), "Failed")
    assert (condition or {}).get("reason") == reason
    if reason:
        assert condition is not None
        assert condition["message"] == ("Container c for pod ns/x failed with exit code 42 "
                                         "matching FailJob rule at index 0")


@pytest.mark.parametrize(("failures", "ago", "creates"), [
    pytest.param(1, 5.0, False, id="first-failure-waits-base"),
    pytest.param(1, 11.0, True, id="first-failure-after-base"),
    pytest.param(3, 30.0, False, id="third-failure-waits-40s"),
    pytest.param(3, 41.0, True, id="third-failure-after-40s"),
])
async def test_exponential_pod_backoff(failures: int, ago: float, creates: bool) -> None:
    j = job(completions=1, status={"failed": failures})
    pods = [pod(f"f{i}", j, phase="Failed", exit_code=1, finalizer=False,
                finished=NOW - ago - (failures - 1 - i)) for i in range(failures)]
    c, client = controller(j, pods, job_backoff_base=10.0)
    await c.sync(KEY)
    assert bool(created(client)) is creates


async def test_suspend_deletes_active_pods_and_resume_restarts_the_clock() -> None:
    j = job(completions=2, spec={"suspend": True}, status={"startTime": format_time(NOW - 9)})
    c, client = controller(j, [pod("a", j)])
    await c.sync(KEY)
    status = status_of(client)
    assert deleted(client) == {"a"}
    assert condition_of(status, "Suspended")["reason"] == "JobSuspended"
    assert "startTime" not in status
    resumed = client.stored(JOBS, "pi", "ns")
    assert resumed is not None
    resumed["spec"]["suspend"] = False
    c2, client2 = controller(resumed, [])
    await c2.sync(KEY)
    status = status_of(client2)
    assert condition_of(status, "Suspended")["status"] == "False"
    assert status["startTime"] == format_time(NOW) and len(created(client2)) == 1
    assert ("Normal", "Resumed", "Job resumed") in client2.events()


async def test_pods_of_a_deleted_job_lose_the_finalizer() -> None:
    j = job()
    c, client = controller(None, [pod("left", j, phase="Succeeded", exit_code=0)])
    await c.sync(KEY)
    assert released(client) == {"left"}


async def test_finished_job_releases_remaining_finalizers_and_creates_nothing() -> None:
    j = job(status={"conditions": [{"type": "Complete", "status": "True"}]})
    c, client = controller(j, [pod("late", j, phase="Succeeded", exit_code=0)])
    await c.sync(KEY)
    assert released(client) == {"late"} and not created(client)
