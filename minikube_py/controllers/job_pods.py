"""What the Job controller decides from its pods alone (pure functions, as
Kubernetes' job_controller helpers and pod_failure_policy.go): which pods
finished and how, the podFailurePolicy verdict, completion indexes, the pod
backoff, and the pod a Job creates."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass

from minikube_py.api.backoff import Exponential
from minikube_py.api.job import COMPLETION_INDEX, TRACKING_FINALIZER
from minikube_py.api.meta import owner_reference
from minikube_py.api.types import Object
from minikube_py.controllers.pods import parse_time


def phase(pod: Object) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def is_finished(pod: Object) -> bool:
    """Succeeded, Failed, or deleted before it finished (which counts as a failure)."""
    return phase(pod) in ("Succeeded", "Failed") or bool(pod["metadata"].get("deletionTimestamp"))


def succeeded(pod: Object) -> bool:
    return phase(pod) == "Succeeded"


def has_finalizer(pod: Object) -> bool:
    return TRACKING_FINALIZER in (pod["metadata"].get("finalizers") or [])


def is_active(pod: Object) -> bool:
    return not is_finished(pod)


def is_terminating(pod: Object) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp")) and \
        phase(pod) not in ("Succeeded", "Failed")


def finish_time(pod: Object) -> float:
    """When the pod's last container ended (else its deletion or creation time)."""
    ends = [parse_time(((s.get("state") or {}).get("terminated") or {}).get("finishedAt"))
            for s in (pod.get("status") or {}).get("containerStatuses") or []]
    ends = [e for e in ends if e]
    if ends:
        return max(ends)
    return parse_time(pod["metadata"].get("deletionTimestamp")) or \
        parse_time(pod["metadata"].get("creationTimestamp"))


def restarts(pod: Object) -> int:
    return sum(int(s.get("restartCount") or 0)
               for s in (pod.get("status") or {}).get("containerStatuses") or [])


def completion_index(pod: Object) -> int | None:
    value = (pod["metadata"].get("annotations") or {}).get(COMPLETION_INDEX)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


# -- podFailurePolicy ------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    """What a failed pod means under podFailurePolicy: action and the message Kubernetes
    writes for a FailJob rule."""

    action: str  # "Count", "Ignore", "FailJob", "FailIndex"
    message: str = ""


def _exit_code_match(pod: Object, requirement: Object) -> tuple[str, int] | None:
    operator, values = requirement.get("operator"), set(requirement.get("values") or [])
    wanted = requirement.get("containerName")
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (status.get("state") or {}).get("terminated")
        if not terminated or (wanted and status.get("name") != wanted):
            continue
        code = int(terminated.get("exitCode") or 0)
        if code != 0 and ((operator == "In") == (code in values)):
            return str(status.get("name")), code
    return None


def _condition_match(pod: Object, patterns: Iterable[Object]) -> str | None:
    conditions = (pod.get("status") or {}).get("conditions") or []
    for pattern in patterns:
        for condition in conditions:
            if condition.get("type") == pattern.get("type") and \
                    condition.get("status") == pattern.get("status", "True"):
                return str(condition.get("type"))
    return None


def failure_verdict(job: Object, pod: Object) -> Verdict:
    """The first matching rule's action (Count when none matches or there is no policy)."""
    rules = ((job["spec"].get("podFailurePolicy") or {}).get("rules")) or []
    where = f"{pod['metadata'].get('namespace')}/{pod['metadata']['name']}"
    for i, rule in enumerate(rules):
        action = str(rule.get("action"))
        if rule.get("onExitCodes") is not None:
            match = _exit_code_match(pod, rule["onExitCodes"])
            if match is not None:
                return Verdict(action, f"Container {match[0]} for pod {where} failed with exit "
                                       f"code {match[1]} matching {action} rule at index {i}")
        elif rule.get("onPodConditions") is not None:
            condition = _condition_match(pod, rule["onPodConditions"])
            if condition is not None:
                return Verdict(action, f"Pod {where} has condition {condition} matching "
                                       f"{action} rule at index {i}")
    return Verdict("Count")


# -- completion indexes ------------------------------------------------------------------

def parse_indexes(text: str | None) -> set[int]:
    """status.completedIndexes ('1,3-5') as a set."""
    out: set[int] = set()
    for part in (text or "").split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        out.update(range(int(low), int(high or low) + 1))
    return out


def format_indexes(indexes: Iterable[int]) -> str:
    """The compressed form Kubernetes writes: '1,3-5'."""
    ordered, parts = sorted(set(indexes)), []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


# -- backoff ---------------------------------------------------------------------------------

def backoff_delay(failures: int, base: float, cap: float) -> float:
    """Kubernetes' pod backoff: base, doubled per failure in a row, capped."""
    return Exponential(base, cap).delay(failures - 1) if failures > 0 else 0.0


# -- the pod a Job creates -----------------------------------------------------------------

def pod_for(job: Object, index: int | None) -> Object:
    """A pod from the Job's template: owned, tracked by finalizer, and for Indexed Jobs
    carrying its index (annotation, label, JOB_COMPLETION_INDEX, hostname)."""
    template = job["spec"].get("template") or {}
    template_meta = template.get("metadata") or {}
    name = job["metadata"]["name"]
    meta: Object = {
        "generateName": f"{name}-" if index is None else f"{name}-{index}-",
        "namespace": job["metadata"]["namespace"],
        "labels": dict(template_meta.get("labels") or {}),
        "annotations": dict(template_meta.get("annotations") or {}),
        "ownerReferences": [owner_reference(job)],
        "finalizers": [TRACKING_FINALIZER],
    }
    spec = copy.deepcopy(template.get("spec") or {})
    if index is not None:
        meta["annotations"][COMPLETION_INDEX] = str(index)
        meta["labels"][COMPLETION_INDEX] = str(index)
        spec.setdefault("hostname", f"{name}-{index}")
        env = {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
            "fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}}}
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            envs = container.setdefault("env", [])
            if not any(e.get("name") == "JOB_COMPLETION_INDEX" for e in envs):
                envs.append(copy.deepcopy(env))
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
