"""Pod status from what Docker shows: pure functions, tested table-driven.

`ContainerView` is one spec container as the sync loop saw it (its newest Docker
instance, the one before, the restart count, why it waits, what probes said);
`pod_status` folds the views into phase, conditions and container statuses with the
rules of kubelet's getPhase.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from minikube_py.api.meta import now_rfc3339, parse_time
from minikube_py.api.types import (
    Condition,
    ContainerState,
    ContainerStateTerminated,
    ContainerStatus,
    Object,
    PodStatus,
)

ZERO_TIME = "0001-01-01T00:00:00Z"
TERMINATION_MESSAGE = "TerminationMessage"  # added by the kubelet to a dead container's inspect


def docker_time(value: str | None) -> str | None:
    """Docker's RFC3339Nano -> Kubernetes' second-precision RFC3339 (None for zero time)."""
    if not value or value.startswith("0001-01-01"):
        return None
    return value[:19] + "Z"


def docker_epoch(value: str | None) -> float | None:
    t = docker_time(value)
    if t is None:
        return None
    return parse_time(t).timestamp()


def terminated(inspect: dict[str, Any]) -> ContainerStateTerminated | None:
    """The `terminated` state of an exited (or never-started) Docker container."""
    st = inspect["State"]
    if st.get("Running") or st.get("Status") in ("running", "paused", "restarting"):
        return None
    if st.get("Status") == "created" and not st.get("Error"):
        return None
    code = int(st.get("ExitCode") or 0)
    if st.get("Status") == "created":
        reason, code = "ContainerCannotRun", code or 128
    elif st.get("OOMKilled"):
        reason = "OOMKilled"
    else:
        reason = "Completed" if code == 0 else "Error"
    out: ContainerStateTerminated = {"exitCode": code, "reason": reason,
                                     "startedAt": docker_time(st.get("StartedAt")),
                                     "finishedAt": docker_time(st.get("FinishedAt")),
                                     "containerID": f"docker://{inspect['Id']}"}
    message = inspect.get(TERMINATION_MESSAGE) or st.get("Error")
    if message:
        out["message"] = message
    return out


def state(inspect: dict[str, Any] | None, waiting: tuple[str, str] | None) -> ContainerState:
    if waiting is not None:
        reason, message = waiting
        return {"waiting": {"reason": reason, "message": message} if message
                else {"reason": reason}}
    if inspect is None:
        return {"waiting": {"reason": "ContainerCreating"}}
    term = terminated(inspect)
    if term is not None:
        return {"terminated": term}
    if inspect["State"].get("Running"):
        return {"running": {"startedAt": docker_time(inspect["State"].get("StartedAt"))}}
    return {"waiting": {"reason": "ContainerCreating"}}


@dataclass
class ContainerView:
    """One spec container: its current and previous Docker instance and what we know."""

    name: str
    image: str
    current: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None
    restart_count: int = 0
    waiting: tuple[str, str] | None = None
    ready: bool = False
    started: bool = False

    def status(self) -> ContainerStatus:
        st = state(self.current, self.waiting)
        term = None
        if self.waiting is not None and self.current is not None:
            term = terminated(self.current)
        if not term and self.previous is not None:
            term = terminated(self.previous)
        last: ContainerState = {"terminated": term} if term else {}
        out: ContainerStatus = {
            "name": self.name, "state": st, "lastState": last,
            "ready": bool(self.ready and "running" in st),
            "restartCount": self.restart_count, "image": self.image,
            "imageID": "", "started": bool(self.started and "running" in st),
        }
        if self.current is not None:
            out["imageID"] = f"docker-pullable://{self.current.get('Image', '')}"
            out["containerID"] = f"docker://{self.current['Id']}"
        return out


def phase(pod: dict[str, Any], init: list[ContainerStatus], app: list[ContainerStatus]) -> str:
    """kubelet's getPhase over computed init and app container statuses."""
    policy = pod["spec"].get("restartPolicy", "Always")
    for s in init:
        term = s["state"].get("terminated") or s["lastState"].get("terminated")
        if policy == "Never" and term and term["exitCode"] != 0:
            return "Failed"
    initialized = all(s["state"].get("terminated", {}).get("exitCode") == 0 for s in init)
    if not initialized:
        return "Pending"
    running = stopped = succeeded = waiting = 0
    for s in app:
        st = s["state"]
        if "running" in st:
            running += 1
        elif "terminated" in st:
            stopped += 1
            succeeded += st["terminated"]["exitCode"] == 0
        elif s["lastState"].get("terminated"):
            stopped += 1
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if policy == "Always":
        return "Running"
    if stopped == succeeded:
        return "Succeeded"
    return "Running" if policy == "OnFailure" else "Failed"


