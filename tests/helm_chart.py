"""The real Helm 4 client for tests, and the chart they install.

`helm_binary()` is bin/helm-binary's path (bin/bootstrap fetches it once); `Helm` runs it
with a private home against one kubeconfig; `write_chart` makes a chart that brings its
own CRD (Gadget, with a CEL rule) in crds/, an object of that kind (or of `kind`, which
no CRD may serve), a ConfigMap and a Service, and optionally a Deployment.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

HELM_BINARY = Path(__file__).resolve().parents[1] / "bin" / "helm-binary"


def helm_binary() -> str:
    got = subprocess.run([str(HELM_BINARY)], capture_output=True, text=True, timeout=330,
                         check=False)
    assert got.returncode == 0, f"bin/helm-binary (bin/bootstrap runs it): {got.stderr}"
    return got.stdout.strip()


@dataclass(frozen=True)
class Helm:
    """`helm` with a private home (config, cache, data) and one kubeconfig."""

    binary: str
    home: Path
    kubeconfig: Path

    def __call__(self, *args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.home),
               "KUBECONFIG": str(self.kubeconfig),
               "HELM_CACHE_HOME": str(self.home / "cache"),
               "HELM_CONFIG_HOME": str(self.home / "config"),
               "HELM_DATA_HOME": str(self.home / "data")}
        return subprocess.run([self.binary, *args], capture_output=True, text=True,
                              timeout=timeout, check=False, env=env)

    def ok(self, *args: str) -> str:
        done = self(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout


def gadget_crd(group: str) -> dict[str, object]:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
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


DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: %s
        command: [sh, -c, "echo $GREETING; exec sleep 100000"]
        env: [{name: GREETING, value: {{ .Values.greeting | quote }}}]
"""


def write_chart(root: Path, group: str, *, kind: str = "Gadget",
                deployment_image: str | None = None) -> Path:
    """The chart's directory under `root` (values: size, greeting, replicas)."""
    templates = {
        "gadget.yaml": f"apiVersion: {group}/v1\nkind: {kind}\nmetadata:\n"
                       "  name: {{ .Release.Name }}-g\nspec:\n  size: {{ .Values.size }}\n",
        "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                   "  name: {{ .Release.Name }}-cm\ndata:\n"
                   "  greeting: {{ .Values.greeting | quote }}\n",
        "svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n"
                    "  name: {{ .Release.Name }}-svc\nspec:\n  selector: {app: web}\n"
                    "  ports: [{port: 80}]\n"}
    if deployment_image is not None:
        templates["deploy.yaml"] = DEPLOYMENT % deployment_image
    path = root / "chart"
    (path / "crds").mkdir(parents=True)
    (path / "templates").mkdir()
    (path / "Chart.yaml").write_text("apiVersion: v2\nname: gadgets\nversion: 0.1.0\n")
    (path / "values.yaml").write_text("size: 1\ngreeting: hello\nreplicas: 2\n")
    (path / "crds" / "gadgets.yaml").write_text(yaml.safe_dump(gadget_crd(group)))
    for name, text in templates.items():
        (path / "templates" / name).write_text(text)
    return path
