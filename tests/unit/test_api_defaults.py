"""Defaults: what Kubernetes fills in for omitted fields, kind by kind."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from minikube_py.api import resources
from minikube_py.api.meta import get_condition, key, owner_of, set_condition
from minikube_py.api.podspec import image_pull_policy
from minikube_py.api.registry import strategy_for


def _defaulted(resource: resources.Resource, obj: dict[str, Any]) -> dict[str, Any]:
    strategy = strategy_for(resource)
    strategy.default(obj)
    strategy.prepare_create(obj)
    return obj


def test_pod_defaults_and_admission() -> None:
    pod = _defaulted(resources.PODS, {"metadata": {"name": "p", "namespace": "d"}, "spec": {
        "containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}],
                        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
                        "livenessProbe": {"httpGet": {"port": 80}}}]}})
    spec, container = pod["spec"], pod["spec"]["containers"][0]
    assert {k: spec[k] for k in ("restartPolicy", "dnsPolicy", "terminationGracePeriodSeconds",
                                 "schedulerName", "securityContext", "enableServiceLinks",
                                 "priority", "serviceAccountName", "preemptionPolicy")} == {
        "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
        "terminationGracePeriodSeconds": 30, "schedulerName": "default-scheduler",
        "securityContext": {}, "enableServiceLinks": True, "priority": 0,
        "serviceAccountName": "default", "preemptionPolicy": "PreemptLowerPriority"}
    assert [t["key"] for t in spec["tolerations"]] == ["node.kubernetes.io/not-ready",
                                                       "node.kubernetes.io/unreachable"]
    assert all(t["tolerationSeconds"] == 300 and t["effect"] == "NoExecute"
               for t in spec["tolerations"])
    assert container["imagePullPolicy"] == "Always"
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["terminationMessagePolicy"] == "File"
    assert container["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert container["livenessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
                                          "timeoutSeconds": 1, "periodSeconds": 10,
                                          "successThreshold": 1, "failureThreshold": 3}
    assert pod["status"] == {"phase": "Pending", "qosClass": "Guaranteed"}
    assert pod["metadata"]["generation"] == 1


def test_pod_keeps_existing_toleration_and_clears_client_status() -> None:
    pod = _defaulted(resources.PODS, {"metadata": {"name": "p"}, "status": {"phase": "Running"},
                                      "spec": {"containers": [{"name": "c", "image": "x:1"}],
                                               "tolerations": [{"operator": "Exists"}]}})
    assert pod["spec"]["tolerations"] == [{"operator": "Exists"}]
    assert pod["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


@pytest.mark.parametrize(("image", "policy"), [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.25", "IfNotPresent"),
    ("registry:5000/nginx", "Always"), ("registry:5000/nginx:1", "IfNotPresent"),
    ("nginx@sha256:abc", "IfNotPresent")])
def test_image_pull_policy(image: str, policy: str) -> None:
    assert image_pull_policy(image) == policy


def test_service_defaults() -> None:
    svc = _defaulted(resources.SERVICES, {"metadata": {"name": "s"}, "spec": {
        "type": "NodePort", "ports": [{"port": 80}]}})
    assert svc["spec"] == {"type": "NodePort", "sessionAffinity": "None",
                           "internalTrafficPolicy": "Cluster", "ipFamilies": ["IPv4"],
                           "ipFamilyPolicy": "SingleStack", "externalTrafficPolicy": "Cluster",
                           "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}]}
    assert svc["status"] == {"loadBalancer": {}}


def test_client_ip_affinity_gets_the_default_timeout() -> None:
    svc: dict[str, Any] = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                           "spec": {"sessionAffinity": "ClientIP", "ports": [{"port": 80}]}}
    strategy_for(resources.SERVICES).default(svc)
    assert svc["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}


def test_service_update_keeps_allocations() -> None:
    strategy = strategy_for(resources.SERVICES)
    old = {"metadata": {"name": "s", "namespace": "d", "uid": "u"}, "spec": {
        "type": "NodePort", "clusterIP": "10.96.0.7", "clusterIPs": ["10.96.0.7"],
        "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30007}]}}
    new: dict[str, Any] = {"metadata": {"name": "s", "namespace": "d"},
                           "spec": {"type": "NodePort", "ports": [{"port": 80}]}}
    strategy.default(new)
    strategy.prepare_update(new, old)
    assert new["spec"]["clusterIP"] == "10.96.0.7"
    assert new["spec"]["ports"][0]["nodePort"] == 30007
    assert strategy.validate_update(new, old) == []


def test_deployment_defaults() -> None:
    d = _defaulted(resources.DEPLOYMENTS, {"metadata": {"name": "d"}, "spec": {
        "selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}},
                     "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}})
    spec = d["spec"]
    assert (spec["replicas"], spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == \
        (1, 10, 600)
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": "25%", "maxSurge": "25%"}}
    template = spec["template"]["spec"]
    assert template["restartPolicy"] == "Always" and template["dnsPolicy"] == "ClusterFirst"
    assert "tolerations" not in template and "priority" not in template
    assert template["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert d["status"] == {}


def test_recreate_deployment_gets_no_rolling_update() -> None:
    d = _defaulted(resources.DEPLOYMENTS, {"metadata": {"name": "d"}, "spec": {
        "strategy": {"type": "Recreate"}}})
    assert d["spec"]["strategy"] == {"type": "Recreate"}


def test_namespace_secret_defaults() -> None:
    ns = _defaulted(resources.NAMESPACES, {"metadata": {"name": "team"}})
    assert ns["spec"] == {"finalizers": ["kubernetes"]}
    assert ns["status"] == {"phase": "Active"}
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team"}
    secret = _defaulted(resources.SECRETS, {"metadata": {"name": "s"}, "data": {"a": "eA=="},
                                            "stringData": {"b": "hello"}})
    assert secret["type"] == "Opaque" and "stringData" not in secret
    assert secret["data"] == {"a": "eA==", "b": base64.b64encode(b"hello").decode()}


def test_namespace_finalize_changes_only_finalizers() -> None:
    strategy = strategy_for(resources.NAMESPACES)
    old = {"metadata": {"name": "n", "labels": {"a": "b"}}, "spec": {"finalizers": ["kubernetes"]},
           "status": {"phase": "Terminating"}}
    new = {"metadata": {"name": "n", "labels": {}}, "spec": {"finalizers": []},
           "status": {"phase": "Active"}}
    strategy.prepare_update(new, old, "finalize")
    assert new == {"metadata": {"name": "n", "labels": {"a": "b"}}, "spec": {"finalizers": []},
                   "status": {"phase": "Terminating"}}


def test_meta_helpers() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns", "ownerReferences": [
        {"kind": "ReplicaSet", "name": "rs", "controller": True}]}}
    assert key(pod) == "ns/p" and key({"metadata": {"name": "n"}}) == "n"
    assert owner_of(pod) == {"kind": "ReplicaSet", "name": "rs", "controller": True}
    status: dict[str, Any] = {}
    assert set_condition(status, {"type": "Ready", "status": "False"}, now="t1")
    assert not set_condition(status, {"type": "Ready", "status": "False"}, now="t2")
    assert set_condition(status, {"type": "Ready", "status": "True"}, now="t3")
    assert get_condition({"status": status}, "Ready") == {
        "type": "Ready", "status": "True", "lastTransitionTime": "t3"}
    assert get_condition(status["conditions"], "Missing") is None


def test_undeclared_fields_are_dropped_like_typed_decoding() -> None:
    deploy: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d", "labels": {"any": "key"}, "bogus": 1},
        "spec": {"containers": [{"image": "x"}], "selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [
                     {"name": "c", "image": "x", "imagee": "typo",
                      "resources": {"limits": {"cpu": "1"}},
                      "ports": [{"containerPort": 80, "hostPortt": 1}]}]}}},
        "status": {"replicas": 1, "nope": True}, "$patch": "x"}
    removed = strategy_for(resources.DEPLOYMENTS).default(deploy)
    assert sorted(removed) == sorted([
        "$patch", "metadata.bogus", "spec.containers", "status.nope",
        "spec.template.spec.containers[0].imagee",
        "spec.template.spec.containers[0].ports[0].hostPortt"])
    assert deploy["metadata"]["labels"] == {"any": "key"}
    assert deploy["spec"]["template"]["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "1"}}
    assert "containers" not in deploy["spec"]
