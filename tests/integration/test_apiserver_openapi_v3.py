"""/openapi/v3 against a real api-server: the index, one document per group/version with
CRD schemas, and the real kubectl reading them (`explain` prints v3's GROUP line)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from tests.fixtures.apiserver import ApiServer
from tests.fixtures.workers import until

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def gadget_crd(group: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"spec": {
        "type": "object", "description": "What a gadget should be.", "properties": {
            "size": {"type": "integer", "description": "How big the gadget is."},
            "note": {"type": "string", "nullable": True}}}}}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"gadgets.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": schema}}]}}


def index(apiserver: ApiServer) -> dict[str, Any]:
    status, body = apiserver.request("GET", "/openapi/v3")
    assert status == 200 and isinstance(body, dict), body
    paths: dict[str, Any] = body["paths"]
    return paths


def test_index_and_documents(apiserver: ApiServer) -> None:
    paths = index(apiserver)
    assert {"api/v1", "apis/apps/v1", "apis/rbac.authorization.k8s.io/v1"} <= set(paths)
    url = paths["apis/apps/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/apps/v1?hash=")
    status, doc = apiserver.request("GET", url)
    assert status == 200 and isinstance(doc, dict)
    assert doc["openapi"] == "3.0.0"
    schemas = doc["components"]["schemas"]
    deployment = schemas["io.k8s.api.apps.v1.Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}]
    assert deployment["properties"]["spec"]["$ref"] == \
        "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert "io.k8s.api.core.v1.Service" not in schemas  # only what apps/v1 refers to
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert "application/apply-patch+yaml" in patch["requestBody"]["content"]
    assert apiserver.request("GET", "/openapi/v3/apis/nothing.example.com/v1")[0] == 404


def test_custom_kinds_and_kubectl_explain_read_v3(apiserver: ApiServer,
                                                  tmp_path: Path) -> None:
    explained = apiserver.kubectl(tmp_path, "explain", "deployment.spec.replicas")
    assert explained.returncode == 0, explained.stderr
    assert explained.stdout.startswith("GROUP:      apps\nKIND:       Deployment\n")
    assert "Number of desired pods" in explained.stdout
    group = f"g{uuid.uuid4().hex[:6]}.example.com"
    before = index(apiserver)["api/v1"]["serverRelativeURL"]
    status, created = apiserver.request("POST", CRD_PATH, gadget_crd(group))
    assert status == 201, created
    try:
        key = f"apis/{group}/v1"
        until(lambda: key in index(apiserver), 5, "the CRD's document in the index")
        status, doc = apiserver.request("GET", index(apiserver)[key]["serverRelativeURL"])
        assert status == 200 and isinstance(doc, dict)
        reversed_group = ".".join(reversed(group.split(".")))
        gadget = doc["components"]["schemas"][f"{reversed_group}.v1.Gadget"]
        assert gadget["properties"]["spec"]["properties"]["note"]["nullable"] is True
        assert gadget["properties"]["metadata"]["$ref"] == \
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        assert index(apiserver)["api/v1"]["serverRelativeURL"] == before
        explained = apiserver.kubectl(tmp_path, "explain", f"gadgets.{group}.spec.size")
        assert explained.returncode == 0, explained.stderr
        assert explained.stdout.startswith(f"GROUP:      {group}\nKIND:       Gadget\n")
        assert "How big the gadget is." in explained.stdout
    finally:
        apiserver.request("DELETE", f"{CRD_PATH}/gadgets.{group}")
