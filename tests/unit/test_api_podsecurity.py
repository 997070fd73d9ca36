"""The Pod Security Standards' checks: one pod per check that violates it, with
Kubernetes' wording, and pods that each level admits."""

from __future__ import annotations

from typing import Any

import pytest

from minikube_py.api.podsecurity import violations

RESTRICTED_OK: dict[str, Any] = {
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "volumes": [{"name": "cfg", "configMap": {"name": "c"}}, {"name": "tmp", "emptyDir": {}}],
    "containers": [{"name": "app", "image": "busybox", "securityContext": {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}]}


def pod(**spec: Any) -> dict[str, Any]:
    container = spec.pop("container", {})
    return {"containers": [{"name": "app", "image": "busybox", **container}], **spec}


@pytest.mark.parametrize(("spec", "message"), [
    (pod(hostNetwork=True, hostPID=True), "host namespaces (hostNetwork=true, hostPID=true)"),
    (pod(container={"securityContext": {"privileged": True}}),
     'privileged (container "app" must not set securityContext.privileged=true)'),
    (pod(container={"securityContext": {"capabilities": {"add": ["NET_ADMIN", "CHOWN"]}}}),
     ('non-default capabilities (container "app" must not include "NET_ADMIN" in '
     "securityContext.capabilities.add)")),
    (pod(volumes=[{"name": "root", "hostPath": {"path": "/"}}]),
     'hostPath volumes (volume "root")'),
    (pod(container={"ports": [{"containerPort": 80, "hostPort": 8080}]}),
     'hostPort (container "app" uses hostPort 8080)'),
    (pod(securityContext={"seccompProfile": {"type": "Unconfined"}}),
     'seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")'),
    (pod(container={"securityContext": {"procMount": "Unmasked"}}),
     'procMount (container "app" must not set securityContext.procMount to "Unmasked")'),
    (pod(securityContext={"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}),
     "forbidden sysctls (kernel.msgmax)"),
])
def test_each_baseline_check(spec: dict[str, Any], message: str) -> None:
    assert violations("baseline", spec) == [message]
    assert message in violations("restricted", spec)
    assert violations("privileged", spec) == []


@pytest.mark.parametrize(("change", "message"), [
    ({"volumes": [{"name": "data", "nfs": {"server": "x", "path": "/"}}]},
     'restricted volume types (volume "data" uses restricted volume type "nfs")'),
    ({"containers": [{"name": "app", "image": "busybox", "securityContext": {
        "capabilities": {"drop": ["ALL"]}}}]},
     ('allowPrivilegeEscalation != false (container "app" must set '
     "securityContext.allowPrivilegeEscalation=false)")),
    ({"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}},
     'runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true)'),
    ({"securityContext": {"runAsNonRoot": True, "runAsUser": 0,
                          "seccompProfile": {"type": "RuntimeDefault"}}},
     "runAsUser=0 (pod must not set runAsUser=0)"),
    ({"securityContext": {"runAsNonRoot": True}},
     ('seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to '
     '"RuntimeDefault" or "Localhost")')),
    ({"containers": [{"name": "app", "image": "busybox", "securityContext": {
        "allowPrivilegeEscalation": False, "capabilities": {"add": ["NET_BIND_SERVICE"]}}}]},
     ('unrestricted capabilities (container "app" must set '
     'securityContext.capabilities.drop=["ALL"])')),
])
def test_each_restricted_check(change: dict[str, Any], message: str) -> None:
    spec = {**RESTRICTED_OK, **change}
    assert violations("restricted", spec) == [message]
    assert violations("baseline", spec) == []


def test_a_hardened_pod_passes_every_level() -> None:
    assert violations("restricted", RESTRICTED_OK) == []
    assert violations("baseline", pod()) == []
    assert len(violations("restricted", pod())) == 4  # a plain pod is baseline, not restricted
