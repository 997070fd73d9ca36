"""Discovery and /openapi/v2: what kubectl reads before anything else."""

from __future__ import annotations

import json

from minikube_py.api import patchmeta, protobuf, resources, schema
from minikube_py.apiserver import discovery, openapi


def test_core_resource_list() -> None:
    doc = discovery.api_resource_list("", "v1")
    assert doc is not None and doc["groupVersion"] == "v1"
    by_name = {r["name"]: r for r in doc["resources"]}
    assert by_name["pods"]["shortNames"] == ["po"]
    assert by_name["pods"]["categories"] == ["all"]
    assert by_name["pods"]["singularName"] == "pod"
    assert "deletecollection" in by_name["pods"]["verbs"]
    assert by_name["pods/status"] == {"name": "pods/status", "singularName": "",
                                      "namespaced": True, "kind": "Pod",
                                      "verbs": ["get", "patch", "update"]}
    assert by_name["pods/log"]["verbs"] == ["get"]
    assert by_name["pods/eviction"]["group"] == "policy"
    assert by_name["nodes"]["namespaced"] is False
    assert {r["name"] for r in doc["resources"] if "/" not in r["name"]} == {
        r.plural for r in resources.ALL if not r.group}


def test_served_subresources_limit_entries() -> None:
    doc = discovery.api_resource_list("", "v1", {"status", "log"})
    assert doc is not None
    subs = {r["name"] for r in doc["resources"] if "/" in r["name"]}
    assert "pods/eviction" not in subs and {"pods/status", "pods/log"} <= subs


def test_groups() -> None:
    groups = discovery.api_group_list()
    assert {"apps", "batch", "coordination.k8s.io", "discovery.k8s.io",
            "rbac.authorization.k8s.io"} <= {g["name"] for g in groups["groups"]}
    apps = discovery.api_resource_list("apps", "v1")
    assert apps is not None
    scale = next(r for r in apps["resources"] if r["name"] == "deployments/scale")
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    assert discovery.api_group("nope") is None
    assert discovery.api_resource_list("apps", "v2") is None
    assert discovery.api_versions("1.2.3.4:6443")["serverAddressByClientCIDRs"][0][
        "serverAddress"] == "1.2.3.4:6443"


def test_openapi_has_every_kind_with_gvk() -> None:
    doc = openapi.openapi_v2()
    for resource in resources.ALL:
        definition = doc["definitions"][schema.definition_name(resource)]
        assert definition["x-kubernetes-group-version-kind"] == [
            {"group": resource.group, "kind": resource.kind, "version": resource.version}]


def test_openapi_refs_resolve_and_patch_tags_are_set() -> None:
    doc = openapi.openapi_v2()
    text = json.dumps(doc)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "#/definitions/')[1:]}:
        assert ref in doc["definitions"], ref
    spec = doc["definitions"]["io.k8s.api.core.v1.PodSpec"]["properties"]
    assert spec["containers"]["x-kubernetes-patch-merge-key"] == "name"
    assert spec["volumes"]["x-kubernetes-patch-strategy"] == "merge,retainKeys"
    container = doc["definitions"]["io.k8s.api.core.v1.Container"]["properties"]
    assert container["ports"]["x-kubernetes-patch-merge-key"] == "containerPort"
    service = doc["definitions"]["io.k8s.api.core.v1.ServiceSpec"]["properties"]
    assert service["ports"]["x-kubernetes-patch-merge-key"] == "port"
    strategy = doc["definitions"]["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"]
    assert strategy["x-kubernetes-patch-strategy"] == "retainKeys"
    assert patchmeta.list_meta(resources.PODS, ("spec", "containers")) is not None


def test_protobuf_document_is_well_formed() -> None:
    """Walk the top-level fields: swagger, info, paths, definitions, nothing left over."""
    data = openapi.openapi_v2_protobuf()
    top = list(protobuf.fields(data))  # raises on any truncated or malformed field
    assert [(number, wire) for number, wire, _ in top] == [(1, 2), (2, 2), (8, 2), (9, 2)]
    assert top[0][2] == b"2.0"
    body, content_type = openapi.openapi_v2_response(
        "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
    assert body == data and content_type == "application/octet-stream"
    body, content_type = openapi.openapi_v2_response("application/json")
    assert json.loads(body)["swagger"] == "2.0" and content_type == "application/json"


def test_patch_paths_declare_dry_run_but_not_field_validation() -> None:
    """kubectl 1.20 enables diff/--dry-run=server from these; 1.32 keeps client validation."""
    paths = openapi.openapi_v2()["paths"]
    for resource in resources.ALL:
        op = paths[resource.path("{namespace}", "{name}")]["patch"]
        assert op["x-kubernetes-group-version-kind"] == {
            "group": resource.group, "kind": resource.kind, "version": resource.version}
        names = {p["name"] for p in op["parameters"]}
        assert "dryRun" in names and "fieldValidation" not in names
    assert "/api/v1/namespaces/{namespace}/pods/{name}" in paths
    assert "/api/v1/nodes/{name}" in paths
    assert b"dryRun" in openapi.openapi_v2_protobuf()