def _condition(old: PodStatus, ctype: str, ok: bool, reason: str = "",
               now: str = "") -> Condition:
    status = "True" if ok else "False"
    prev = next((c for c in (old.get("conditions") or []) if c.get("type") == ctype), None)
    since = prev["lastTransitionTime"] if prev and prev.get("status") == status else now
    cond: Condition = {"type": ctype, "status": status, "lastProbeTime": None,
                       "lastTransitionTime": since}
    if reason and not ok:
        cond["reason"] = reason
    return cond


def pod_status(pod: Object, *, init: list[ContainerView], app: list[ContainerView],
               pod_ips: list[str], host_ip: str, reason: str = "", message: str = ""
               ) -> PodStatus:
    """The whole `status` a sync writes; times that did not change keep their old value.
    A `reason` is a pod-level failure (DeadlineExceeded): the phase is then Failed."""
    old: PodStatus = pod.get("status") or {}
    now = now_rfc3339()
    init_st = [v.status() for v in init]
    app_st = [v.status() for v in app]
    ph = "Failed" if reason else phase(pod, init_st, app_st)
    if ph in ("Succeeded", "Failed"):
        for s in app_st:
            s["ready"] = False
    initialized = all(s["state"].get("terminated", {}).get("exitCode") == 0 for s in init_st)
    ready = bool(app_st) and all(s["ready"] for s in app_st)
    not_ready = "PodCompleted" if ph in ("Succeeded", "Failed") else "ContainersNotReady"
    status: PodStatus = {
        "phase": ph,
        "conditions": [
            _condition(old, "Initialized", initialized, "ContainersNotInitialized", now),
            _condition(old, "Ready", ready, not_ready, now),
            _condition(old, "ContainersReady", ready, not_ready, now),
            _condition(old, "PodScheduled", True, now=now),
        ],
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}] if host_ip else [],
        "podIP": pod_ips[0] if pod_ips else None,
        "podIPs": [{"ip": ip} for ip in pod_ips],
        "startTime": old.get("startTime") or now,
        "containerStatuses": app_st,
        "qosClass": old.get("qosClass") or qos_class(pod),
    }
    if init_st:
        status["initContainerStatuses"] = init_st
    if reason:
        status["reason"], status["message"] = reason, message
    return status


def qos_class(pod: dict[str, Any]) -> str:
    """Guaranteed when every container limits == requests for cpu and memory, BestEffort
    when nothing is set, Burstable otherwise."""
    containers = pod["spec"].get("containers", []) + pod["spec"].get("initContainers", [])
    any_set, guaranteed = False, True
    for c in containers:
        res = c.get("resources") or {}
        lim, req = res.get("limits") or {}, res.get("requests") or {}
        any_set = any_set or bool(lim or req)
        for r in ("cpu", "memory"):
            if r not in lim or req.get(r, lim[r]) != lim[r]:
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def comparable(status: Mapping[str, object]) -> dict[str, object]:
    """A status without the fields that change on every computation (for 'did it change')."""
    return {k: v for k, v in status.items() if v not in (None, [], {}, "")}
