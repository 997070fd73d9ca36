"""Job controller (kube-controller-manager's job_controller): runs a Job's pods
to `completions` successes, `parallelism` at a time, and finishes it
Complete or Failed (backoffLimit, activeDeadlineSeconds, podFailurePolicy).

Every pod is created with the `batch.kubernetes.io/job-tracking` finalizer, and
a finished pod is counted in three persisted steps, so a controller killed at
any point neither loses nor double-counts it:

  1. its uid goes into status.uncountedTerminatedPods (Indexed Jobs: its
     index into status.completedIndexes),
  2. its finalizer is removed,
  3. uids whose pods no longer hold the finalizer move from uncounted into
     status.succeeded / status.failed.

A pod that still holds the finalizer is counted by step 1 only if its uid
is not there already; one that lost it is never looked at again. The pod cache
may show a finalizer after the Job's cache shows the count of its removal (two
watches), so a pod whose finalizer this controller removed is taken as without
it until the cache agrees (Kubernetes' finalizer expectations).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from minikube_py.api.job import TRACKING_FINALIZER
from minikube_py.api.meta import get_condition, owner_of, set_condition, split_key
from minikube_py.api.meta import key as object_key
from minikube_py.api.resources import JOBS, PODS
from minikube_py.api.selectors import LabelSelector
from minikube_py.api.shape import dig
from minikube_py.api.types import Object
from minikube_py.client.errors import ClientError, Conflict, NotFound
from minikube_py.client.loop import cached
from minikube_py.controllers import job_pods as jp
from minikube_py.controllers.base import Controller, by_namespace
from minikube_py.controllers.expectations import Expectations
from minikube_py.controllers.owners import claim, controller_key
from minikube_py.controllers.pods import format_time, is_ready, parse_time, pods_to_delete

if TYPE_CHECKING:
    from minikube_py.client import ApiClient
    from minikube_py.controllers.base import SharedInformers
    from minikube_py.controllers.settings import ControllerManagerSettings

log = logging.getLogger(__name__)

BURST = 500


@dataclass
class _Outcome:
    """Why the Job is finishing (FailureTarget / SuccessCriteriaMet), if it is."""

    condition: str = ""
    reason: str = ""
    message: str = ""


@dataclass
class _Tracking:
    """Step 1's result: uncounted uids and completed indexes, plus a FailJob verdict."""

    status: Object
    release: list[Object] = field(default_factory=list)
    fail_job: str = ""


def is_finished(job: Object) -> bool:
    return any((get_condition(job, kind) or {}).get("status") == "True"
               for kind in ("Complete", "Failed"))


