"""The real Helm 4 client (bin/helm-binary) against a real api-server: a chart bringing its
own CRD (with a CEL rule) and objects of that kind, installed, upgraded, rolled back and
uninstalled through server-side apply, `--wait` on a watch-list, a conflict with another
field manager, and a chart whose kind no CRD serves."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.apiserver import ApiServer

HELM_BINARY = Path(__file__).resolve().parents[2] / "bin" / "helm-binary"
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


@dataclass(frozen=True)
class Helm:
    """`helm` with a private home and the api-server's admin kubeconfig."""

    binary: str
    home: Path
    server: ApiServer

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.home),
               "KUBECONFIG": str(self.server.kubeconfig),
               "HELM_CACHE_HOME": str(self.home / "cache"),
               "HELM_CONFIG_HOME": str(self.home / "config"),
               "HELM_DATA_HOME": str(self.home / "data")}
        return subprocess.run([self.binary, *args], capture_output=True, text=True,
                              timeout=90, check=False, env=env)

    def ok(self, *args: str) -> str:
        done = self(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture(scope="module")
def helm_binary() -> str:
    got = subprocess.run([str(HELM_BINARY)], capture_output=True, text=True, timeout=330,
                         check=False)
    assert got.returncode == 0, f"bin/helm-binary (bin/bootstrap runs it): {got.stderr}"
    return got.stdout.strip()


@pytest.fixture
def helm(helm_binary: str, apiserver: ApiServer, tmp_path: Path) -> Helm:
    return Helm(helm_binary, tmp_path / "home", apiserver)


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


def chart(root: Path, group: str, *, kind: str = "Gadget") -> Path:
    """A chart: crds/ (Gadget, CEL rule size <= 10), a `kind` object, a ConfigMap, a Service."""
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": f"gadgets.{group}"},
           "spec": {"group": group, "scope": "Namespaced",
                    "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget",
                              "listKind": "GadgetList"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                        "openAPIV3Schema": {"type": "object", "properties": {"spec": {
                            "type": "object",
                            "properties": {"size": {"type": "integer"}},
                            "x-kubernetes-validations": [{
                                "rule": "self.size <= 10",
                                "message": "size must be at most 10"}]}}}}}]}}
    templates = {
        "gadget.yaml": f"apiVersion: {group}/v1\nkind: {kind}\nmetadata:\n"
                       "  name: {{ .Release.Name }}-g\nspec:\n  size: {{ .Values.size }}\n",
        "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                   "  name: {{ .Release.Name }}-cm\ndata:\n"
                   "  greeting: {{ .Values.greeting | quote }}\n",
        "svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n"
                    "  name: {{ .Release.Name }}-svc\nspec:\n  selector: {app: web}\n"
                    "  ports: [{port: 80}]\n"}
    path = root / "chart"
    (path / "crds").mkdir(parents=True)
    (path / "templates").mkdir()
    (path / "Chart.yaml").write_text("apiVersion: v2\nname: gadgets\nversion: 0.1.0\n")
    (path / "values.yaml").write_text("size: 1\ngreeting: hello\n")
    (path / "crds" / "gadgets.yaml").write_text(yaml.safe_dump(crd))
    for name, text in templates.items():
        (path / "templates" / name).write_text(text)
    return path


def get(server: ApiServer, path: str) -> Any:
    status, body = server.request("GET", path)
    assert status == 200, body
    return body


def release_secrets(server: ApiServer, namespace: str) -> list[str]:
    listed = get(server, f"/api/v1/namespaces/{namespace}/secrets?labelSelector=owner%3Dhelm")
    return sorted(s["metadata"]["name"] for s in listed["items"])


def test_install_upgrade_rollback_uninstall(helm: Helm, apiserver: ApiServer, namespace: str,
                                            group: str, tmp_path: Path) -> None:
    path = str(chart(tmp_path, group))
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
    path = str(chart(tmp_path, group, kind="Gizmo"))
    failed = helm("install", "r", path, "-n", namespace)
    assert failed.returncode != 0
    assert (f'no matches for kind "Gizmo" in version "{group}/v1"' in failed.stderr
            and "ensure CRDs are installed first" in failed.stderr), failed.stderr
    assert apiserver.request("GET", f"/api/v1/namespaces/{namespace}/configmaps/r-cm")[0] \
        == 404
    assert release_secrets(apiserver, namespace) == []
