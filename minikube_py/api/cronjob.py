"""CronJobs (batch/v1): defaults, schedule and time-zone validation, `kubectl get cj`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import cron, field, job, table, workload
from minikube_py.api.errors import Cause
from minikube_py.api.shape import as_dict, dicts, dig
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object

CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")
# A Job's name is the CronJob's plus "-<minutes since epoch>" (11 characters), and must
# still be a valid label value (63) for the job-name label.
MAX_NAME_LENGTH = 52


def schedule_causes(spec: Mapping[str, Any], *, allow_tz: bool) -> list[Cause]:
    """validateScheduleFormat: parses, and TZ only in objects that already had it."""
    schedule, time_zone = spec.get("schedule"), spec.get("timeZone")
    if not isinstance(schedule, str) or not schedule:
        return [field.required("spec.schedule")]
    causes: list[Cause] = []
    try:
        cron.Schedule.parse(schedule)
    except ValueError as e:
        causes.append(field.invalid("spec.schedule", schedule, str(e)))
    if "TZ" in schedule:
        if not allow_tz:
            causes.append(field.invalid("spec.schedule", schedule, "cannot use TZ or CRON_TZ "
                                        "in schedule, use timeZone field instead"))
        elif time_zone is not None:
            causes.append(field.invalid("spec.schedule", schedule, "cannot use both timeZone "
                                        "field and TZ or CRON_TZ in schedule"))
    if time_zone is not None:
        if not isinstance(time_zone, str) or time_zone == "" or time_zone == "Local":
            causes.append(field.invalid("spec.timeZone", time_zone, "unknown time zone "
                                        f"{time_zone}"))
        else:
            try:
                cron.zone(time_zone)
            except ValueError as e:
                causes.append(field.invalid("spec.timeZone", time_zone, str(e)))
    return causes


def schedule_of(cronjob: Mapping[str, Any]) -> cron.Schedule:
    """The parsed schedule in the CronJob's zone (ValueError if either is bad)."""
    spec = as_dict(cronjob.get("spec"))
    return cron.Schedule.parse(str(spec.get("schedule", "")),
                               cron.zone(str(spec.get("timeZone") or "")))


class CronJobStrategy(Strategy):
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Schedule", description="The schedule in Cron format, see "
                                             "https://en.wikipedia.org/wiki/Cron."),
        table.Column("Timezone", description="The time zone name for the given schedule."),
        table.Column("Suspend", type="boolean",
                     description="This flag tells the controller to suspend subsequent "
                                 "executions."),
        table.Column("Active", type="integer", description="A list of pointers to currently "
                                                           "running jobs."),
        table.Column("Last Schedule", description="Information when was the last time the job "
                                                  "was successfully scheduled."),
        table.AGE,
        workload.CONTAINERS, workload.IMAGES, workload.SELECTOR,
    )

    def set_defaults(self, obj: Object) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
        job_spec = dig(spec, "jobTemplate", "spec")
        if isinstance(job_spec, dict):
            job.set_job_spec_defaults(job_spec)

    def validate_create(self, obj: Object) -> list[Cause]:
        return super().validate_create(obj) + self._spec_causes(obj, allow_tz=False)

    def validate_update(self, new: Object, old: Object) -> list[Cause]:
        had_tz = "TZ" in str(dig(old, "spec", "schedule", default=""))
        return super().validate_update(new, old) + self._spec_causes(new, allow_tz=had_tz)

    def _spec_causes(self, obj: Object, *, allow_tz: bool) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, Mapping):
            return [field.required("spec")]
        causes = schedule_causes(spec, allow_tz=allow_tz)
        name = dig(obj, "metadata", "name")
        if isinstance(name, str) and len(name) > MAX_NAME_LENGTH:
            causes.append(field.invalid("metadata.name", name, "must be no more than "
                                        f"{MAX_NAME_LENGTH} characters"))
        policy = spec.get("concurrencyPolicy")
        if policy not in CONCURRENCY_POLICIES:
            causes.append(field.not_supported("spec.concurrencyPolicy", policy,
                                              CONCURRENCY_POLICIES))
        for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit",
                    "failedJobsHistoryLimit"):
            causes += field.at_least(f"spec.{key}", spec.get(key))
        template = spec.get("jobTemplate")
        if not isinstance(template, Mapping):
            return [*causes, field.required("spec.jobTemplate")]
        causes += job.job_spec_causes(template.get("spec"), "spec.jobTemplate.spec")
        return causes

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
        job_spec = dig(spec, "jobTemplate", "spec", default={})
        containers, images = table.containers_and_images(dig(job_spec, "template", "spec",
                                                             default={}))
        last = status.get("lastScheduleTime")
        return [table.name(obj), spec.get("schedule", ""), spec.get("timeZone") or "<none>",
                "True" if spec.get("suspend") else "False", len(dicts(status.get("active"))),
                table.since(last, now) if last else "<none>", table.age(obj, now),
                containers, images, workload.selector_text(dig(job_spec, "selector"))]
