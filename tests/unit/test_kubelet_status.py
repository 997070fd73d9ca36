"""Pod status rules (kubelet's getPhase, conditions, container states) from Docker inspects."""

from __future__ import annotations

from typing import Any, cast

import pytest

from agent.kubelet.kubelet import as_written
from agent.kubelet.status import (
    ContainerView,
    docker_time,
    phase,
    pod_status,
    qos_class,
    terminated,
)
from minikube_py.api.types import ContainerStatus, PodStatus
from tests.fixtures import builders


def inspect(status: str = "running", code: int = 0, oom: bool = False, error: str = "",
            cid: str = "c1") -> dict[str, Any]:
    return {"Id": cid, "Image": "sha256:abc",
            "State": {"Status": status, "Running": status == "running", "ExitCode": code,
                      "OOMKilled": oom, "Error": error,
                      "StartedAt": "2026-11-25T12:00:00.123456789Z",
                      "FinishedAt": ("0001-01-01T00:00:00Z" if status == "running"
                                     else "2026-11-25T12:00:05.5Z")}}


def pod(policy: str = "Always", **spec: Any) -> dict[str, Any]:
    return builders.pod("p", "d", uid="u", containers=[{"name": "a", "image": "i"}],
                        spec={"restartPolicy": policy, **spec})


@pytest.mark.parametrize("ins, reason, code", [
    pytest.param(inspect("exited", 0), "Completed", 0, id="exit-0-is-Completed"),
    pytest.param(inspect("exited", 2), "Error", 2, id="nonzero-is-Error"),
    pytest.param(inspect("exited", 137, oom=True), "OOMKilled", 137, id="oom"),
    pytest.param(inspect("created", 127, error="exec: nope"), "ContainerCannotRun", 127,
                 id="start-failure"),
])
def test_terminated_reasons(ins: dict[str, Any], reason: str, code: int) -> None:
    term = terminated(ins)
    assert term is not None
    assert (term["reason"], term["exitCode"]) == (reason, code)
    assert term["startedAt"] == "2026-11-25T12:00:00Z" and term["containerID"] == "docker://c1"


def test_running_and_fresh_containers_are_not_terminated() -> None:
    assert terminated(inspect("running")) is None
    assert terminated(inspect("created")) is None
    assert docker_time("0001-01-01T00:00:00Z") is None


def st(state: dict[str, Any], last: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"state": state, "lastState": last or {}}


RUN: dict[str, Any] = {"running": {}}
OK = {"terminated": {"exitCode": 0}}
BAD = {"terminated": {"exitCode": 1}}
WAIT = {"waiting": {"reason": "ContainerCreating"}}
LOOP = {"waiting": {"reason": "CrashLoopBackOff"}}


@pytest.mark.parametrize("policy, init, app, expected", [
    pytest.param("Always", [], [st(WAIT)], "Pending", id="creating-is-Pending"),
    pytest.param("Always", [], [st(RUN), st(WAIT)], "Pending", id="one-waiting-is-Pending"),
    pytest.param("Always", [], [st(RUN)], "Running", id="running"),
    pytest.param("Always", [], [st(LOOP, BAD)], "Running", id="crash-loop-still-Running"),
    pytest.param("Never", [], [st(OK), st(OK)], "Succeeded", id="all-zero-Succeeded"),
    pytest.param("Never", [], [st(OK), st(BAD)], "Failed", id="one-failed-Never-Failed"),
    pytest.param("OnFailure", [], [st(BAD)], "Running", id="OnFailure-restarts"),
    pytest.param("OnFailure", [], [st(OK)], "Succeeded", id="OnFailure-done"),
    pytest.param("Always", [st(RUN)], [st(WAIT)], "Pending", id="initializing"),
    pytest.param("Never", [st(BAD)], [st(WAIT)], "Failed", id="init-failed-Never"),
    pytest.param("Always", [st(LOOP, BAD)], [st(WAIT)], "Pending", id="init-crash-looping"),
    pytest.param("Always", [st(OK)], [st(RUN)], "Running", id="initialized-running"),
])
def test_phase(policy: str, init: list[dict[str, Any]], app: list[dict[str, Any]],
               expected: str) -> None:
    # phase reads the states only: these statuses carry no container name
    statuses = cast(list[ContainerStatus], init), cast(list[ContainerStatus], app)
    assert phase(pod(policy), *statuses) == expected


