"""What the kubelet enforces itself of a pod's securityContext: runAsNonRoot against the
image's user, no-new-privileges, seccomp, and the host's PID/IPC namespaces."""

from __future__ import annotations

from typing import Any

import pytest

from agent.kubelet.spec import container_args, run_as_non_root_problem

POD = {"metadata": {"name": "web", "namespace": "ns", "uid": "u1"}}
WHERE = '(pod: "web_ns(u1)", container: c)'


def pod(**spec: Any) -> dict[str, Any]:
    return {**POD, "spec": {"containers": [], **spec}}


@pytest.mark.parametrize(("pod_sc", "sc", "image_user", "problem"), [
    ({}, {}, "", None),
    ({"runAsNonRoot": True}, {}, "", (f"container has runAsNonRoot and image will run as root "
                                       f"{WHERE}")),
    ({"runAsNonRoot": True}, {}, "root", (f"container has runAsNonRoot and image will run as "
                                           f"root {WHERE}")),
    ({"runAsNonRoot": True}, {}, "1000:1000", None),
    ({"runAsNonRoot": True}, {}, "nobody",
     (f"container has runAsNonRoot and image has non-numeric user (nobody), cannot verify user "
     f"is non-root {WHERE}")),
    ({"runAsNonRoot": True}, {"runAsUser": 1000}, "", None),
    ({}, {"runAsNonRoot": True, "runAsUser": 0}, "1000",
     f"container's runAsUser breaks non-root policy {WHERE}"),
    ({"runAsNonRoot": True}, {"runAsNonRoot": False}, "", None),
])
def test_run_as_non_root(pod_sc: dict[str, Any], sc: dict[str, Any], image_user: str,
                         problem: str | None) -> None:
    container = {"name": "c", "securityContext": sc}
    assert run_as_non_root_problem(pod(securityContext=pod_sc), container, image_user) == problem


def _host(spec: dict[str, Any], sc: dict[str, Any]) -> dict[str, Any]:
    return container_args(pod(**spec), {"name": "c", "securityContext": sc}, image="i",
                          name="n", labels={}, sandbox_id="s", env={}, binds=[]).host_config


def test_no_new_privileges_seccomp_and_host_namespaces() -> None:
    assert _host({}, {"allowPrivilegeEscalation": False})["security_opt"] == [
        "no-new-privileges:true"]
    assert "security_opt" not in _host({}, {"seccompProfile": {"type": "RuntimeDefault"}})
    assert _host({"securityContext": {"seccompProfile": {"type": "Unconfined"}}}, {})[
        "security_opt"] == ["seccomp=unconfined"]
    plain = _host({}, {})
    assert (plain["ipc_mode"], "pid_mode" in plain) == ("container:s", False)
    shared = _host({"hostPID": True, "hostIPC": True}, {})
    assert (shared["pid_mode"], shared["ipc_mode"]) == ("host", "host")
