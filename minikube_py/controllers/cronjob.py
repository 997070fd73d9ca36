"""CronJob controller (kube-controller-manager's cronjob_controllerv2): creates
a Job at each scheduled time, keeps status.active / lastScheduleTime /
lastSuccessfulTime, applies concurrencyPolicy, and trims finished Jobs to the
history limits.

After downtime only the most recent missed time is started (one catch-up),
and not at all once it is older than startingDeadlineSeconds; more than 100
missed times is a "TooManyMissedTimes" warning, as in Kubernetes. Each sync
requeues the key for just after the next scheduled time.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from minikube_py.api import cron
from minikube_py.api.cronjob import schedule_of
from minikube_py.api.meta import format_time, get_condition, owner_of, owner_reference, parse_time
from minikube_py.api.resources import CRONJOBS, JOBS
from minikube_py.api.types import Object
from minikube_py.client.errors import AlreadyExists, Conflict, NotFound
from minikube_py.client.loop import cached
from minikube_py.controllers.base import Controller, by_namespace

if TYPE_CHECKING:
    from minikube_py.client import ApiClient
    from minikube_py.controllers.base import SharedInformers
    from minikube_py.controllers.settings import ControllerManagerSettings

log = logging.getLogger(__name__)

SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
NEXT_SCHEDULE_DELTA = 0.1  # Kubernetes' nextScheduleDelta
TOO_MANY_MISSED = 100


def job_name(cronjob: Object, scheduled: datetime) -> str:
    """`<cronjob>-<minutes since the epoch>`: one name per scheduled time."""
    return f"{cronjob['metadata']['name']}-{int(scheduled.timestamp()) // 60}"


def job_for(cronjob: Object, scheduled: datetime) -> Object:
    """getJobFromTemplate2: the template's metadata and spec, owned by the CronJob."""
    template = cronjob["spec"].get("jobTemplate") or {}
    meta = template.get("metadata") or {}
    tz = cron.zone(str(cronjob["spec"].get("timeZone") or ""))
    stamp = scheduled.astimezone(tz).isoformat().replace("+00:00", "Z")
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {
        "name": job_name(cronjob, scheduled), "namespace": cronjob["metadata"]["namespace"],
        "labels": dict(meta.get("labels") or {}),
        "annotations": {**(meta.get("annotations") or {}), SCHEDULED_TIMESTAMP: stamp},
        "ownerReferences": [owner_reference(cronjob)]},
        "spec": dict(template.get("spec") or {})}


def finished_as(job: Object) -> str | None:
    for kind in ("Complete", "Failed"):
        if (get_condition(job, kind) or {}).get("status") == "True":
            return kind
    return None


def _when(text: Any) -> datetime | None:
    return parse_time(text) if isinstance(text, str) and text else None


def earliest(cronjob: Object, now: datetime, *, with_deadline: bool) -> datetime:
    """Where to look for missed times from: the last schedule (or creation), no earlier
    than startingDeadlineSeconds ago."""
    status = cronjob.get("status") or {}
    start = _when(status.get("lastScheduleTime")) or \
        _when(cronjob["metadata"].get("creationTimestamp")) or now
    deadline = cronjob["spec"].get("startingDeadlineSeconds")
    if with_deadline and deadline is not None:
        start = max(start, now - timedelta(seconds=int(deadline)))
    return start


