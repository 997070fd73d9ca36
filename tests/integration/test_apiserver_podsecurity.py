"""Pod Security admission against a real api-server with the real kubectl: the enforce
level refuses (403, Kubernetes' message), the warn level's violations are printed by
kubectl as warnings, unlabelled namespaces get the default (baseline) level, kube-system
is exempt, and a workload is warned about its template but never refused."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from tests.fixtures.apiserver import ApiServer

PRIVILEGED = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root"}, "spec": {
    "containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": True}}]}}
PLAIN = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "plain"},
         "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def _namespace(server: ApiServer, **labels: str) -> str:
    name = f"pss-{uuid.uuid4().hex[:6]}"
    body = {"metadata": {"name": name, "labels": {
        f"pod-security.kubernetes.io/{k}": v for k, v in labels.items()}}}
    assert server.request("POST", "/api/v1/namespaces", body)[0] == 201
    return name


def _apply(server: ApiServer, tmp_path: Path, ns: str, obj: dict[str, Any]) -> Any:
    manifest = tmp_path / f"{uuid.uuid4().hex[:6]}.json"
    manifest.write_text(json.dumps(obj))
    return server.kubectl(tmp_path, "-n", ns, "create", "-f", str(manifest))


def test_enforce_refuses_with_kubernetes_message(apiserver: ApiServer, tmp_path: Path) -> None:
    ns = _namespace(apiserver, enforce="baseline")
    got = _apply(apiserver, tmp_path, ns, PRIVILEGED)
    assert got.returncode != 0
    assert ('pods "root" is forbidden: violates PodSecurity "baseline:latest": privileged '
            '(container "c" must not set securityContext.privileged=true)') in got.stderr
    assert apiserver.request("GET", f"/api/v1/namespaces/{ns}/pods/root")[0] == 404
    assert _apply(apiserver, tmp_path, ns, PLAIN).returncode == 0


def test_warn_creates_and_kubectl_prints_the_warning(apiserver: ApiServer,
                                                      tmp_path: Path) -> None:
    ns = _namespace(apiserver, enforce="privileged", warn="restricted")
    got = _apply(apiserver, tmp_path, ns, PLAIN)
    assert got.returncode == 0, got.stderr
    assert 'Warning: would violate PodSecurity "restricted:latest": ' \
           'allowPrivilegeEscalation != false' in got.stderr
    assert "pod/plain created" in got.stdout


def test_unlabelled_namespaces_are_baseline_and_kube_system_is_exempt(
        apiserver: ApiServer) -> None:
    ns = _namespace(apiserver)
    host = {"metadata": {"name": "host"}, "spec": {
        "hostNetwork": True, "containers": [{"name": "c", "image": "busybox"}]}}
    status, got = apiserver.request("POST", f"/api/v1/namespaces/{ns}/pods", host)
    assert status == 403 and "host namespaces (hostNetwork=true)" in got["message"]
    name = f"host-{uuid.uuid4().hex[:6]}"
    status, _ = apiserver.request("POST", "/api/v1/namespaces/kube-system/pods",
                                  {**host, "metadata": {"name": name}})
    assert status == 201
    apiserver.request("DELETE", f"/api/v1/namespaces/kube-system/pods/{name}"
                      "?gracePeriodSeconds=0")


def test_workloads_are_warned_never_refused(apiserver: ApiServer, tmp_path: Path) -> None:
    ns = _namespace(apiserver, enforce="baseline")
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                  "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
                      "metadata": {"labels": {"a": "b"}}, "spec": PRIVILEGED["spec"]}}}
    got = _apply(apiserver, tmp_path, ns, deployment)
    assert got.returncode == 0, got.stderr
    assert 'Warning: would violate PodSecurity "baseline:latest": privileged' in got.stderr


def test_levels_come_from_the_namespace_cache_and_follow_a_relabel_at_once(
        apiserver: ApiServer) -> None:
    ns = _namespace(apiserver, enforce="privileged")
    pods = f"/api/v1/namespaces/{ns}/pods?dryRun=All"
    # No token to mount: the service-account admission reads nothing either.
    pod: dict[str, Any] = json.loads(json.dumps(PRIVILEGED))
    pod["spec"]["automountServiceAccountToken"] = False
    assert apiserver.request("POST", pods, pod)[0] == 201
    gets = 'etcd_request_duration_seconds_count{operation="get"}'
    before = apiserver.metric(gets)
    for _ in range(10):
        assert apiserver.request("POST", pods, pod)[0] == 201
    assert apiserver.metric(gets) - before < 5  # not a namespace read per pod
    patch = {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}
    assert apiserver.request("PATCH", f"/api/v1/namespaces/{ns}", patch,
                             content_type="application/merge-patch+json")[0] == 200
    assert apiserver.request("POST", pods, pod)[0] == 403  # the next pod, at once
