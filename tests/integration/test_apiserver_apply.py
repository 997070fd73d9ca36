"""Server-side apply and managedFields against a real api-server, with the real kubectl
(`apply --server-side`, `--force-conflicts`, client-side apply alongside) and raw REST."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minikube_py.api.resources import CONFIGMAPS, DEPLOYMENTS, PODS, SERVICES, Resource
from minikube_py.apiserver.fieldmanager import decode
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.strategies import objects
from tests.fixtures.workers import until

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"


@pytest.fixture
def namespace(apiserver: ApiServer) -> Iterator[str]:
    name = f"ssa-{uuid.uuid4().hex[:6]}"
    status, _ = apiserver.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    assert status == 201
    try:
        yield name
    finally:
        apiserver.request("DELETE", f"/api/v1/namespaces/{name}")


def deployment(name: str, *, replicas: int | None = 2, labels: dict[str, str] | None = None,
               containers: int = 1) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
            {"name": f"c{i}", "image": "busybox", "ports": [{"containerPort": 8000 + i}]}
            for i in range(containers)]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": labels or {"app": name}}, "spec": spec}


def write(tmp_path: Path, obj: dict[str, Any]) -> str:
    path = tmp_path / f"{uuid.uuid4().hex[:8]}.json"
    path.write_text(json.dumps(obj))
    return str(path)


def managers(obj: Any) -> dict[tuple[str, str], dict[str, Any]]:
    assert isinstance(obj, dict), obj
    return {(e["manager"], e["operation"]): e["fieldsV1"]
            for e in obj["metadata"].get("managedFields", [])}


def test_kubectl_server_side_apply_conflicts_and_force(apiserver: ApiServer, namespace: str,
                                                       tmp_path: Path) -> None:
    manifest = write(tmp_path, deployment("web"))
    applied = apiserver.kubectl(tmp_path, "-n", namespace, "apply", "--server-side", "-f",
                                manifest)
    assert applied.returncode == 0, applied.stderr
    assert "deployment.apps/web serverside-applied" in applied.stdout
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/web"
    _, live = apiserver.request("GET", path)
    owned = managers(live)[("kubectl", "Apply")]
    assert owned["f:spec"]["f:replicas"] == {}
    assert owned["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"c0"}'][
        "f:image"] == {}
    # Another manager takes spec.replicas through an ordinary patch.
    status, _ = apiserver.request("PATCH", path + "?fieldManager=scaler",
                                  {"spec": {"replicas": 5}}, content_type=MERGE)
    assert status == 200
    _, live = apiserver.request("GET", path)
    assert managers(live)[("scaler", "Update")] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in managers(live)[("kubectl", "Apply")]["f:spec"]
    manifest = write(tmp_path, deployment("web", replicas=3))
    clash = apiserver.kubectl(tmp_path, "-n", namespace, "apply", "--server-side", "-f",
                              manifest)
    assert clash.returncode != 0
    assert ('Apply failed with 1 conflict: conflict with "scaler" using apps/v1: '
            ".spec.replicas") in clash.stderr
    _, live = apiserver.request("GET", path)
    assert isinstance(live, dict) and live["spec"]["replicas"] == 5
    forced = apiserver.kubectl(tmp_path, "-n", namespace, "apply", "--server-side",
                               "--force-conflicts", "-f", manifest)
    assert forced.returncode == 0, forced.stderr
    _, live = apiserver.request("GET", path)
    assert isinstance(live, dict) and live["spec"]["replicas"] == 3
    assert ("scaler", "Update") not in managers(live)
    assert managers(live)[("kubectl", "Apply")]["f:spec"]["f:replicas"] == {}
    # kubectl scale writes through the scale subresource: its manager owns replicas too.
    scaled = apiserver.kubectl(tmp_path, "-n", namespace, "scale", "deploy/web",
                               "--replicas=4")
    assert scaled.returncode == 0, scaled.stderr
    clash = apiserver.kubectl(tmp_path, "-n", namespace, "apply", "--server-side", "-f",
                              manifest)
    assert ('conflict with "kubectl" with subresource "scale" using apps/v1: .spec.replicas'
            in clash.stderr), clash.stderr


def test_fields_dropped_from_the_config_are_removed_unless_owned(
        apiserver: ApiServer, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps/cm"
    first = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "cm", "labels": {"a": "1", "b": "2"}}, "data": {"x": "1", "y": "2"}}
    status, created = apiserver.request("PATCH", path + "?fieldManager=alice",
                                        json.dumps(first).encode(), content_type=APPLY)
    assert status == 201, created
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
             "data": {"y": "2"}}
    status, _ = apiserver.request("PATCH", path + "?fieldManager=bob",
                                  json.dumps(other).encode(), content_type=APPLY)
    assert status == 200
    second = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "cm", "labels": {"a": "1"}}, "data": {}}
    status, live = apiserver.request("PATCH", path + "?fieldManager=alice",
                                     json.dumps(second).encode(), content_type=APPLY)
    assert status == 200 and isinstance(live, dict), live
    assert live["metadata"]["labels"] == {"a": "1"}
    assert live["data"] == {"y": "2"}  # bob still owns y; alice's x is gone
    assert managers(live)[("bob", "Apply")] == {"f:data": {"f:y": {}}}
    # The same apply again changes nothing: no new resourceVersion.
    status, again = apiserver.request("PATCH", path + "?fieldManager=alice",
                                      json.dumps(second).encode(), content_type=APPLY)
    assert status == 200 and isinstance(again, dict)
    assert again["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"]


def test_apply_through_the_scale_subresource(apiserver: ApiServer, namespace: str) -> None:
    """An apply of a Scale (an autoscaler's way) owns the parent's replicas for its manager
    with subresource "scale": it conflicts with the Deployment's applier until forced."""
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/scaled"
    status, _ = apiserver.request("PATCH", path + "?fieldManager=owner",
                                  json.dumps(deployment("scaled")).encode(), content_type=APPLY)
    assert status == 201
    scale = {"apiVersion": "autoscaling/v1", "kind": "Scale", "spec": {"replicas": 6}}
    status, err = apiserver.request("PATCH", path + "/scale?fieldManager=hpa",
                                    json.dumps(scale).encode(), content_type=APPLY)
    assert status == 409 and isinstance(err, dict), err
    assert err["message"] == ('Apply failed with 1 conflict: conflict with "owner": '
                              ".spec.replicas")
    wrong = json.dumps({**scale, "kind": "Deployment"}).encode()
    status, err = apiserver.request("PATCH", path + "/scale?fieldManager=hpa", wrong,
                                    content_type=APPLY)
    assert status == 400 and isinstance(err, dict), err
    status, got = apiserver.request("PATCH", path + "/scale?fieldManager=hpa&force=true",
                                    json.dumps(scale).encode(), content_type=APPLY)
    assert status == 200 and isinstance(got, dict), got
    assert got["kind"] == "Scale" and got["spec"]["replicas"] == 6
    _, live = apiserver.request("GET", path)
    assert isinstance(live, dict) and live["spec"]["replicas"] == 6
    entry = next(e for e in live["metadata"]["managedFields"] if e["manager"] == "hpa")
    assert (entry["operation"], entry["subresource"], entry["fieldsV1"]) == (
        "Apply", "scale", {"f:spec": {"f:replicas": {}}})
    assert "f:replicas" not in managers(live)[("owner", "Apply")]["f:spec"]
    rv = live["metadata"]["resourceVersion"]
    status, _ = apiserver.request("PATCH", path + "/scale?fieldManager=hpa",
                                  json.dumps(scale).encode(), content_type=APPLY)
    assert status == 200
    again = apiserver.request("GET", path)[1]
    assert isinstance(again, dict) and again["metadata"]["resourceVersion"] == rv  # no-op


def test_apply_options_and_bad_configs(apiserver: ApiServer, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps/opts"
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "opts"},
                       "data": {"k": "v"}}).encode()
    status, err = apiserver.request("PATCH", path, body, content_type=APPLY)
    assert status == 422 and isinstance(err, dict)
    assert err["message"] == ('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required '
                              "value: is required for apply patch")
    status, err = apiserver.request("PATCH", path + "?fieldManager=a&dryRun=All", body,
                                    content_type=APPLY)
    assert status == 201 and isinstance(err, dict)
    assert apiserver.request("GET", path)[0] == 404  # dry run stored nothing
    wrong = json.dumps({"apiVersion": "v2", "kind": "ConfigMap",
                        "metadata": {"name": "opts"}}).encode()
    status, err = apiserver.request("PATCH", path + "?fieldManager=a", wrong,
                                    content_type=APPLY)
    assert status == 400 and isinstance(err, dict)
    assert err["message"] == ("Incorrect version specified in apply patch. Specified patch "
                              "version: v2, expected: v1")
    with_fields = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "opts", "managedFields": [{"manager": "x"}]}}).encode()
    status, err = apiserver.request("PATCH", path + "?fieldManager=a", with_fields,
                                    content_type=APPLY)
    assert status == 400 and isinstance(err, dict)
    assert err["message"] == "metadata.managedFields must be nil"
    status, _ = apiserver.request("PATCH", path + "?fieldManager=a", body, content_type=APPLY)
    assert status == 201
    status, err = apiserver.request("PATCH", path + "?force=true", {"data": {"k": "w"}},
                                    content_type=MERGE)
    assert status == 422 and isinstance(err, dict)
    assert err["details"]["causes"][0]["field"] == "force"
    bogus = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "opts"},
                        "data": {"k": "v"}, "bogus": 1}).encode()
    status, err = apiserver.request("PATCH", path + "?fieldManager=a&fieldValidation=Strict",
                                    bogus, content_type=APPLY)
    assert status == 400 and isinstance(err, dict)
    assert err["message"] == ("failed to create typed patch object (v1, Kind=ConfigMap): "
                              ".bogus: field not declared in schema")
    status, live = apiserver.request("PATCH", path + "?fieldManager=a", bogus,
                                     content_type=APPLY)
    assert status == 200 and isinstance(live, dict) and "bogus" not in live  # owned by nobody
    assert managers(live)[("a", "Apply")] == {"f:data": {"f:k": {}}}
    duplicate = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "dup"}, "spec": {
        "containers": [{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]}}
    status, err = apiserver.request(
        "PATCH", f"/api/v1/namespaces/{namespace}/pods/dup?fieldManager=a",
        json.dumps(duplicate).encode(), content_type=APPLY)
    assert status == 422 and isinstance(err, dict), err
    assert 'duplicate entries for key [name="a"]' in err["message"]