class CronJobController(Controller):
    name = "cronjob-controller"

    def __init__(self, client: ApiClient, settings: ControllerManagerSettings,
                 informers: SharedInformers | None = None) -> None:
        super().__init__(client, settings, informers)
        self.cronjobs = self.watch(CRONJOBS)
        self.jobs = by_namespace(self.watch(JOBS))
        self.cronjobs.add_handlers(self.enqueue, lambda old, new: self.enqueue(new))
        self.jobs.add_handlers(self._job_changed, lambda old, new: self._job_changed(new),
                               self._job_changed)
        self.clock = _now

    def object_for(self, key: Hashable) -> Object | None:
        return cached(self.cronjobs, key)

    def _job_changed(self, job: Object) -> None:
        self.enqueue_controller(job, "CronJob")

    async def sync(self, key: Hashable) -> None:
        assert isinstance(key, str)
        cronjob = self.cronjobs.get(key)
        if cronjob is None:
            return
        uid = cronjob["metadata"]["uid"]
        jobs = [j for j in self.jobs.by_index("namespace", cronjob["metadata"]["namespace"])
                if (owner_of(j) or {}).get("uid") == uid]
        status = dict(cronjob.get("status") or {})
        await self._reconcile_active(cronjob, status, jobs)
        now = self.clock()
        if not cronjob["metadata"].get("deletionTimestamp"):
            await self._schedule(key, cronjob, status, jobs, now)
        await self._trim_history(cronjob, [j for j in jobs if finished_as(j) and not
                                           j["metadata"].get("deletionTimestamp")])
        if status != (cronjob.get("status") or {}):
            try:
                await self.client.update(CRONJOBS, {**cronjob, "status": status},
                                         subresource="status")
            except NotFound:
                return
            except Conflict:
                self.queue.add_after(key, 0.1)

    async def _reconcile_active(self, cronjob: Object, status: Object,
                                jobs: list[Object]) -> None:
        """status.active = our unfinished Jobs; finished ones are reported and their
        success time kept."""
        active = {r.get("uid"): r for r in status.get("active") or []}
        by_uid = {j["metadata"]["uid"]: j for j in jobs}
        for uid, job in by_uid.items():
            kind = finished_as(job)
            if kind is None and uid not in active:
                active[uid] = _reference(job)
            elif kind is not None and uid in active:
                del active[uid]
                await self.recorder.event(cronjob, "Normal", "SawCompletedJob",
                                          f"Saw completed job: {job['metadata']['name']}, "
                                          f"condition: {kind}")
                done = (job.get("status") or {}).get("completionTime")
                if kind == "Complete" and done and (
                        not status.get("lastSuccessfulTime")
                        or parse_time(done) > parse_time(status["lastSuccessfulTime"])):
                    status["lastSuccessfulTime"] = done
        for uid in [u for u in active if u not in by_uid]:
            if await self._exists(cronjob, active[uid]):
                continue  # created by the last sync, not in the Job cache yet
            ref = active.pop(uid)
            await self.recorder.event(cronjob, "Normal", "MissingJob",
                                      f"Active job went missing: {ref.get('name')}")
        if active:
            status["active"] = sorted(active.values(), key=lambda r: str(r.get("name")))
        else:
            status.pop("active", None)

    async def _exists(self, cronjob: Object, ref: Object) -> bool:
        """Whether an active Job the cache lacks is there, read live: the Job cache may
        lag behind the CronJob's own status update (as Kubernetes' GetJob here)."""
        try:
            job = await self.client.get(JOBS, str(ref.get("name")),
                                        cronjob["metadata"]["namespace"])
        except NotFound:
            return False
        return bool(job["metadata"].get("uid") == ref.get("uid"))

    async def _schedule(self, key: str, cronjob: Object, status: Object,
                        jobs: list[Object], now: datetime) -> None:
        spec = cronjob["spec"]
        try:
            schedule = schedule_of(cronjob)
        except ValueError as e:
            reason = "UnknownTimeZone" if "time zone" in str(e) else "UnparseableSchedule"
            await self.recorder.event(cronjob, "Warning", reason, str(e))
            return
        if spec.get("suspend"):
            return
        view = {**cronjob, "status": status}
        scheduled, missed = cron.most_recent(schedule, earliest(view, now, with_deadline=True),
                                             now)
        self._requeue(key, view, schedule, now)
        if scheduled is None:
            return
        if missed > TOO_MANY_MISSED:
            await self.recorder.event(cronjob, "Warning", "TooManyMissedTimes",
                                      f"too many missed start times: {missed}. Set or decrease "
                                      ".spec.startingDeadlineSeconds or check clock skew")
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None and scheduled + timedelta(seconds=int(deadline)) < now:
            await self.recorder.event(cronjob, "Warning", "MissSchedule",
                                      "Missed scheduled time to start a job: "
                                      f"{scheduled.strftime('%a, %d %b %Y %H:%M:%S %z')}")
            return
        name = job_name(cronjob, scheduled)
        if any(r.get("name") == name for r in status.get("active") or []) or \
                _when(status.get("lastScheduleTime")) == scheduled:
            return
        policy = spec.get("concurrencyPolicy", "Allow")
        if policy == "Forbid" and status.get("active"):
            await self.recorder.event(cronjob, "Normal", "JobAlreadyActive",
                                      "Not starting job because prior execution is running "
                                      "and concurrency policy is Forbid")
            return
        if policy == "Replace":
            for ref in list(status.get("active") or []):
                await self._delete_job(cronjob, str(ref.get("name")))
            status.pop("active", None)
        try:
            job = await self.client.create(JOBS, job_for(cronjob, scheduled))
        except AlreadyExists:
            log.info("job exists already cronjob=%s job=%s", key, name)
            return
        await self.recorder.event(cronjob, "Normal", "SuccessfulCreate", f"Created job {name}")
        status["active"] = [*(status.get("active") or []), _reference(job)]
        status["lastScheduleTime"] = format_time(scheduled)

    def _requeue(self, key: str, cronjob: Object, schedule: cron.Schedule,
                 now: datetime) -> None:
        """Look again just after the next scheduled time."""
        since = earliest(cronjob, now, with_deadline=False)
        latest, _ = cron.most_recent(schedule, since, now)
        upcoming = schedule.next(latest or since)
        if upcoming is not None and upcoming <= now:
            upcoming = schedule.next(now)
        if upcoming is not None:
            self.queue.add_after(key, (upcoming - now).total_seconds() + NEXT_SCHEDULE_DELTA)

    async def _trim_history(self, cronjob: Object, finished: list[Object]) -> None:
        spec = cronjob["spec"]
        for kind, limit in (("Complete", spec.get("successfulJobsHistoryLimit")),
                            ("Failed", spec.get("failedJobsHistoryLimit"))):
            if limit is None:
                continue
            ours = sorted((j for j in finished if finished_as(j) == kind), key=_started)
            for job in ours[:max(len(ours) - int(limit), 0)]:
                await self._delete_job(cronjob, job["metadata"]["name"])

    async def _delete_job(self, cronjob: Object, name: str) -> None:
        try:
            await self.client.delete(JOBS, name, cronjob["metadata"]["namespace"],
                                     propagation_policy="Background")
        except NotFound:
            return
        await self.recorder.event(cronjob, "Normal", "SuccessfulDelete", f"Deleted job {name}")


def _now() -> datetime:
    return datetime.now(UTC)


def _started(job: Object) -> tuple[bool, float, str]:
    """byJobStartTime: older first; Jobs that never started last, then by name."""
    start = _when((job.get("status") or {}).get("startTime"))
    return (start is None, start.timestamp() if start else 0.0, job["metadata"]["name"])


def _reference(job: Object) -> Object:
    meta = job["metadata"]
    return {"kind": "Job", "namespace": meta["namespace"], "name": meta["name"],
            "uid": meta["uid"], "apiVersion": "batch/v1",
            "resourceVersion": meta.get("resourceVersion", "")}

