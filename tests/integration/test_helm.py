"""The real Helm 4 client (bin/helm-binary) against a real api-server: a chart bringing its
own CRD (with a CEL rule) and objects of that kind (tests/helm_chart.py), installed,
upgraded, rolled back and uninstalled through server-side apply, `--wait` on a
watch-list, a conflict with another field manager, and a chart whose kind no CRD serves.
--wait follows a Deployment's rollout on hollow nodes with the workload controllers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.apiserver import ApiServer
from tests.fixtures.controlplane import ClusterEnv
from tests.helm_chart import Helm, helm_binary, write_chart

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


@pytest.fixture(scope="module")
def binary() -> str:
    return helm_binary()


@pytest.fixture
def helm(binary: str, apiserver: ApiServer, tmp_path: Path) -> Helm:
    return Helm(binary, tmp_path / "home", apiserver.kubeconfig)


@pytest.fixture
def namespace(apiserver: ApiServer) -> Iterator[str]:
    name = f"helm-{uuid.uuid4().hex[:6]}"
    assert apiserver.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})[0] \
        == 201
    try:
        yield name
    finally:
        apiserver.request("DELETE", f"/api/v1/namespaces/{name}")


@pytest.fixture
def group(apiserver: ApiServer) -> Iterator[str]:
    """The chart's CRD group; Helm never deletes a chart's CRDs, so the test does."""
    name = f"h{uuid.uuid4().hex[:6]}.example.com"
    try:
        yield name
    finally:
        apiserver.request("DELETE", f"{CRD_PATH}/gadgets.{name}")


def get(server: ApiServer, path: str) -> Any:
    status, body = server.request("GET", path)
    assert status == 200, body
    return body


def release_secrets(server: ApiServer, namespace: str) -> list[str]:
    listed = get(server, f"/api/v1/namespaces/{namespace}/secrets?labelSelector=owner%3Dhelm")
    return sorted(s["metadata"]["name"] for s in listed["items"])


def test_install_upgrade_rollback_uninstall(helm: Helm, apiserver: ApiServer, namespace: str,
                                            group: str, tmp_path: Path) -> None:
    path = str(write_chart(tmp_path, group))
    gadget = f"/apis/{group}/v1/namespaces/{namespace}/gadgets/r-g"
    cm = f"/api/v1/namespaces/{namespace}/configmaps/r-cm"
    out = helm.ok("install", "r", path, "-n", namespace, "--wait", "--timeout", "30s")
    assert "STATUS: deployed" in out
    live = get(apiserver, gadget)
    assert live["spec"] == {"size": 1}
    assert live["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "Helm"}
    [entry] = live["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"]) == ("helm", "Apply")
    assert entry["fieldsV1"]["f:spec"] == {"f:size": {}}
    assert release_secrets(apiserver, namespace) == ["sh.helm.release.v1.r.v1"]

    helm.ok("upgrade", "r", path, "-n", namespace, "--set", "size=3", "--set", "greeting=bye",
            "--wait", "--timeout", "30s")
    assert get(apiserver, gadget)["spec"] == {"size": 3}
    assert get(apiserver, cm)["data"] == {"greeting": "bye"}

    # The server's CEL rule refuses the upgrade; Helm rolls back to revision 2 itself.
    refused = helm("upgrade", "r", path, "-n", namespace, "--set", "size=20",
                   "--rollback-on-failure", "--timeout", "30s")
    assert refused.returncode != 0
    assert "size must be at most 10" in refused.stderr, refused.stderr
    assert get(apiserver, gadget)["spec"] == {"size": 3}
    history = yaml.safe_load(helm.ok("history", "r", "-n", namespace, "-o", "yaml"))
    assert [(h["revision"], h["status"]) for h in history] == [
        (1, "superseded"), (2, "superseded"), (3, "failed"), (4, "deployed")]

    helm.ok("rollback", "r", "1", "-n", namespace, "--wait")
    assert get(apiserver, gadget)["spec"] == {"size": 1}
    assert get(apiserver, cm)["data"] == {"greeting": "hello"}

    # Another manager's value is a server-side apply conflict until --force-conflicts.
    status, _ = apiserver.request("PATCH", cm + "?fieldManager=editor",
                                  {"data": {"greeting": "edited"}},
                                  content_type="application/merge-patch+json")
    assert status == 200
    clash = helm("upgrade", "r", path, "-n", namespace, "--set", "greeting=third")
    assert clash.returncode != 0
    assert ('Apply failed with 1 conflict: conflict with "editor" using v1: .data.greeting'
            in clash.stderr), clash.stderr
    helm.ok("upgrade", "r", path, "-n", namespace, "--set", "greeting=third",
            "--force-conflicts")
    live = get(apiserver, cm)
    assert live["data"] == {"greeting": "third"}
    assert [m["manager"] for m in live["metadata"]["managedFields"]] == ["helm"]

    out = helm.ok("uninstall", "r", "-n", namespace, "--wait", "--timeout", "30s")
    assert 'release "r" uninstalled' in out
    for gone in (gadget, cm, f"/api/v1/namespaces/{namespace}/services/r-svc"):
        assert apiserver.request("GET", gone)[0] == 404
    assert release_secrets(apiserver, namespace) == []
    assert apiserver.request("GET", f"{CRD_PATH}/gadgets.{group}")[0] == 200  # Helm keeps it


def test_a_kind_no_crd_serves_fails_before_any_write(helm: Helm, apiserver: ApiServer,
                                                    namespace: str, group: str,
                                                    tmp_path: Path) -> None:
    path = str(write_chart(tmp_path, group, kind="Gizmo"))
    failed = helm("install", "r", path, "-n", namespace)
    assert failed.returncode != 0
    assert (f'no matches for kind "Gizmo" in version "{group}/v1"' in failed.stderr
            and "ensure CRDs are installed first" in failed.stderr), failed.stderr
    assert apiserver.request("GET", f"/api/v1/namespaces/{namespace}/configmaps/r-cm")[0] \
        == 404
    assert release_secrets(apiserver, namespace) == []


async def test_wait_follows_a_deployment_rollout(binary: str, apiserver: ApiServer,
                                                 tmp_path: Path) -> None:
    """On hollow nodes with the deployment, replicaset and garbage collector controllers:
    --wait returns once kstatus reads the rollout done (observedGeneration, Available,
    Progressing NewReplicaSetAvailable, ready replicas) after install, upgrade and
    rollback; uninstall --wait once what it deleted is gone."""
    group = f"h{uuid.uuid4().hex[:6]}.example.com"
    helm = Helm(binary, tmp_path / "home", apiserver.kubeconfig)
    chart = str(write_chart(tmp_path, group, deployment_image="busybox:1"))

    async def run(*args: str) -> str:
        return await asyncio.to_thread(helm.ok, *args, "--wait", "--timeout", "60s")
    try:
        async with ClusterEnv.running(apiserver.kubeconfig, "helm",
                                      ("deployment", "replicaset", "garbagecollector"),
                                      nodes=2) as env:
            path = f"/apis/apps/v1/namespaces/{env.ns}/deployments/r-web"
            await run("install", "r", chart, "-n", env.ns)
            status = get(apiserver, path)["status"]
            assert (status["readyReplicas"], status["updatedReplicas"]) == (2, 2)
            await run("upgrade", "r", chart, "-n", env.ns, "--set", "greeting=bye")
            live = get(apiserver, path)
            assert live["metadata"]["annotations"][
                "deployment.kubernetes.io/revision"] == "2"
            assert (live["status"]["updatedReplicas"], live["status"]["readyReplicas"]) == (
                2, 2)
            pods = get(apiserver, f"/api/v1/namespaces/{env.ns}/pods?labelSelector=app%3Dweb")
            assert {p["spec"]["containers"][0]["env"][0]["value"] for p in pods["items"]
                    if "deletionTimestamp" not in p["metadata"]} == {"bye"}
            await run("rollback", "r", "1", "-n", env.ns)
            live = get(apiserver, path)
            assert live["metadata"]["annotations"][
                "deployment.kubernetes.io/revision"] == "3"
            assert live["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] \
                == "hello"
            await run("uninstall", "r", "-n", env.ns)
            assert apiserver.request("GET", path)[0] == 404
    finally:
        apiserver.request("DELETE", f"{CRD_PATH}/gadgets.{group}")