def test_pod_status_ready_and_last_state() -> None:
    view = ContainerView(name="a", image="i", current=inspect("running", cid="new"),
                         previous=inspect("exited", 3, cid="old"), restart_count=1, ready=True,
                         started=True)
    status = pod_status(pod(), init=[], app=[view], pod_ips=["10.0.0.5"], host_ip="192.0.2.1")
    cs = status["containerStatuses"][0]
    assert status["phase"] == "Running" and status["podIP"] == "10.0.0.5"
    assert cs["containerID"] == "docker://new" and cs["restartCount"] == 1 and cs["ready"]
    assert cs["lastState"]["terminated"]["exitCode"] == 3
    conds = {c["type"]: c["status"] for c in status["conditions"]}
    assert conds == {"Initialized": "True", "Ready": "True", "ContainersReady": "True",
                     "PodScheduled": "True"}


def test_crash_loop_shows_the_dead_instance_as_last_state() -> None:
    view = ContainerView(name="a", image="i", current=inspect("exited", 9), restart_count=2,
                         waiting=("CrashLoopBackOff", "back-off 20s"))
    cs = pod_status(pod(), init=[], app=[view], pod_ips=[], host_ip="h")["containerStatuses"][0]
    assert cs["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 20s"}}
    assert cs["lastState"]["terminated"]["exitCode"] == 9 and cs["ready"] is False


def test_transition_times_are_kept_when_nothing_changed() -> None:
    p = pod()
    p["status"] = {"startTime": "2020-01-01T00:00:00Z", "conditions": [
        {"type": "Ready", "status": "False", "lastTransitionTime": "2020-01-01T00:00:01Z"}]}
    status = pod_status(p, init=[], app=[ContainerView(name="a", image="i")], pod_ips=[],
                        host_ip="h")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["lastTransitionTime"] == "2020-01-01T00:00:01Z"
    assert status["startTime"] == "2020-01-01T00:00:00Z"


@pytest.mark.parametrize("resources, qos", [
    ({}, "BestEffort"),
    ({"limits": {"cpu": "1", "memory": "1Gi"}}, "Guaranteed"),
    ({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}, "Burstable"),
    ({"requests": {"memory": "1Gi"}}, "Burstable"),
])
def test_qos_class(resources: dict[str, Any], qos: str) -> None:
    p = pod()
    p["spec"]["containers"][0]["resources"] = resources
    assert qos_class(p) == qos


def test_a_pod_level_failure_reason_makes_the_pod_failed() -> None:
    view = ContainerView(name="a", image="i", current=inspect("running"), ready=True,
                         started=True)
    status = pod_status(pod(), init=[], app=[view], pod_ips=[], host_ip="h",
                        reason="DeadlineExceeded", message="too long")
    assert (status["phase"], status["reason"], status["message"]) == (
        "Failed", "DeadlineExceeded", "too long")
    assert status["containerStatuses"][0]["ready"] is False


def test_a_sync_on_a_cache_older_than_our_write_starts_from_what_we_wrote() -> None:
    """The CI failure of session 9: a second sync right after the first status write read
    the pod without it, computed startTime and transition times anew and wrote them."""
    cached = builders.pod("a", "ns", resource_version="7")
    written: PodStatus = {"phase": "Running", "startTime": "2026-12-07T22:50:33Z"}
    assert as_written(cached, (written, 8))["status"] == written  # the cache is behind
    assert as_written(cached, (written, 7)) is cached  # caught up (or newer): the cache
    assert as_written(cached, None) is cached
    fresh = pod_status(as_written(cached, (written, 8)), init=[], app=[], pod_ips=[],
                       host_ip="10.0.0.1")
    assert fresh["startTime"] == "2026-12-07T22:50:33Z"
