"""CronJob sync(key) on filled caches with the fake client, as Kubernetes'
cronjob_controllerv2_test.go: when a Job is created (on time, one catch-up,
too late, too many missed), concurrency policies, time zones, suspend, the
active list, history limits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest

from minikube_py.api.resources import CRONJOBS, JOBS
from minikube_py.client import ApiClient
from minikube_py.controllers.cronjob import SCHEDULED_TIMESTAMP, CronJobController, job_name
from minikube_py.controllers.settings import ControllerManagerSettings
from tests.fixtures import builders
from tests.fixtures.builders import ref
from tests.fixtures.caches import fill
from tests.fixtures.fake_client import FakeClient
from tests.fixtures.queues import RecordingQueue, recorded

KEY = "ns/backup"
CREATED = "2026-01-01T00:00:00Z"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def cj(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("uid", "cj-uid")
    kwargs.setdefault("creation_timestamp", CREATED)
    return builders.cronjob("backup", "ns", **kwargs)


def child(owner: dict[str, Any], name: str, *, finished: str | None = None, started: str = CREATED,
          completed: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"startTime": started}
    if finished:
        status["conditions"] = [{"type": finished, "status": "True"}]
    if completed:
        status["completionTime"] = completed
    return builders.job(name, "ns", owners=[ref(owner)], status=status)


def controller(cronjob: dict[str, Any], jobs: list[dict[str, Any]], now: str
               ) -> tuple[CronJobController, FakeClient]:
    client = FakeClient()
    c = CronJobController(cast(ApiClient, client), ControllerManagerSettings())
    c.clock = lambda: at(now)
    c.queue = RecordingQueue()
    fill(c.cronjobs, cronjob)
    client.put(CRONJOBS, cronjob)
    fill(c.jobs, *jobs)
    return c, client


def created_jobs(client: FakeClient) -> list[dict[str, Any]]:
    return [w.body for w in client.writes if w.verb == "create" and w.resource == "jobs"]


def deleted_jobs(client: FakeClient) -> list[str]:
    return [w.name for w in client.writes if w.verb == "delete" and w.resource == "jobs"]


def status_of(client: FakeClient) -> dict[str, Any]:
    stored = client.stored(CRONJOBS, "backup", "ns")
    assert stored is not None
    return stored.get("status") or {}


@pytest.mark.parametrize(("spec", "status", "now", "scheduled"), [
    pytest.param({}, {}, "2026-01-01T00:00:30", None, id="before-first"),
    pytest.param({}, {}, "2026-01-01T00:01:00.500", "2026-01-01T00:01:00", id="on-time"),
    pytest.param({}, {"lastScheduleTime": "2026-01-01T00:01:00Z"}, "2026-01-01T00:01:30", None,
                 id="already-ran"),
    pytest.param({}, {"lastScheduleTime": "2026-01-01T00:01:00Z"}, "2026-01-01T03:07:10",
                 "2026-01-01T03:07:00", id="one-catch-up-after-downtime"),
    pytest.param({"startingDeadlineSeconds": 5}, {"lastScheduleTime": "2026-01-01T00:01:00Z"},
                 "2026-01-01T00:03:10", None, id="past-starting-deadline"),
    pytest.param({"startingDeadlineSeconds": 30}, {}, "2026-01-01T00:03:10",
                 "2026-01-01T00:03:00", id="within-starting-deadline"),
    pytest.param({"suspend": True}, {}, "2026-01-01T00:05:00", None, id="suspended"),
])
async def test_when_a_job_is_created(spec: dict[str, Any], status: dict[str, Any], now: str,
                                     scheduled: str | None) -> None:
    c, client = controller(cj(spec=spec, status=status), [], now)
    await c.sync(KEY)
    jobs = created_jobs(client)
    if scheduled is None:
        assert not jobs
        return
    assert len(jobs) == 1
    when = at(scheduled)
    assert jobs[0]["metadata"]["name"] == f"backup-{int(when.timestamp()) // 60}"
    assert jobs[0]["metadata"]["ownerReferences"][0]["uid"] == "cj-uid"
    assert jobs[0]["metadata"]["labels"] == {"cron": "backup"}
    assert jobs[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox"
    st = status_of(client)
    assert st["lastScheduleTime"] == scheduled + "Z"
    assert [r["name"] for r in st["active"]] == [jobs[0]["metadata"]["name"]]
    assert ("Normal", "SuccessfulCreate", f"Created job {jobs[0]['metadata']['name']}") \
        in client.events()


async def test_requeues_just_after_the_next_time() -> None:
    c, _ = controller(cj(schedule="*/5 * * * *"), [], "2026-01-01T00:01:00")
    await c.sync(KEY)
    delays = [seconds for key, seconds in recorded(c.queue).delayed if key == KEY]
    assert delays and abs(min(delays) - 240.1) < 0.01


async def test_too_many_missed_times_warns_and_still_starts_the_latest() -> None:
    c, client = controller(cj(), [], "2026-01-02T00:00:30")
    await c.sync(KEY)
    assert [j["metadata"]["name"] for j in created_jobs(client)] == [
        f"backup-{int(at('2026-01-02T00:00:00').timestamp()) // 60}"]
    warnings = [e for e in client.events() if e[1] == "TooManyMissedTimes"]
    assert warnings and warnings[0][2].startswith("too many missed start times: 1440.")


async def test_time_zone_schedules_on_that_wall_clock() -> None:
    paris = cj(schedule="30 9 * * *", time_zone="Europe/Paris")
    c, client = controller(paris, [], "2026-01-01T08:30:01")  # 09:30:01 in Paris
    await c.sync(KEY)
    jobs = created_jobs(client)
    assert len(jobs) == 1
    assert jobs[0]["metadata"]["annotations"][SCHEDULED_TIMESTAMP] == "2026-01-01T09:30:00+01:00"


@pytest.mark.parametrize(("policy", "creates", "deletes"), [
    pytest.param("Allow", True, [], id="allow"),
    pytest.param("Forbid", False, [], id="forbid"),
    pytest.param("Replace", True, ["backup-old"], id="replace"),
])
async def test_concurrency_policy(policy: str, creates: bool, deletes: list[str]) -> None:
    owner = cj(concurrency=policy, status={"lastScheduleTime": "2026-01-01T00:01:00Z"})
    running = child(owner, "backup-old")
    owner["status"]["active"] = [{"kind": "Job", "name": "backup-old", "namespace": "ns",
                                  "uid": running["metadata"]["uid"]}]
    c, client = controller(owner, [running], "2026-01-01T00:02:01")
    await c.sync(KEY)
    assert bool(created_jobs(client)) is creates
    assert deleted_jobs(client) == deletes
    if policy == "Forbid":
        assert any(e[1] == "JobAlreadyActive" for e in client.events())


async def test_finished_and_missing_jobs_leave_the_active_list() -> None:
    owner = cj(suspend=True)
    done = child(owner, "backup-1", finished="Complete", completed="2026-01-01T00:01:09Z")
    owner["status"] = {"active": [
        {"kind": "Job", "name": "backup-1", "namespace": "ns", "uid": done["metadata"]["uid"]},
        {"kind": "Job", "name": "gone", "namespace": "ns", "uid": "gone-uid"}]}
    c, client = controller(owner, [done], "2026-01-01T00:02:00")
    await c.sync(KEY)
    st = status_of(client)
    assert "active" not in st and st["lastSuccessfulTime"] == "2026-01-01T00:01:09Z"
    reasons = {e[1] for e in client.events()}
    assert {"SawCompletedJob", "MissingJob"} <= reasons


async def test_an_active_job_not_yet_cached_stays_active() -> None:
    """The Job created by the last sync may reach the Job cache after the CronJob's own
    status update: read live before calling it missing (Kubernetes GETs it too)."""
    owner = cj(suspend=True)
    young = child(owner, "backup-2")
    owner["status"] = {"active": [{"kind": "Job", "name": "backup-2", "namespace": "ns",
                                   "uid": young["metadata"]["uid"]}]}
    c, client = controller(owner, [], "2026-01-01T00:02:00")
    client.put(JOBS, young)
    await c.sync(KEY)
    assert client.writes == [] and client.events() == []


async def test_history_limits_delete_the_oldest_finished_jobs() -> None:
    owner = cj(suspend=True, spec={"successfulJobsHistoryLimit": 2,
                                   "failedJobsHistoryLimit": 1})
    jobs = [child(owner, f"ok-{i}", finished="Complete", started=f"2026-01-01T00:0{i}:00Z")
            for i in range(4)]
    jobs += [child(owner, f"bad-{i}", finished="Failed", started=f"2026-01-01T00:0{i}:00Z")
             for i in range(2)]
    jobs.append(child(owner, "running"))
    c, client = controller(owner, jobs, "2026-01-01T00:10:00")
    await c.sync(KEY)
    assert sorted(deleted_jobs(client)) == ["bad-0", "ok-0", "ok-1"]


def test_job_names_are_minutes_since_the_epoch() -> None:
    assert job_name(cj(), at("2026-01-01T00:01:00")) == "backup-29453761"