class JobController(Controller):
    name = "job-controller"
    workers = 4

    def __init__(self, client: ApiClient, settings: ControllerManagerSettings,
                 informers: SharedInformers | None = None) -> None:
        super().__init__(client, settings, informers)
        self.expectations = Expectations()
        self._released: dict[str, set[str]] = {}  # job key -> pod uids, until cached
        self.jobs = self.watch(JOBS)
        self.pods = by_namespace(self.watch(PODS))
        self.jobs.add_handlers(self.enqueue, lambda old, new: self.enqueue(new),
                               self._job_deleted)
        self.pods.add_handlers(self._pod_added, lambda old, new: self._pod_changed(new),
                               self._pod_changed)
        self.clock = time.time

    def object_for(self, key: Hashable) -> Object | None:
        return cached(self.jobs, key)

    # -- handlers ---------------------------------------------------------------------

    def _job_deleted(self, job: Object) -> None:
        self.expectations.forget(object_key(job))
        self._released.pop(object_key(job), None)
        self.enqueue(job)

    def _owner_key(self, obj: Object) -> str | None:
        return controller_key(obj, "Job")

    def _pod_added(self, pod: Object) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.queue.add(key)

    def _pod_changed(self, pod: Object) -> None:
        key = self._owner_key(pod)
        if key is not None and not jp.has_finalizer(pod):
            released = self._released.get(key)
            if released is not None:
                released.discard(pod["metadata"]["uid"])
                if not released:
                    del self._released[key]
        self.enqueue_controller(pod, "Job")

    def _as_released(self, key: str, pod: Object) -> Object:
        """The pod as the cache will show it once our finalizer removal arrives."""
        if pod["metadata"]["uid"] not in self._released.get(key, ()):
            return pod
        rest = [f for f in pod["metadata"].get("finalizers") or [] if f != TRACKING_FINALIZER]
        return {**pod, "metadata": {**pod["metadata"], "finalizers": rest}}

    # -- sync -------------------------------------------------------------------------------

    async def sync(self, key: Hashable) -> None:
        assert isinstance(key, str)
        job = self.jobs.get(key)
        namespace, name = split_key(key)
        if job is None:
            self.expectations.forget(key)
            await self._release_orphans(namespace or "", name)
            return
        pods = [self._as_released(key, p) for p in await self._pods_of(job)]
        if is_finished(job):
            await self._remove_finalizers(job, [p for p in pods if jp.has_finalizer(p)])
            return
        tracking = self._track(job, pods)
        if tracking.status != (job.get("status") or {}):
            job = await self._write_status(job, tracking.status)
            if job is None:
                return
        released = await self._remove_finalizers(job, tracking.release)
        status = self._count_released(job, pods, released)
        holding = [p for p in pods if jp.has_finalizer(p) and p["metadata"]["uid"] not in released]
        status = await self._manage(key, job, pods, holding, status, tracking.fail_job)
        if status != (job.get("status") or {}):
            await self._write_status(job, status)

    async def _pods_of(self, job: Object) -> list[Object]:
        try:
            selector = LabelSelector.from_dict(job["spec"].get("selector"))
        except ValueError:
            log.warning("invalid selector job=%s/%s", job["metadata"]["namespace"],
                        job["metadata"]["name"])
            return []
        candidates = self.pods.by_index("namespace", job["metadata"]["namespace"])
        return await claim(self.client, PODS, job, candidates, selector)

    # -- step 1: record finished pods as uncounted ------------------------------------------

    def _track(self, job: Object, pods: list[Object]) -> _Tracking:
        status = copy.deepcopy(job.get("status") or {})
        uncounted = status.setdefault("uncountedTerminatedPods", {})
        seen = set(uncounted.get("succeeded") or []) | set(uncounted.get("failed") or [])
        indexed = job["spec"].get("completionMode") == "Indexed"
        completions = job["spec"].get("completions")
        done = jp.parse_indexes(status.get("completedIndexes"))
        # Once the Job is finishing, the pods it deleted count as failed whatever the policy.
        only_failed = job["spec"].get("podReplacementPolicy") == "Failed" and not any(
            (get_condition(status.get("conditions"), kind) or {}).get("status") == "True"
            for kind in ("FailureTarget", "SuccessCriteriaMet"))
        tracking = _Tracking(status)
        for pod in pods:
            if not jp.has_finalizer(pod):
                continue
            failed = jp.phase(pod) == "Failed" or (
                not only_failed and jp.is_terminating(pod))
            if not jp.succeeded(pod) and not failed:
                continue
            tracking.release.append(pod)
            uid = pod["metadata"]["uid"]
            if uid in seen:
                continue
            index = jp.completion_index(pod)
            if indexed and (index is None or index >= (completions or 0)):
                continue  # not one of ours to count; only its finalizer goes
            if jp.succeeded(pod):
                if indexed:
                    done.add(index)  # type: ignore[arg-type]
                else:
                    uncounted.setdefault("succeeded", []).append(uid)
                continue
            verdict = jp.failure_verdict(job, pod)
            if verdict.action == "Ignore":
                continue
            if verdict.action == "FailJob" and not tracking.fail_job:
                tracking.fail_job = verdict.message
            uncounted.setdefault("failed", []).append(uid)
        if indexed:
            status["completedIndexes"] = jp.format_indexes(done)
        return tracking

    # -- step 2: release finalizers ----------------------------------------------------------

    async def _remove_finalizers(self, job: Object, pods: list[Object]) -> set[str]:
        """The uids of pods that no longer hold the finalizer (or are gone)."""
        async def remove(pod: Object) -> str | None:
            meta = pod["metadata"]
            rest = [f for f in meta.get("finalizers") or [] if f != TRACKING_FINALIZER]
            patch = {"metadata": {"finalizers": rest or None,
                                  "resourceVersion": meta.get("resourceVersion")}}
            try:
                await self.client.patch(PODS, meta["name"], patch, meta["namespace"])
            except NotFound:
                return str(meta["uid"])
            except Conflict:
                return None  # changed meanwhile: the next sync looks again
            self._released.setdefault(object_key(job), set()).add(str(meta["uid"]))
            return str(meta["uid"])

        results = await asyncio.gather(*(remove(p) for p in pods))
        if any(r is None for r in results):
            self.queue.add_after(object_key(job),
                                 0.1)
        return {r for r in results if r is not None}

    async def _release_orphans(self, namespace: str, name: str) -> None:
        """Pods of a Job that is gone must not keep the finalizer (they could never be
        deleted)."""
        orphans = [p for p in self.pods.by_index("namespace", namespace)
                   if jp.has_finalizer(p) and (owner_of(p) or {}).get("kind") == "Job"
                   and (owner_of(p) or {}).get("name") == name]
        if orphans:
            await self._remove_finalizers({"metadata": {"namespace": namespace, "name": name}},
                                          orphans)

    # -- step 3: count what was released --------------------------------------------------

    def _count_released(self, job: Object, pods: list[Object], released: set[str]
                        ) -> Object:
        status = copy.deepcopy(job.get("status") or {})
        uncounted = status.setdefault("uncountedTerminatedPods", {})
        holding = {p["metadata"]["uid"] for p in pods if jp.has_finalizer(p)} - released
        for kind in ("succeeded", "failed"):
            uids = uncounted.get(kind) or []
            moved = [u for u in uids if u not in holding]
            kept = [u for u in uids if u in holding]
            status[kind] = int(status.get(kind) or 0) + len(moved)
            if kept:
                uncounted[kind] = kept
            else:
                uncounted.pop(kind, None)
        if job["spec"].get("completionMode") == "Indexed":
            status["succeeded"] = len(jp.parse_indexes(status.get("completedIndexes")))
        return status

    # -- decisions ----------------------------------------------------------------------------

    def _outcome(self, job: Object, status: Object, active: list[Object], fail_job: str,
                 now: float) -> _Outcome:
        for kind in ("FailureTarget", "SuccessCriteriaMet"):
            existing = get_condition(status.get("conditions"), kind)
            if existing and existing.get("status") == "True":
                return _Outcome(kind, str(existing.get("reason")), str(existing.get("message")))
        spec = job["spec"]
        if fail_job:
            return _Outcome("FailureTarget", "PodFailurePolicy", fail_job)
        failed = int(status.get("failed") or 0) + len(
            (status.get("uncountedTerminatedPods") or {}).get("failed") or [])
        if dig(spec, "template", "spec", "restartPolicy") == "OnFailure":
            failed += sum(jp.restarts(p) for p in active)  # restarts in place count too
        if failed > int(spec.get("backoffLimit", 6)):
            return _Outcome("FailureTarget", "BackoffLimitExceeded",
                            "Job has reached the specified backoff limit")
        deadline = spec.get("activeDeadlineSeconds")
        start = status.get("startTime")
        if deadline is not None and start and not spec.get("suspend") and \
                now - parse_time(start) >= deadline:
            return _Outcome("FailureTarget", "DeadlineExceeded",
                            "Job was active longer than specified deadline")
        if self._succeeded(job, status, active):
            return _Outcome("SuccessCriteriaMet", "CompletionsReached",
                            "Reached expected number of succeeded pods")
        return _Outcome()

    @staticmethod
    def _succeeded(job: Object, status: Object, active: list[Object]) -> bool:
        spec = job["spec"]
        done = int(status.get("succeeded") or 0) + len(
            (status.get("uncountedTerminatedPods") or {}).get("succeeded") or [])
        completions = spec.get("completions")
        if spec.get("completionMode") == "Indexed":
            return len(jp.parse_indexes(status.get("completedIndexes"))) >= (completions or 0)
        if completions is None:
            return done > 0 and not active
        return done >= int(completions)

    async def _manage(self, key: str, job: Object, pods: list[Object],
                      holding: list[Object], status: Object, fail_job: str) -> Object:
        """Decide and act: finish, suspend, or scale; `holding` are the pods still
        holding the finalizer after this sync's releases."""
        now = self.clock()
        stamp = format_time(now)
        active = [p for p in pods if jp.is_active(p)]
        spec = job["spec"]
        suspended = bool(spec.get("suspend"))
        outcome = self._outcome(job, status, active, fail_job, now)
        if outcome.condition:
            set_condition(status, {"type": outcome.condition, "status": "True",
                                   "reason": outcome.reason, "message": outcome.message},
                          now=stamp)
            await self._delete(key, job, active)
            if not holding and not status.get("uncountedTerminatedPods"):
                await self._finish(job, status, outcome, stamp)
            active = []
        else:
            await self._suspend_or_resume(job, status, suspended, stamp)
            if suspended:
                await self._delete(key, job, active)
                active = []
            elif self.expectations.satisfied(key):
                active = await self._scale(key, job, pods, active, status, now)
            if not suspended:
                status.setdefault("startTime", stamp)
            deadline = spec.get("activeDeadlineSeconds")
            if deadline is not None and status.get("startTime") and not suspended:
                left = parse_time(status["startTime"]) + deadline - now
                self.queue.add_after(key, max(left, 0.0) + 0.1)
        status["active"] = len(active)
        status["ready"] = sum(1 for p in active if is_ready(p))
        status["terminating"] = sum(1 for p in pods if jp.is_terminating(p))
        status.setdefault("uncountedTerminatedPods", {})
        return status

    async def _finish(self, job: Object, status: Object, outcome: _Outcome,
                      stamp: str) -> None:
        final = "Failed" if outcome.condition == "FailureTarget" else "Complete"
        set_condition(status, {"type": final, "status": "True", "reason": outcome.reason,
                               "message": outcome.message}, now=stamp)
        if final == "Complete":
            status["completionTime"] = stamp
            await self.recorder.event(job, "Normal", "Completed", "Job completed")
        else:
            await self.recorder.event(job, "Warning", outcome.reason, outcome.message)

    async def _suspend_or_resume(self, job: Object, status: Object, suspended: bool,
                                 stamp: str) -> None:
        current = get_condition(status.get("conditions"), "Suspended")
        if suspended and (current or {}).get("status") != "True":
            set_condition(status, {"type": "Suspended", "status": "True",
                                   "reason": "JobSuspended", "message": "Job suspended"},
                          now=stamp)
            status.pop("startTime", None)  # activeDeadlineSeconds restarts on resume
            await self.recorder.event(job, "Normal", "Suspended", "Job suspended")
        elif not suspended and (current or {}).get("status") == "True":
            set_condition(status, {"type": "Suspended", "status": "False",
                                   "reason": "JobResumed", "message": "Job resumed"},
                          now=stamp)
            await self.recorder.event(job, "Normal", "Resumed", "Job resumed")

    async def _scale(self, key: str, job: Object, pods: list[Object],
                     active: list[Object], status: Object, now: float) -> list[Object]:
        """Create or delete pods toward the wanted number of active ones; the list of
        active pods as it will be."""
        spec = job["spec"]
        parallelism = int(spec.get("parallelism", 1))
        if spec.get("completionMode") == "Indexed":
            done = jp.parse_indexes(status.get("completedIndexes"))
            running = {jp.completion_index(p) for p in active}
            missing = [i for i in range(int(spec.get("completions") or 0))
                       if i not in done and i not in running]
            indexes: list[int | None] = list(missing[:max(parallelism - len(active), 0)])
            surplus = len(active) - parallelism
        else:
            succeeded = int(status.get("succeeded") or 0)
            completions = spec.get("completions")
            if completions is None:
                want = len(active) if succeeded > 0 else parallelism
            else:
                want = max(min(parallelism, completions - succeeded), 0)
            indexes = [None] * max(want - len(active), 0)
            surplus = len(active) - want
        if surplus > 0:
            victims = pods_to_delete(active, min(surplus, BURST))
            await self._delete(key, job, victims)
            return [p for p in active if p not in victims]
        if not indexes:
            return active
        wait = self._backoff_left(pods, now)
        if wait > 0:
            self.queue.add_after(key, wait)
            return active
        created = await self._create(key, job, indexes[:BURST])
        return active + created

    def _backoff_left(self, pods: list[Object], now: float) -> float:
        """Seconds until replacements may start: failures since the last success,
        each doubling the delay (Kubernetes' pod backoff)."""
        finished = sorted((p for p in pods if jp.is_finished(p)), key=jp.finish_time)
        failures, last = 0, 0.0
        for pod in finished:
            if jp.succeeded(pod):
                failures = 0
            else:
                failures, last = failures + 1, jp.finish_time(pod)
        delay = jp.backoff_delay(failures, self.settings.job_backoff_base,
                                 self.settings.job_backoff_max)
        return max(last + delay - now, 0.0) if failures else 0.0

    async def _create(self, key: str, job: Object, indexes: list[int | None]
                      ) -> list[Object]:
        self.expectations.expect(key, adds=len(indexes))
        created: list[Object] = []
        batch, pending = 1, list(indexes)
        while pending:
            chunk, pending = pending[:batch], pending[batch:]
            results = await asyncio.gather(
                *(self.client.create(PODS, jp.pod_for(job, i)) for i in chunk),
                return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException)]
            for result in results:
                if isinstance(result, BaseException):
                    self.expectations.creation_observed(key)
                    await self.recorder.event(job, "Warning", "FailedCreate",
                                              f"Error creating: {result}")
                else:
                    created.append(result)
                    await self.recorder.event(job, "Normal", "SuccessfulCreate",
                                              f"Created pod: {result['metadata']['name']}")
            if errors:
                for _ in pending:
                    self.expectations.creation_observed(key)
                first = errors[0]
                if isinstance(first, ClientError):
                    raise first
                raise first
            batch *= 2
        return created

    async def _delete(self, key: str, job: Object, victims: list[Object]) -> None:
        async def delete(pod: Object) -> None:
            meta = pod["metadata"]
            try:
                await self.client.delete(PODS, meta["name"], meta["namespace"])
            except NotFound:
                return
            await self.recorder.event(job, "Normal", "SuccessfulDelete",
                                      f"Deleted pod: {meta['name']}")

        await asyncio.gather(*(delete(p) for p in victims))

    async def _write_status(self, job: Object, status: Object) -> Object | None:
        """The Job as stored after the write; None if it is gone or changed meanwhile
        (the informer's next event brings it back)."""
        try:
            return await self.client.update(JOBS, {**job, "status": status},
                                            subresource="status")
        except NotFound:
            return None
        except Conflict:
            self.queue.add_after(object_key(job),
                                 0.1)
            return None

