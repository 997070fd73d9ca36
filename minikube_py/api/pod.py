"""Pods: defaults (including what Kubernetes' admission plugins add), validation,
the update rules (a running pod's spec is nearly immutable), and `kubectl get pods`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from minikube_py.api import field, podspec, table
from minikube_py.api.errors import Cause
from minikube_py.api.quantity import parse_quantity
from minikube_py.api.shape import as_dict, as_list, dicts, dig, str_field
from minikube_py.api.strategy import Strategy
from minikube_py.api.types import Object

PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
# DefaultTolerationSeconds admission: evict from a broken node after 5 minutes.
_DEFAULT_TOLERATION_KEYS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)")


def qos_class(spec: Mapping[str, Any]) -> str:
    """Guaranteed, Burstable or BestEffort, from requests and limits (qos.GetPodQOS)."""
    containers = dicts(spec.get("initContainers")) + dicts(spec.get("containers"))
    any_set, guaranteed = False, True
    for container in containers:
        resources = as_dict(container.get("resources"))
        requests = {k: v for k, v in as_dict(resources.get("requests")).items()
                    if k in ("cpu", "memory")}
        limits = {k: v for k, v in as_dict(resources.get("limits")).items()
                  if k in ("cpu", "memory")}
        any_set = any_set or bool(requests) or bool(limits)
        if set(limits) != {"cpu", "memory"}:
            guaranteed = False
            continue
        for name, limit in limits.items():
            request = requests.get(name, limit)
            if _quantity(request) != _quantity(limit):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _quantity(value: Any) -> Any:
    try:
        return parse_quantity(value)
    except ValueError:
        return value


def _default_tolerations(spec: Object) -> None:
    tolerations = spec.get("tolerations")
    if tolerations is None:
        tolerations = spec["tolerations"] = []
    if not isinstance(tolerations, list):
        return
    for key in _DEFAULT_TOLERATION_KEYS:
        if any(isinstance(t, Mapping) and t.get("key") in (key, None, "")
               and t.get("effect") in ("NoExecute", None, "") for t in tolerations):
            continue
        tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                            "tolerationSeconds": 300})


class PodStrategy(Strategy):
    selectable_fields = ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                         "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
                         "status.podIP", "status.nominatedNodeName")
    columns: ClassVar[tuple[table.Column, ...]] = (
        table.NAME,
        table.Column("Ready", description="The aggregate readiness state of this pod for "
                                          "accepting traffic."),
        table.Column("Status", description="The aggregate status of the containers in this "
                                           "pod."),
        table.Column("Restarts", description="The number of times the containers in this pod "
                                             "have been restarted and when the last container "
                                             "in this pod has restarted."),
        table.AGE,
        table.Column("IP", priority=1, description="IP address allocated to the pod."),
        table.Column("Node", priority=1, description="NodeName is a request to schedule this "
                                                     "pod onto a specific node."),
        table.Column("Nominated Node", priority=1,
                     description="nominatedNodeName is set when this pod preempts other pods."),
        table.Column("Readiness Gates", priority=1,
                     description="If specified, all readiness gates will be evaluated for pod "
                                 "readiness."),
    )

    def set_defaults(self, obj: Object) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        podspec.default_pod_spec(spec)
        spec.setdefault("enableServiceLinks", True)
        # Admission plugins: ServiceAccount, Priority, DefaultTolerationSeconds.
        account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        spec["serviceAccountName"] = spec["serviceAccount"] = account
        spec.setdefault("priority", 0)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        _default_tolerations(spec)
        for key in ("initContainers", "containers"):
            for container in dicts(spec.get(key)):
                resources = container.get("resources") if isinstance(container, dict) else None
                if isinstance(resources, dict) and isinstance(resources.get("limits"), dict):
                    requests = resources.setdefault("requests", {})
                    if isinstance(requests, dict):
                        for name, limit in resources["limits"].items():
                            requests.setdefault(name, limit)

    def validate(self, obj: Object) -> list[Cause]:
        causes = podspec.validate_pod_spec(obj.get("spec"), "spec")
        phase = dig(obj, "status", "phase")
        if phase is not None and phase not in PHASES:
            causes.append(field.not_supported("status.phase", phase, PHASES))
        return causes

    def initial_status(self, obj: Object) -> Object:
        spec = obj.get("spec")
        return {"phase": "Pending",
                "qosClass": qos_class(spec if isinstance(spec, Mapping) else {})}

    def immutable_causes(self, new: Object, old: Object) -> list[Cause]:
        return _spec_update_causes(new.get("spec"), old.get("spec"))

    def extra_field_values(self, obj: Object) -> dict[str, str]:
        return {
            "spec.nodeName": str_field(dig(obj, "spec", "nodeName")),
            "spec.restartPolicy": str_field(dig(obj, "spec", "restartPolicy")),
            "spec.schedulerName": str_field(dig(obj, "spec", "schedulerName")),
            "spec.serviceAccountName": str_field(dig(obj, "spec", "serviceAccountName")),
            "spec.hostNetwork": str_field(bool(dig(obj, "spec", "hostNetwork"))),
            "status.phase": str_field(dig(obj, "status", "phase")),
            "status.podIP": str_field(dig(obj, "status", "podIP")),
            "status.nominatedNodeName": str_field(dig(obj, "status", "nominatedNodeName")),
        }

    def row(self, obj: Mapping[str, Any], now: datetime) -> list[Any]:
        return pod_row(obj, now)


def _spec_update_causes(new: Any, old: Any) -> list[Cause]:
    """Only images, activeDeadlineSeconds and added tolerations may change in a pod."""
    if not isinstance(new, Mapping) or not isinstance(old, Mapping):
        return []
    if new.get("nodeName") and old.get("nodeName") and new["nodeName"] != old["nodeName"]:
        return [field.immutable("spec.nodeName", new["nodeName"])]
    # Shallow copies: the mask only replaces what may change, nothing is mutated.
    masked = dict(new)
    for key in ("containers", "initContainers"):
        new_list, old_list = as_list(new.get(key)), as_list(old.get(key))
        if key in new and len(new_list) == len(old_list):
            masked[key] = [{**mine, "image": theirs.get("image")}
                           if isinstance(mine, dict) and isinstance(theirs, Mapping) else mine
                           for mine, theirs in zip(new_list, old_list, strict=True)]
    may_change = ["activeDeadlineSeconds", "terminationGracePeriodSeconds"]
    old_tolerations = as_list(old.get("tolerations"))
    if all(t in as_list(new.get("tolerations")) for t in old_tolerations):
        may_change.append("tolerations")
    if not old.get("nodeName"):
        may_change.append("nodeName")
    for key in may_change:
        if key in old:
            masked[key] = old[key]
        else:
            masked.pop(key, None)
    if masked != dict(old):
        return [field.forbidden("spec", _UPDATE_FORBIDDEN)]
    return []


def pod_row(pod: Mapping[str, Any], now: datetime) -> list[Any]:
    """NAME READY STATUS RESTARTS AGE | IP NODE NOMINATED NODE READINESS GATES (printPod)."""
    spec, status = as_dict(pod.get("spec")), as_dict(pod.get("status"))
    reason = status.get("reason") or status.get("phase") or ""
    restarts, ready, last_restart = 0, 0, ""
    init_statuses = as_list(status.get("initContainerStatuses"))
    initializing = False
    for i, container in enumerate(init_statuses):
        restarts += int(container.get("restartCount") or 0)
        state = as_dict(container.get("state"))
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated and terminated.get("exitCode") == 0:
            continue
        initializing = True
        if terminated:
            reason = "Init:" + (terminated.get("reason") or _exit_text(terminated))
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(as_list(spec.get('initContainers')))}"
        break
    if not initializing:
        restarts, has_running = 0, False
        for container in reversed(dicts(status.get("containerStatuses"))):
            restarts += int(container.get("restartCount") or 0)
            finished = dig(container, "lastState", "terminated", "finishedAt")
            if finished and finished > last_restart:
                last_restart = finished
            state = as_dict(container.get("state"))
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated:
                reason = terminated.get("reason") or _exit_text(terminated)
            elif container.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            ready_condition = any(c.get("type") == "Ready" and c.get("status") == "True"
                                  for c in dicts(status.get("conditions")))
            reason = "Running" if ready_condition else "NotReady"
    deleting = as_dict(pod.get("metadata")).get("deletionTimestamp")
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and status.get("phase") not in ("Succeeded", "Failed"):
        reason = "Terminating"
    restarts_text = str(restarts)
    if restarts and last_restart:
        restarts_text = f"{restarts} ({table.since(last_restart, now)} ago)"
    gates = as_list(spec.get("readinessGates"))
    gates_text = "<none>"
    if gates:
        true_conditions = {c.get("type") for c in dicts(status.get("conditions"))
                           if c.get("status") == "True"}
        gates_text = f"{sum(g.get('conditionType') in true_conditions for g in gates)}/{len(gates)}"
    pod_ips = status.get("podIPs") or [{}]
    pod_ip = pod_ips[0].get("ip") or status.get("podIP")
    return [table.name(pod), f"{ready}/{len(as_list(spec.get('containers')))}", reason,
            restarts_text, table.age(pod, now), pod_ip or "<none>",
            spec.get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>",
            gates_text]


def _exit_text(terminated: Mapping[str, Any]) -> str:
    if terminated.get("signal"):
        return f"Signal:{terminated['signal']}"
    return f"ExitCode:{terminated.get('exitCode', 0)}"

