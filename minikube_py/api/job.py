"""Jobs (batch/v1): defaults, the generated selector, validation and `kubectl get job`.

Unless `manualSelector` is set, the api-server picks the selector itself, as
kube-apiserver's job strategy does: the template gets the job-name and
controller-uid labels (both spellings) and the selector matches the uid, so
two Jobs of the same name in time never share a pod.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, podspec, table, workload
from minikube_py.api.errors import Cause
from minikube_py.api.meta import parse_time
from minikube_py.api.shape import as_dict, dicts, dig, str_field
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object

CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
JOB_NAME = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID = "controller-uid"
LEGACY_JOB_NAME = "job-name"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"

COMPLETION_MODES = ("NonIndexed", "Indexed")
RESTART_POLICIES = ("OnFailure", "Never")
RULE_ACTIONS = ("Count", "FailIndex", "FailJob", "Ignore")
EXIT_CODE_OPERATORS = ("In", "NotIn")
POD_REPLACEMENT_POLICIES = ("TerminatingOrFailed", "Failed")


def set_job_spec_defaults(spec: dict[str, Any]) -> None:
    """SetDefaults_Job for a JobSpec (also a CronJob's jobTemplate.spec)."""
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    policy = spec.get("podFailurePolicy")
    spec.setdefault("podReplacementPolicy", "Failed" if policy else "TerminatingOrFailed")
    for rule in dicts(as_dict(policy).get("rules")):
        for pattern in dicts(rule.get("onPodConditions")):
            pattern.setdefault("status", "True")
    template_spec = dig(spec, "template", "spec")
    if isinstance(template_spec, dict):
        podspec.default_pod_spec(template_spec)


def job_spec_causes(spec: Any, path: str) -> list[Cause]:
    """ValidateJobSpec, without the generated-selector check (a CronJob's template has
    no selector yet)."""
    if not isinstance(spec, Mapping):
        return [field.required(path)]
    causes: list[Cause] = []
    for key in ("parallelism", "completions", "backoffLimit", "ttlSecondsAfterFinished"):
        causes += field.at_least(f"{path}.{key}", spec.get(key))
    causes += field.at_least(f"{path}.activeDeadlineSeconds", spec.get("activeDeadlineSeconds"), 1)
    mode = spec.get("completionMode", "NonIndexed")
    if mode not in COMPLETION_MODES:
        causes.append(field.not_supported(f"{path}.completionMode", mode, COMPLETION_MODES))
    elif mode == "Indexed" and spec.get("completions") is None:
        causes.append(field.required(f"{path}.completions",
                                     "when completion mode is Indexed"))
    replacement = spec.get("podReplacementPolicy")
    if replacement is not None and replacement not in POD_REPLACEMENT_POLICIES:
        causes.append(field.not_supported(f"{path}.podReplacementPolicy", replacement,
                                          POD_REPLACEMENT_POLICIES))
    for key in ("suspend", "manualSelector"):
        if spec.get(key) is not None and not isinstance(spec.get(key), bool):
            causes.append(field.invalid(f"{path}.{key}", spec.get(key), "must be a boolean"))
    template = spec.get("template")
    if not isinstance(template, Mapping):
        return [*causes, field.required(f"{path}.template")]
    causes += workload.pod_template_causes(template, f"{path}.template", RESTART_POLICIES)
    restart = dig(template, "spec", "restartPolicy")
    causes += _pod_failure_policy_causes(spec.get("podFailurePolicy"), restart,
                                         f"{path}.podFailurePolicy")
    return causes


def _pod_failure_policy_causes(policy: Any, restart: Any, path: str) -> list[Cause]:
    if policy is None:
        return []
    if not isinstance(policy, Mapping):
        return [field.invalid(path, policy, "must be an object")]
    causes: list[Cause] = []
    if restart != "Never":
        causes.append(field.invalid(f"{path}", "", 'only "Never" is supported when '
                                                   "podFailurePolicy is specified"))
    for rule_path, rule in field.objects(policy.get("rules"), f"{path}.rules", causes):
        action = rule.get("action")
        if action not in RULE_ACTIONS:
            causes.append(field.not_supported(f"{rule_path}.action", action, RULE_ACTIONS))
        on_codes, on_conditions = rule.get("onExitCodes"), rule.get("onPodConditions")
        if (on_codes is None) == (on_conditions is None):
            causes.append(field.invalid(rule_path, "", "specifying one of onExitCodes and "
                                                       "onPodConditions is required"))
        if isinstance(on_codes, Mapping):
            causes += _exit_codes_causes(on_codes, f"{rule_path}.onExitCodes")
        elif on_codes is not None:
            causes.append(field.invalid(f"{rule_path}.onExitCodes", on_codes,
                                        "must be an object"))
        for cond_path, pattern in field.objects(on_conditions, f"{rule_path}.onPodConditions",
                                                causes):
            if not isinstance(pattern.get("type"), str) or not pattern.get("type"):
                causes.append(field.required(f"{cond_path}.type"))
            if pattern.get("status", "True") not in ("True", "False", "Unknown"):
                causes.append(field.not_supported(f"{cond_path}.status", pattern.get("status"),
                                                  ("True", "False", "Unknown")))
    return causes


def _exit_codes_causes(req: Mapping[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    operator = req.get("operator")
    if operator not in EXIT_CODE_OPERATORS:
        causes.append(field.not_supported(f"{path}.operator", operator, EXIT_CODE_OPERATORS))
    values = req.get("values")
    if not isinstance(values, list) or not values:
        return [*causes, field.required(f"{path}.values")]
    seen: set[int] = set()
    for i, value in enumerate(values):
        if not isinstance(value, int) or isinstance(value, bool):
            causes.append(field.invalid(f"{path}.values[{i}]", value, "must be an integer"))
        elif value in seen:
            causes.append(field.duplicate(f"{path}.values[{i}]", value))
        elif value == 0 and operator == "In":
            causes.append(field.invalid(f"{path}.values[{i}]", 0,
                                        "must not be 0 for the In operator"))
        else:
            seen.add(value)
    return causes


def generate_selector(job: Object) -> None:
    """The job strategy's generateSelector: labels on the template, a uid selector."""
    meta, spec = as_dict(job.get("metadata")), job.get("spec")
    if not isinstance(spec, dict) or spec.get("manualSelector") is True:
        return
    template = spec.setdefault("template", {})
    if not isinstance(template, dict):
        return
    template_meta = template.setdefault("metadata", {})
    if not isinstance(template_meta, dict):
        return
    labels = template_meta.get("labels")
    if not isinstance(labels, dict):
        labels = template_meta["labels"] = {}
    for key in (LEGACY_JOB_NAME, JOB_NAME):
        labels.setdefault(key, str(meta.get("name", "")))
    for key in (LEGACY_CONTROLLER_UID, CONTROLLER_UID):
        labels.setdefault(key, str(meta.get("uid", "")))
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        selector = spec["selector"] = {}
    match = selector.get("matchLabels")
    if not isinstance(match, dict):
        match = selector["matchLabels"] = {}
    match.setdefault(CONTROLLER_UID, str(meta.get("uid", "")))


def completions_text(job: Mapping[str, Any]) -> str:
    """kubectl's COMPLETIONS cell: '3/5', or '0/1 of 4' for a work queue."""
    spec, succeeded = as_dict(job.get("spec")), dig(job, "status", "succeeded", default=0)
    if spec.get("completions") is not None:
        return f"{succeeded}/{spec['completions']}"
    parallelism = spec.get("parallelism") or 0
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def _has_condition(job: Mapping[str, Any], kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True"
               for c in dicts(dig(job, "status", "conditions")))


def status_text(job: Mapping[str, Any]) -> str:
    """kubectl's STATUS cell, in printJob's order."""
    if _has_condition(job, "Complete"):
        return "Complete"
    if _has_condition(job, "Failed"):
        return "Failed"
    if dig(job, "metadata", "deletionTimestamp"):
        return "Terminating"
    for kind in ("Suspended", "FailureTarget"):
        if _has_condition(job, kind):
            return kind
    return "Running"


def duration_text(job: Mapping[str, Any], now: datetime) -> str:
    start, end = dig(job, "status", "startTime"), dig(job, "status", "completionTime")
    if not isinstance(start, str):
        return ""
    until = parse_time(end) if isinstance(end, str) else now
    return table.human_duration((until - parse_time(start)).total_seconds())


class JobStrategy(Strategy):
    selectable_fields = ("status.successful",)
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Status", description="Status of the job."),
        table.Column("Completions", description="The completion status of the job."),
        table.Column("Duration", description="Time required to complete the job."),
        table.AGE,
        workload.CONTAINERS, workload.IMAGES, workload.SELECTOR,
    )

    def set_defaults(self, obj: Object) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        set_job_spec_defaults(spec)
        labels = dig(spec, "template", "metadata", "labels")
        meta = obj.get("metadata")
        if isinstance(labels, dict) and labels and isinstance(meta, dict) \
                and not meta.get("labels"):
            meta["labels"] = dict(labels)

    def prepare_create(self, obj: Object) -> None:
        super().prepare_create(obj)
        generate_selector(obj)

    def validate(self, obj: Object) -> list[Cause]:
        spec = obj.get("spec")
        causes = job_spec_causes(spec, "spec")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("template"), Mapping):
            return causes
        causes += workload.selector_and_template_causes(spec, "spec", restart_policies=())
        if spec.get("manualSelector") is not True:
            causes += _generated_selector_causes(obj, spec)
        return causes

    def immutable_causes(self, new: Object, old: Object) -> list[Cause]:
        causes: list[Cause] = []
        for key in ("selector", "template", "completionMode", "podFailurePolicy"):
            value = dig(new, "spec", key)
            if value != dig(old, "spec", key):
                causes.append(field.immutable(f"spec.{key}", value))
        completions = dig(new, "spec", "completions")
        if completions != dig(old, "spec", "completions") and not _elastic(new):
            causes.append(field.immutable("spec.completions", completions))
        return causes

    def extra_field_values(self, obj: Object) -> dict[str, str]:
        return {"status.successful": str_field(dig(obj, "status", "succeeded", default=0))}

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        containers, images = table.containers_and_images(
            dig(obj, "spec", "template", "spec", default={}))
        return [table.name(obj), status_text(obj), completions_text(obj),
                duration_text(obj, now), table.age(obj, now), containers, images,
                workload.selector_text(dig(obj, "spec", "selector"))]


def _elastic(job: Mapping[str, Any]) -> bool:
    """Indexed Jobs may scale completions together with parallelism (elastic Jobs)."""
    spec = as_dict(job.get("spec"))
    return spec.get("completionMode") == "Indexed" and \
        spec.get("completions") == spec.get("parallelism")


def _generated_selector_causes(obj: Mapping[str, Any], spec: Mapping[str, Any]) -> list[Cause]:
    uid = dig(obj, "metadata", "uid")
    if not uid:
        return []
    if dig(spec, "selector", "matchLabels", CONTROLLER_UID) != uid:
        return [field.invalid("spec.selector", spec.get("selector"),
                              "`selector` not auto-generated")]
    if dig(spec, "template", "metadata", "labels", CONTROLLER_UID) != uid:
        return [field.invalid(f"spec.template.metadata.labels[{CONTROLLER_UID}]",
                              dig(spec, "template", "metadata", "labels", CONTROLLER_UID),
                              f"must be '{uid}'")]
    return []
