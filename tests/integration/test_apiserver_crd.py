"""CustomResourceDefinitions against a real api-server, driven by kubectl and raw REST."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from minikube_py.lifetime import stop_process
from tests.fixtures.apiserver import ApiServer, as_user
from tests.fixtures.workers import answering_processes, until, workers_of

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def widget_crd(group: str) -> dict[str, Any]:
    """Two versions (v1 stored, v1beta1 served), status and scale subresources, printer
    columns, a schema with defaults, bounds, an enum and an open map."""
    schema = {"type": "object", "properties": {
        "spec": {"type": "object", "required": ["size"], "properties": {
            "size": {"type": "integer", "minimum": 1, "maximum": 10},
            "replicas": {"type": "integer", "default": 1},
            "mode": {"type": "string", "enum": ["fast", "safe"], "default": "safe"},
            "port": {"x-kubernetes-int-or-string": True},
            "tags": {"type": "array", "items": {"type": "string"},
                     "x-kubernetes-list-type": "set"},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                   "properties": {
            "replicas": {"type": "integer"}, "phase": {"type": "string"},
            "selector": {"type": "string"}}}}}
    columns = [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
               {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
               {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
    subresources = {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                            "statusReplicasPath": ".status.replicas",
                                            "labelSelectorPath": ".status.selector"}}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"widgets.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                               "shortNames": ["wd"], "categories": ["all"]},
                     "versions": [
                         {"name": "v1", "served": True, "storage": True,
                          "schema": {"openAPIV3Schema": schema},
                          "subresources": subresources, "additionalPrinterColumns": columns},
                         {"name": "v1beta1", "served": True, "storage": False,
                          "schema": {"openAPIV3Schema": schema},
                          "subresources": subresources,
                          "additionalPrinterColumns": columns}]}}


def wait_for(check: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


@pytest.fixture
def group(apiserver: ApiServer) -> Iterator[str]:
    """A fresh API group with the Widget CRD; the CRD is deleted afterwards."""
    name = f"t{uuid.uuid4().hex[:6]}.example.com"
    status, created = apiserver.request("POST", CRD_PATH, widget_crd(name))
    assert status == 201, created
    try:
        yield name
    finally:
        apiserver.request("DELETE", f"{CRD_PATH}/widgets.{name}")


def test_crd_is_established_and_discovered_within_a_second(apiserver: ApiServer,
                                                           group: str) -> None:
    started = time.monotonic()
    listed = wait_for(lambda: apiserver.request("GET", f"/apis/{group}/v1")[0] == 200, 1.0)
    assert listed and time.monotonic() - started < 1.0
    _, resources = apiserver.request("GET", f"/apis/{group}/v1")
    assert isinstance(resources, dict)
    names = {r["name"]: r for r in resources["resources"]}
    assert names["widgets"]["shortNames"] == ["wd"] and names["widgets"]["namespaced"]
    assert names["widgets"]["categories"] == ["all"]
    assert {"widgets/status", "widgets/scale"} <= set(names)
    _, crd = apiserver.request("GET", f"{CRD_PATH}/widgets.{group}")
    assert isinstance(crd, dict)
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    _, groups = apiserver.request("GET", "/apis")
    assert isinstance(groups, dict) and group in [g["name"] for g in groups["groups"]]
    _, doc = apiserver.request("GET", "/openapi/v2")
    assert isinstance(doc, dict)
    reversed_group = ".".join(reversed(group.split(".")))
    assert f"{reversed_group}.v1.Widget" in doc["definitions"]


def test_schema_validation_defaulting_and_pruning(apiserver: ApiServer, group: str) -> None:
    path = f"/apis/{group}/v1/namespaces/default/widgets"
    wait_for(lambda: apiserver.request("GET", path)[0] == 200)
    status, err = apiserver.request("POST", path, {"metadata": {"name": "bad"}, "spec": {
        "size": 11, "mode": "slow", "port": 1.5, "tags": ["a", "a"]}})
    assert status == 422 and isinstance(err, dict), err
    assert err["message"].startswith(f'Widget.{group} "bad" is invalid: ')
    causes = {c["field"]: c["message"] for c in err["details"]["causes"]}
    assert causes["spec.size"] == ("Invalid value: 11: spec.size in body should be less than "
                                   "or equal to 10")
    assert causes["spec.mode"] == ('Unsupported value: "slow": supported values: "fast", '
                                   '"safe"')
    assert causes["spec.tags[1]"] == 'Duplicate value: "a"'
    assert "spec.port" in causes
    status, err = apiserver.request("POST", path, {"metadata": {"name": "nosize"}, "spec": {}})
    assert status == 422 and isinstance(err, dict)
    assert err["details"]["causes"][0]["field"] == "spec.size"
    status, created = apiserver.request("POST", path, {"metadata": {"name": "ok"}, "spec": {
        "size": 3, "port": "http", "unknown": 1, "extra": {"any": {"thing": 1}}},
        "status": {"phase": "ignored"}, "junk": True})
    assert status == 201 and isinstance(created, dict), created
    assert created["spec"] == {"size": 3, "port": "http", "replicas": 1, "mode": "safe",
                               "extra": {"any": {"thing": 1}}}
    assert "junk" not in created and "status" not in created
    assert created["metadata"]["generation"] == 1


def test_kubectl_get_explain_scale_patch_status_and_versions(apiserver: ApiServer, group: str,
                                                              tmp_path: Path) -> None:
    path = f"/apis/{group}/v1/namespaces/default/widgets"
    wait_for(lambda: apiserver.request("GET", path)[0] == 200)
    manifest = tmp_path / "w.yaml"
    manifest.write_text(f"apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: w1\n"
                        "spec:\n  size: 4\n")
    applied = apiserver.kubectl(tmp_path, "apply", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    got = apiserver.kubectl(tmp_path, "get", f"widgets.{group}")
    assert got.returncode == 0, got.stderr
    header, row = got.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "SIZE", "PHASE", "AGE"] and row.split()[:2] == ["w1", "4"]
    assert apiserver.kubectl(tmp_path, "get", "wd").stdout.splitlines()[1].startswith("w1")

    scaled = apiserver.kubectl(tmp_path, "scale", f"widgets.{group}/w1", "--replicas=5")
    assert scaled.returncode == 0, scaled.stderr
    patched = apiserver.kubectl(tmp_path, "patch", f"widgets.{group}", "w1",
                                "--subresource=status", "--type=merge",
                                "-p", '{"status":{"phase":"Ready","replicas":5,'
                                '"selector":"app=w"}}')
    assert patched.returncode == 0, patched.stderr
    _, obj = apiserver.request("GET", f"{path}/w1")
    assert isinstance(obj, dict)
    assert obj["spec"]["replicas"] == 5
    assert obj["status"] == {"phase": "Ready", "replicas": 5, "selector": "app=w"}
    _, scale = apiserver.request("GET", f"{path}/w1/scale")
    assert isinstance(scale, dict) and scale["kind"] == "Scale"
    assert scale["spec"] == {"replicas": 5} and scale["status"] == {"replicas": 5,
                                                                    "selector": "app=w"}
    assert obj["metadata"]["generation"] == 2  # the scale; the status write is not spec
    assert "Ready" in apiserver.kubectl(tmp_path, "get", f"widgets.{group}", "w1").stdout

    # The same object through the other version: only apiVersion differs (None conversion).
    _, beta = apiserver.request("GET", f"/apis/{group}/v1beta1/namespaces/default/widgets/w1")
    assert isinstance(beta, dict) and beta["apiVersion"] == f"{group}/v1beta1"
    assert beta["spec"] == obj["spec"]

    explained = apiserver.kubectl(tmp_path, "explain", f"widgets.{group}.spec")
    assert explained.returncode == 0, explained.stderr
    assert "size" in explained.stdout and "<integer>" in explained.stdout


def test_merge_and_json_patch_work_strategic_merge_is_415(apiserver: ApiServer,
                                                          group: str) -> None:
    path = f"/apis/{group}/v1/namespaces/default/widgets"
    wait_for(lambda: apiserver.request("GET", path)[0] == 200)
    assert apiserver.request("POST", path, {"metadata": {"name": "p"}, "spec": {"size": 1}})[
        0] == 201
    status, err = apiserver.request("PATCH", f"{path}/p", {"spec": {"size": 2}},
                                    content_type="application/strategic-merge-patch+json")
    assert status == 415 and isinstance(err, dict) and err["reason"] == "UnsupportedMediaType"
    assert err["message"] == ("the body of the request was in an unknown format - accepted "
                              "media types include: application/json-patch+json, "
                              "application/merge-patch+json, application/apply-patch+yaml")
    status, obj = apiserver.request("PATCH", f"{path}/p", {"spec": {"size": 2}},
                                    content_type="application/merge-patch+json")
    assert status == 200 and isinstance(obj, dict) and obj["spec"]["size"] == 2
    status, obj = apiserver.request("PATCH", f"{path}/p", [
        {"op": "replace", "path": "/spec/size", "value": 3}],
        content_type="application/json-patch+json")
    assert status == 200 and isinstance(obj, dict) and obj["spec"]["size"] == 3
    status, err = apiserver.request("PATCH", f"{path}/p", {"spec": {"size": 99}},
                                    content_type="application/merge-patch+json")
    assert status == 422


def test_label_and_field_selectors_and_watch(apiserver: ApiServer, group: str) -> None:
    path = f"/apis/{group}/v1/namespaces/default/widgets"
    wait_for(lambda: apiserver.request("GET", path)[0] == 200)
    for name, tier in (("a", "web"), ("b", "db")):
        assert apiserver.request("POST", path, {"metadata": {"name": name, "labels": {
            "tier": tier}}, "spec": {"size": 1}})[0] == 201
    _, listed = apiserver.request("GET", f"{path}?labelSelector=tier%3Dweb")
    assert isinstance(listed, dict) and [i["metadata"]["name"] for i in listed["items"]] == ["a"]
    assert listed["kind"] == "WidgetList"
    _, listed = apiserver.request("GET", f"{path}?fieldSelector=metadata.name%3Db")
    assert isinstance(listed, dict) and [i["metadata"]["name"] for i in listed["items"]] == ["b"]
    status, raw = apiserver.request("GET", f"{path}?watch=1&timeoutSeconds=1"
                                    "&labelSelector=tier%3Ddb")
    assert status == 200  # one event parses as one JSON document, more as lines
    events = [raw] if isinstance(raw, dict) else [
        json.loads(line) for line in str(raw).splitlines() if line]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "b")]


def test_cluster_scoped_kind_and_deleting_the_crd_deletes_its_objects(
        apiserver: ApiServer) -> None:
    group = f"c{uuid.uuid4().hex[:6]}.example.com"
    crd = widget_crd(group)
    crd["spec"]["scope"] = "Cluster"
    assert apiserver.request("POST", CRD_PATH, crd)[0] == 201
    path = f"/apis/{group}/v1/widgets"
    assert wait_for(lambda: apiserver.request("GET", path)[0] == 200)
    assert apiserver.request("POST", path, {"metadata": {"name": "x"}, "spec": {"size": 1}})[
        0] == 201
    status, _ = apiserver.request("DELETE", f"{CRD_PATH}/widgets.{group}")
    assert status == 200
    assert wait_for(lambda: apiserver.request("GET", f"{CRD_PATH}/widgets.{group}")[0] == 404)
    assert wait_for(lambda: apiserver.request("GET", path)[0] == 404)
    # A new CRD of the same name starts empty: the old objects are gone from etcd.
    assert apiserver.request("POST", CRD_PATH, crd)[0] == 201
    try:
        assert wait_for(lambda: apiserver.request("GET", path)[0] == 200)
        _, listed = apiserver.request("GET", path)
        assert isinstance(listed, dict) and listed["items"] == []
    finally:
        apiserver.request("DELETE", f"{CRD_PATH}/widgets.{group}")


def test_invalid_crd_is_422(apiserver: ApiServer) -> None:
    crd = widget_crd("bad.example.com")
    crd["metadata"]["name"] = "wrong.example.com"
    crd["spec"]["versions"][1]["storage"] = True
    del crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["type"]
    status, err = apiserver.request("POST", CRD_PATH, crd)
    assert status == 422 and isinstance(err, dict)
    fields = {c["field"] for c in err["details"]["causes"]}
    assert {"metadata.name", "spec.versions",
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].type"} <= fields


def test_every_worker_process_learns_a_crd_by_watch(
        apiserver_factory: Callable[..., ApiServer]) -> None:
    server = apiserver_factory(workers=2)
    until(lambda: workers_of(server), 10, "no worker process")
    until(lambda: len(answering_processes(server, 20)) == 2, 30,
          "new connections never reached both processes")
    group = f"w{uuid.uuid4().hex[:6]}.example.com"
    assert server.request("POST", CRD_PATH, widget_crd(group))[0] == 201
    time.sleep(1.0)  # the bound: served everywhere within 1 s of the create
    path = f"/apis/{group}/v1/namespaces/default/widgets"
    for i in range(20):  # new connections each: both processes answer in turn
        status, made = server.request("POST", path, {"metadata": {"name": f"w{i}"},
                                                     "spec": {"size": 2}})
        assert status == 201, made


def test_helm_style_apply_of_crds_then_custom_objects(apiserver: ApiServer,
                                                      tmp_path: Path) -> None:
    """As `helm install` does: the chart's crds/ first, wait for Established, then the
    rendered templates that use the new kind."""
    group = f"h{uuid.uuid4().hex[:6]}.example.com"
    crds, rendered = tmp_path / "crds.yaml", tmp_path / "rendered.yaml"
    crds.write_text(json.dumps(widget_crd(group)))
    rendered.write_text("\n---\n".join(
        f"apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: {name}\n  labels:\n"
        f"    app.kubernetes.io/managed-by: Helm\nspec:\n  size: {size}\n"
        for name, size in (("alpha", 1), ("beta", 2))) + "\n---\napiVersion: v1\n"
        "kind: ConfigMap\nmetadata:\n  name: helm-" + group.split(".")[0] + "\ndata:\n  k: v\n")
    try:
        applied = apiserver.kubectl(tmp_path, "apply", "-f", str(crds))
        assert applied.returncode == 0, applied.stderr
        waited = apiserver.kubectl(tmp_path, "wait", "--for=condition=Established",
                                   "--timeout=10s", f"crd/widgets.{group}")
        assert waited.returncode == 0, waited.stderr
        applied = apiserver.kubectl(tmp_path, "apply", "-f", str(rendered))
        assert applied.returncode == 0, applied.stderr
        listed = apiserver.kubectl(tmp_path, "get", f"widgets.{group}", "-l",
                                   "app.kubernetes.io/managed-by=Helm", "-o", "name")
        assert listed.stdout.split() == [f"widget.{group}/alpha", f"widget.{group}/beta"]
        again = apiserver.kubectl(tmp_path, "apply", "-f", str(rendered))  # an upgrade
        assert again.returncode == 0 and "unchanged" in again.stdout, again.stderr
    finally:
        apiserver.kubectl(tmp_path, "delete", "--ignore-not-found", "-f", str(rendered))
        apiserver.kubectl(tmp_path, "delete", "--ignore-not-found", "-f", str(crds))


def test_aggregated_discovery_lists_custom_kinds(apiserver: ApiServer, group: str) -> None:
    """kubectl >= 1.30 asks /apis for one APIGroupDiscoveryList (apidiscovery.k8s.io/v2)."""
    accept = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
              "application/json")

    def discovered() -> dict[str, Any]:
        req = urllib.request.Request(apiserver.url + "/apis", headers={
            "Accept": accept, "Authorization": f"Bearer {apiserver.token}"})
        with urllib.request.urlopen(req, context=apiserver.ssl_context(), timeout=10) as r:
            assert "as=APIGroupDiscoveryList" in r.headers["Content-Type"]
            doc: dict[str, Any] = json.loads(r.read())
        return doc
    doc = wait_for(lambda: (d := discovered()) and any(
        i["metadata"].get("name") == group for i in d["items"]) and d)
    assert doc and doc["kind"] == "APIGroupDiscoveryList"
    item = next(i for i in doc["items"] if i["metadata"].get("name") == group)
    assert [v["version"] for v in item["versions"]] == ["v1", "v1beta1"]
    widgets = item["versions"][0]["resources"][0]
    assert widgets["resource"] == "widgets" and widgets["scope"] == "Namespaced"
    assert widgets["responseKind"] == {"group": group, "version": "v1", "kind": "Widget"}
    assert widgets["shortNames"] == ["wd"]
    assert {s["subresource"]: s["responseKind"]["kind"] for s in widgets["subresources"]} == {
        "scale": "Scale", "status": "Widget"}
    apps = next(i for i in doc["items"] if i["metadata"].get("name") == "apps")
    assert "deployments" in [r["resource"] for r in apps["versions"][0]["resources"]]


def test_cel_validation_rules_on_create_and_update(apiserver: ApiServer) -> None:
    group = f"r{uuid.uuid4().hex[:6]}.example.com"
    crd = widget_crd(group)
    spec_schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec_schema["x-kubernetes-validations"] = [
        {"rule": "self.replicas <= self.size", "message": "replicas may not exceed size"},
        {"rule": "self.mode == oldSelf.mode", "message": "mode is immutable"},
        {"rule": "self.size != 7", "messageExpression": "'size ' + string(self.size) + "
         "' is unlucky'", "reason": "FieldValueForbidden", "fieldPath": ".size"}]
    assert apiserver.request("POST", CRD_PATH, crd)[0] == 201
    try:
        path = f"/apis/{group}/v1/namespaces/default/widgets"
        assert wait_for(lambda: apiserver.request("GET", path)[0] == 200)
        status, err = apiserver.request("POST", path, {"metadata": {"name": "r"}, "spec": {
            "size": 2, "replicas": 3}})
        assert status == 422 and isinstance(err, dict)
        assert err["details"]["causes"] == [{"reason": "FieldValueInvalid", "field": "spec",
                                             "message": 'Invalid value: "object": replicas '
                                                        "may not exceed size"}]
        status, err = apiserver.request("POST", path, {"metadata": {"name": "r"}, "spec": {
            "size": 7}})
        assert status == 422 and isinstance(err, dict)
        assert err["details"]["causes"] == [{"reason": "FieldValueForbidden",
                                             "field": "spec.size",
                                             "message": "Forbidden: size 7 is unlucky"}]
        assert apiserver.request("POST", path, {"metadata": {"name": "r"}, "spec": {
            "size": 2, "mode": "fast"}})[0] == 201
        status, err = apiserver.request("PATCH", f"{path}/r", {"spec": {"mode": "safe"}},
                                        content_type="application/merge-patch+json")
        assert status == 422 and isinstance(err, dict) and "mode is immutable" in err["message"]
        bad = widget_crd(f"b{group}")
        bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"][
            "x-kubernetes-validations"] = [{"rule": "self.spec.size >"}]
        status, err = apiserver.request("POST", CRD_PATH, bad)
        assert status == 422 and isinstance(err, dict)
        assert err["details"]["causes"][0]["field"] == (
            "spec.versions[0].schema.openAPIV3Schema.x-kubernetes-validations[0].rule")
    finally:
        apiserver.request("DELETE", f"{CRD_PATH}/widgets.{group}")


def test_optional_old_self_rules_run_on_create_and_ratchet_on_update(
        apiserver: ApiServer) -> None:
    """optionalOldSelf: the transition rule runs on create with oldSelf optional.none(),
    on updates with optional.of(the stored value); kubectl apply goes through it too."""
    group = f"o{uuid.uuid4().hex[:6]}.example.com"
    crd = widget_crd(group)
    spec_schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec_schema["x-kubernetes-validations"] = [
        {"rule": "oldSelf.hasValue() || self.size <= 5", "optionalOldSelf": True,
         "message": "new widgets start at most at size 5"},
        {"rule": "self.size >= oldSelf.orValue(self).size", "optionalOldSelf": True,
         "messageExpression": "'size may not shrink below ' + "
                              "string(oldSelf.value().size)"}]
    assert apiserver.request("POST", CRD_PATH, crd)[0] == 201
    try:
        path = f"/apis/{group}/v1/namespaces/default/widgets"
        assert wait_for(lambda: apiserver.request("GET", path)[0] == 200)
        status, err = apiserver.request("POST", path, {"metadata": {"name": "o"},
                                                       "spec": {"size": 8}})
        assert status == 422 and isinstance(err, dict), err
        assert err["details"]["causes"] == [{
            "reason": "FieldValueInvalid", "field": "spec",
            "message": 'Invalid value: "object": new widgets start at most at size 5'}]
        assert apiserver.request("POST", path, {"metadata": {"name": "o"},
                                                "spec": {"size": 4}})[0] == 201
        merge = "application/merge-patch+json"
        status, grown = apiserver.request("PATCH", f"{path}/o", {"spec": {"size": 8}},
                                          content_type=merge)
        assert status == 200, grown  # an update: the first rule holds for it
        status, err = apiserver.request("PATCH", f"{path}/o", {"spec": {"size": 6}},
                                        content_type=merge)
        assert status == 422 and isinstance(err, dict)
        assert err["message"] == (f'Widget.{group} "o" is invalid: spec: Invalid value: '
                                  '"object": size may not shrink below 8')
        bad = widget_crd(f"b{group}")
        bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"][
            "x-kubernetes-validations"] = [{"rule": "has(self.spec)", "optionalOldSelf": True}]
        status, err = apiserver.request("POST", CRD_PATH, bad)
        assert status == 422 and isinstance(err, dict)
        assert err["details"]["causes"][0] == {  # [1]: the same schema in v1beta1
            "reason": "FieldValueInvalid",
            "field": "spec.versions[0].schema.openAPIV3Schema.x-kubernetes-validations[0]"
                     ".optionalOldSelf",
            "message": "Invalid value: true: may not be set if oldSelf is not used in rule"}
    finally:
        apiserver.request("DELETE", f"{CRD_PATH}/widgets.{group}")


def test_custom_resources_go_through_rbac(apiserver: ApiServer, group: str,
                                          tmp_path: Path) -> None:
    """A service account may touch a custom kind only once a Role grants it (kubectl
    create role resolves the custom resource through discovery)."""
    ns = f"crd-rbac-{uuid.uuid4().hex[:6]}"
    assert apiserver.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})[0] == 201
    apiserver.request("POST", f"/api/v1/namespaces/{ns}/serviceaccounts",
                      {"metadata": {"name": "robot"}})
    status, got = apiserver.request(
        "POST", f"/api/v1/namespaces/{ns}/serviceaccounts/robot/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})
    assert status == 201 and isinstance(got, dict)
    token = got["status"]["token"]
    path = f"/apis/{group}/v1/namespaces/{ns}/widgets"
    assert wait_for(lambda: apiserver.request("GET", path)[0] == 200)
    status, denied = as_user(apiserver, token, "GET", path)
    assert status == 403 and denied["message"] == (
        f'widgets.{group} is forbidden: User "system:serviceaccount:{ns}:robot" cannot list '
        f'resource "widgets" in API group "{group}" in the namespace "{ns}"')
    for args in (["create", "role", "widget-reader", "--verb=get,list",
                  f"--resource=widgets.{group}"],
                 ["create", "rolebinding", "read-widgets", "--role=widget-reader",
                  f"--serviceaccount={ns}:robot"]):
        made = apiserver.kubectl(tmp_path, "-n", ns, *args)
        assert made.returncode == 0, made.stderr
    assert wait_for(lambda: as_user(apiserver, token, "GET", path)[0] == 200)
    assert as_user(apiserver, token, "POST", path, {"metadata": {"name": "w"},
                                                    "spec": {"size": 1}})[0] == 403
    apiserver.request("DELETE", f"/api/v1/namespaces/{ns}")


def test_finalizers_hold_a_deleted_custom_object(apiserver: ApiServer, group: str) -> None:
    path = f"/apis/{group}/v1/namespaces/default/widgets"
    assert wait_for(lambda: apiserver.request("GET", path)[0] == 200)
    assert apiserver.request("POST", path, {"metadata": {"name": "held", "finalizers": [
        "example.com/hold"]}, "spec": {"size": 1}})[0] == 201
    assert apiserver.request("DELETE", f"{path}/held")[0] == 200
    status, held = apiserver.request("GET", f"{path}/held")
    assert status == 200 and isinstance(held, dict) and held["metadata"]["deletionTimestamp"]
    status, _ = apiserver.request("PATCH", f"{path}/held", {"metadata": {"finalizers": None}},
                                  content_type="application/merge-patch+json")
    assert status == 200
    assert apiserver.request("GET", f"{path}/held")[0] == 404


def test_a_kopf_operator_reconciles_a_custom_kind(apiserver: ApiServer, group: str,
                                                  tmp_path: Path) -> None:
    """kopf (an operator framework on the official client and aiohttp) watches the kind,
    handles a create, writes its status and its own progress annotations."""
    path = f"/apis/{group}/v1/namespaces/default/widgets"
    assert wait_for(lambda: apiserver.request("GET", path)[0] == 200)
    operator = Path(__file__).parent / "operators" / "widget_operator.py"
    env = {**os.environ, "KUBECONFIG": str(apiserver.kubeconfig), "WIDGET_GROUP": group}
    log = tmp_path / "kopf.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "kopf", "run", "--standalone",
                                 "--namespace", "default", str(operator)],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        assert apiserver.request("POST", path, {"metadata": {"name": "k"},
                                                "spec": {"size": 4}})[0] == 201

        def reconciled() -> Any:
            _, obj = apiserver.request("GET", f"{path}/k")
            return isinstance(obj, dict) and obj.get("status", {}).get("created") == {
                "phase": "Ready"} and obj
        done = wait_for(reconciled, 30)
        assert done, log.read_text()[-3000:]
        status, cm = apiserver.request("GET", "/api/v1/namespaces/default/configmaps/k-size")
        assert status == 200 and isinstance(cm, dict) and cm["data"] == {"size": "4"}
        assert cm["metadata"]["ownerReferences"][0]["kind"] == "Widget"
    finally:
        stop_process(proc)
        apiserver.request("DELETE", "/api/v1/namespaces/default/configmaps/k-size")
