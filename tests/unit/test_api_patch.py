"""PATCH on our kinds: the three content types, kubectl's merge keys, and errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from minikube_py.api import resources
from minikube_py.api.errors import StatusError
from minikube_py.api.patch import JSON_PATCH, MERGE, STRATEGIC, apply_patch


def _pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
                     "finalizers": ["a/one"]},
        "spec": {
            "containers": [
                {"name": "app", "image": "nginx:1", "ports": [{"containerPort": 80},
                                                                {"containerPort": 443}],
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                 "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                {"name": "sidecar", "image": "busybox"},
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "tolerations": [{"key": "k", "operator": "Exists"}],
            "imagePullSecrets": [{"name": "one"}],
        },
        "status": {"conditions": [{"type": "Ready", "status": "False"},
                                  {"type": "PodScheduled", "status": "True"}]},
    }


def _smp(patch: dict[str, Any], obj: dict[str, Any] | None = None,
         resource: resources.Resource = resources.PODS) -> dict[str, Any]:
    return apply_patch(obj or _pod(), json.dumps(patch).encode(), STRATEGIC, resource)


def test_containers_merge_by_name() -> None:
    out = _smp({"spec": {"containers": [{"name": "sidecar", "image": "busybox:2"}]}})
    assert [(c["name"], c["image"]) for c in out["spec"]["containers"]] == [
        ("app", "nginx:1"), ("sidecar", "busybox:2")]


def test_env_merges_by_name_and_deletes_with_directive() -> None:
    out = _smp({"spec": {"containers": [{"name": "app", "env": [
        {"name": "B", "$patch": "delete"}, {"name": "C", "value": "3"}]}]}})
    # Without $setElementOrder, new patch items go before server-only ones, as upstream.
    assert out["spec"]["containers"][0]["env"] == [{"name": "C", "value": "3"},
                                                   {"name": "A", "value": "1"}]


def test_container_ports_merge_by_container_port() -> None:
    out = _smp({"spec": {"containers": [{"name": "app", "ports": [
        {"containerPort": 443, "name": "https"}, {"containerPort": 8080}]}]}})
    assert out["spec"]["containers"][0]["ports"] == [
        {"containerPort": 80}, {"containerPort": 443, "name": "https"}, {"containerPort": 8080}]


def test_volume_mounts_merge_by_mount_path() -> None:
    out = _smp({"spec": {"containers": [{"name": "app", "volumeMounts": [
        {"mountPath": "/data", "readOnly": True}]}]}})
    assert out["spec"]["containers"][0]["volumeMounts"] == [
        {"name": "data", "mountPath": "/data", "readOnly": True}]


def test_volumes_retain_keys_switches_source() -> None:
    out = _smp({"spec": {"volumes": [{"name": "data", "hostPath": {"path": "/x"},
                                      "$retainKeys": ["hostPath", "name"]}]}})
    assert out["spec"]["volumes"] == [{"name": "data", "hostPath": {"path": "/x"}}]


def test_tolerations_are_replaced_and_image_pull_secrets_merged() -> None:
    out = _smp({"spec": {"tolerations": [{"key": "other", "operator": "Exists"}],
                         "imagePullSecrets": [{"name": "two"}]}})
    assert out["spec"]["tolerations"] == [{"key": "other", "operator": "Exists"}]
    assert out["spec"]["imagePullSecrets"] == [{"name": "two"}, {"name": "one"}]


def test_conditions_merge_by_type() -> None:
    out = _smp({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    assert out["status"]["conditions"] == [{"type": "Ready", "status": "True"},
                                           {"type": "PodScheduled", "status": "True"}]


def test_finalizers_merge_and_delete_from_primitive_list() -> None:
    out = _smp({"metadata": {"finalizers": ["b/two"],
                             "$deleteFromPrimitiveList/finalizers": ["a/one"]}})
    assert out["metadata"]["finalizers"] == ["b/two"]


def test_set_element_order_reorders_containers() -> None:
    out = _smp({"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
                         "containers": [{"name": "app", "image": "nginx:2"}]}})
    assert [c["name"] for c in out["spec"]["containers"]] == ["sidecar", "app"]
    assert "$setElementOrder/containers" not in json.dumps(out)


def test_patch_replace_directive_on_list() -> None:
    out = _smp({"spec": {"containers": [{"$patch": "replace"},
                                        {"name": "only", "image": "x"}]}})
    assert out["spec"]["containers"] == [{"name": "only", "image": "x"}]


def test_null_deletes_and_labels_merge() -> None:
    out = _smp({"metadata": {"labels": {"app": None, "tier": "web"}}})
    assert out["metadata"]["labels"] == {"tier": "web"}


def test_service_ports_merge_by_port() -> None:
    svc = {"metadata": {"name": "s"}, "spec": {"ports": [
        {"port": 80, "targetPort": 8080}, {"port": 443, "name": "https"}]}}
    out = _smp({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}, svc, resources.SERVICES)
    assert out["spec"]["ports"] == [{"port": 80, "targetPort": 9090},
                                    {"port": 443, "name": "https"}]


def test_deployment_template_containers_merge_and_strategy_retain_keys() -> None:
    deploy = {"metadata": {"name": "d"}, "spec": {
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
        "template": {"spec": {"containers": [{"name": "a", "image": "1"},
                                             {"name": "b", "image": "1"}]}}}}
    out = _smp({"spec": {"strategy": {"type": "Recreate", "$retainKeys": ["type"]},
                         "template": {"spec": {"containers": [{"name": "b", "image": "2"}]}}}},
               deploy, resources.DEPLOYMENTS)
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    assert out["spec"]["template"]["spec"]["containers"] == [{"name": "a", "image": "1"},
                                                            {"name": "b", "image": "2"}]


def test_merge_patch_replaces_lists() -> None:
    out = apply_patch(_pod(), b'{"spec":{"containers":[{"name":"x","image":"y"}]},'
                              b'"metadata":{"labels":null}}', MERGE, resources.PODS)
    assert out["spec"]["containers"] == [{"name": "x", "image": "y"}]
    assert "labels" not in out["metadata"]


def test_json_patch_operations() -> None:
    ops = [
        {"op": "test", "path": "/metadata/name", "value": "web"},
        {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:2"},
        {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
        {"op": "remove", "path": "/spec/tolerations"},
        {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/copy"},
        {"op": "move", "from": "/metadata/labels/copy", "path": "/metadata/labels/moved"},
        {"op": "add", "path": "/spec/containers/-", "value": {"name": "z", "image": "z"}},
        {"op": "add", "path": "/metadata/labels/a~1b", "value": "slash"},
    ]
    out = apply_patch(_pod(), json.dumps(ops), JSON_PATCH, resources.PODS)
    assert out["spec"]["containers"][0]["image"] == "nginx:2"
    assert out["metadata"]["labels"] == {"app": "web", "tier": "front", "moved": "web",
                                         "a/b": "slash"}
    assert "tolerations" not in out["spec"]
    assert out["spec"]["containers"][-1]["name"] == "z"


def test_original_is_untouched() -> None:
    pod = _pod()
    before = json.dumps(pod)
    _smp({"spec": {"containers": [{"name": "app", "image": "changed"}]}}, pod)
    apply_patch(pod, b'[{"op":"remove","path":"/spec"}]', JSON_PATCH, resources.PODS)
    assert json.dumps(pod) == before


@pytest.mark.parametrize(("body", "content_type", "code"), [
    pytest.param(b"{not json", STRATEGIC, 400, id="malformed-json"),
    pytest.param(b"[1, 2]", MERGE, 400, id="merge-patch-not-object"),
    pytest.param(b'{"op": "add"}', JSON_PATCH, 400, id="json-patch-not-list"),
    pytest.param(b'[{"op": "frob", "path": "/a"}]', JSON_PATCH, 400, id="unknown-op"),
    pytest.param(b'[{"op": "add", "path": "/a"}]', JSON_PATCH, 400, id="missing-value"),
    pytest.param(b'[{"op": "test", "path": "/metadata/name", "value": "x"}]', JSON_PATCH, 422,
                 id="test-fails"),
    pytest.param(b'[{"op": "remove", "path": "/nope/deeper"}]', JSON_PATCH, 422,
                 id="missing-path"),
    pytest.param(b'[{"op": "replace", "path": "/spec/containers/7", "value": 1}]', JSON_PATCH,
                 422, id="index-out-of-range"),
    pytest.param(b'{"spec": {"containers": [{"image": "x"}]}}', STRATEGIC, 422,
                 id="missing-merge-key"),
    pytest.param(b'{"spec": {"$patch": "explode"}}', STRATEGIC, 400, id="unknown-directive"),
    pytest.param(b'{"$retainKeys": "spec"}', STRATEGIC, 400, id="retain-keys-not-list"),
    pytest.param(b'{}', "text/plain", 415, id="unsupported-media-type"),
])
def test_bad_patches(body: bytes, content_type: str, code: int) -> None:
    with pytest.raises(StatusError) as caught:
        apply_patch(_pod(), body, content_type, resources.PODS)
    assert caught.value.code == code
    assert caught.value.to_status()["kind"] == "Status"