def test_every_write_records_its_update_manager(apiserver: ApiServer, namespace: str,
                                                tmp_path: Path) -> None:
    created = apiserver.kubectl(tmp_path, "-n", namespace, "create", "configmap", "made",
                                "--from-literal=a=1")
    assert created.returncode == 0, created.stderr
    path = f"/api/v1/namespaces/{namespace}/configmaps/made"
    _, live = apiserver.request("GET", path)
    assert managers(live)[("kubectl-create", "Update")] == {"f:data": {".": {}, "f:a": {}}}
    status, _ = apiserver.request("PATCH", path, {"data": {"b": "2"}}, content_type=MERGE)
    assert status == 200
    _, live = apiserver.request("GET", path)
    assert managers(live)[("Python-urllib", "Update")] == {"f:data": {"f:b": {}}}
    entry = next(e for e in live["metadata"]["managedFields"]
                 if e["manager"] == "Python-urllib")
    assert entry["apiVersion"] == "v1" and entry["fieldsType"] == "FieldsV1" and entry["time"]
    # A client may reset managedFields with an empty list.
    assert isinstance(live, dict)
    live["metadata"]["managedFields"] = []
    status, replaced = apiserver.request("PUT", path, live)
    assert status == 200 and isinstance(replaced, dict), replaced
    assert "managedFields" not in replaced["metadata"]


def test_client_side_and_server_side_apply_alongside(apiserver: ApiServer, namespace: str,
                                                     tmp_path: Path) -> None:
    manifest = write(tmp_path, deployment("mixed"))
    client_side = apiserver.kubectl(tmp_path, "-n", namespace, "apply", "-f", manifest)
    assert client_side.returncode == 0, client_side.stderr
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/mixed"
    _, live = apiserver.request("GET", path)
    assert ("kubectl-client-side-apply", "Update") in managers(live)
    # The first server-side apply takes over what client-side apply set, without conflicts.
    manifest = write(tmp_path, deployment("mixed", replicas=4))
    server_side = apiserver.kubectl(tmp_path, "-n", namespace, "apply", "--server-side",
                                    "-f", manifest)
    assert server_side.returncode == 0, server_side.stderr
    _, live = apiserver.request("GET", path)
    assert isinstance(live, dict) and live["spec"]["replicas"] == 4
    annotation = live["metadata"]["annotations"][
        "kubectl.kubernetes.io/last-applied-configuration"]
    assert json.loads(annotation)["spec"]["replicas"] == 4
    # And client-side apply still works from the annotation the server kept up to date.
    manifest = write(tmp_path, deployment("mixed", replicas=1))
    again = apiserver.kubectl(tmp_path, "-n", namespace, "apply", "-f", manifest)
    assert again.returncode == 0, again.stderr
    _, live = apiserver.request("GET", path)
    assert isinstance(live, dict) and live["spec"]["replicas"] == 1


def list_crd(group: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "routes": {"type": "array", "x-kubernetes-list-type": "map",
                       "x-kubernetes-list-map-keys": ["name"],
                       "items": {"type": "object", "required": ["name"], "properties": {
                           "name": {"type": "string"}, "port": {"type": "integer"}}}},
            "owners": {"type": "array", "items": {"type": "string"},
                       "x-kubernetes-list-type": "set"},
            "args": {"type": "array", "items": {"type": "string"}}}},
        "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"routers.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"plural": "routers", "singular": "router", "kind": "Router"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": schema},
                                   "subresources": {"status": {}}}]}}


def test_custom_kind_list_types_and_status_apply(apiserver: ApiServer, namespace: str) -> None:
    group = f"s{uuid.uuid4().hex[:6]}.example.com"
    status, created = apiserver.request("POST", CRD_PATH, list_crd(group))
    assert status == 201, created
    try:
        path = f"/apis/{group}/v1/namespaces/{namespace}/routers/r"
        until(lambda: apiserver.request("GET", path)[0] == 404, 5, "the Router kind served")

        def apply(manager: str, spec: dict[str, Any], sub: str = "",
                  force: bool = False) -> tuple[int, Any]:
            body = {"apiVersion": f"{group}/v1", "kind": "Router", "metadata": {"name": "r"},
                    **spec}
            query = f"?fieldManager={manager}" + ("&force=true" if force else "")
            return apiserver.request("PATCH", path + sub + query, json.dumps(body).encode(),
                                     content_type=APPLY)
        status, live = apply("a", {"spec": {"routes": [{"name": "x", "port": 1}],
                                            "owners": ["a"], "args": ["1"]}})
        assert status == 201, live
        status, live = apply("b", {"spec": {"routes": [{"name": "y", "port": 2}],
                                            "owners": ["b"]}})
        assert status == 200, live
        assert live["spec"]["routes"] == [{"name": "x", "port": 1}, {"name": "y", "port": 2}]
        assert live["spec"]["owners"] == ["a", "b"]
        assert managers(live)[("b", "Apply")]["f:spec"]["f:routes"] == {
            'k:{"name":"y"}': {".": {}, "f:name": {}, "f:port": {}}}
        status, err = apply("b", {"spec": {"args": ["2"]}})  # atomic list owned by a
        assert status == 409 and isinstance(err, dict)
        assert err["message"] == ('Apply failed with 1 conflict: conflict with "a": '
                                  ".spec.args")
        status, live = apply("a", {"spec": {"routes": [{"name": "x", "port": 1}]}})
        assert status == 200
        assert live["spec"] == {"routes": [{"name": "x", "port": 1}, {"name": "y", "port": 2}],
                                "owners": ["b"]}
        status, live = apply("ctl", {"status": {"phase": "Ready"}}, "/status")
        assert status == 200, live
        assert live["status"] == {"phase": "Ready"}
        entry = next(e for e in live["metadata"]["managedFields"] if e["manager"] == "ctl")
        assert entry["subresource"] == "status" and entry["operation"] == "Apply"
        assert entry["fieldsV1"] == {"f:status": {"f:phase": {}}}
        status, _ = apiserver.request(
            "PATCH", f"/apis/{group}/v1/namespaces/{namespace}/routers/none/status"
            "?fieldManager=ctl", json.dumps({"apiVersion": f"{group}/v1", "kind": "Router",
                                            "metadata": {"name": "none"}}).encode(),
            content_type=APPLY)
        assert status == 404
    finally:
        apiserver.request("DELETE", f"{CRD_PATH}/routers.{group}")


FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FUZZ
@given(data=st.data(), resource=st.sampled_from([DEPLOYMENTS, PODS, CONFIGMAPS, SERVICES]))
def test_fuzzed_applies_by_two_managers(apiserver: ApiServer, namespace: str,
                                        data: st.DataObject, resource: Resource) -> None:
    """Schema-shaped junk applied by two managers (one forcing): never a 5xx, and what is
    stored always has managedFields that parse."""
    name = f"fz{uuid.uuid4().hex[:6]}"
    path = resource.path(namespace, name)
    for step in range(3):
        body = data.draw(objects(resource))
        body = body if isinstance(body, dict) else {}
        meta: dict[str, Any] = body["metadata"] if isinstance(body.get("metadata"), dict) \
            else {}
        body.update(apiVersion=resource.api_version, kind=resource.kind,
                    metadata={**meta, "name": name})
        body["metadata"].pop("managedFields", None)
        body["metadata"].pop("namespace", None)
        query = f"?fieldManager=m{step % 2}" + ("&force=true" if step == 2 else "")
        status, answer = apiserver.request("PATCH", path + query, json.dumps(body).encode(),
                                           content_type=APPLY)
        assert status < 500, answer
        assert isinstance(answer, dict), answer
        if status < 300:
            decode(answer["metadata"].get("managedFields"))
    status, stored = apiserver.request("GET", path)
    if status == 200:
        assert isinstance(stored, dict)
        decode(stored["metadata"].get("managedFields"))
        apiserver.request("DELETE", path)
