"""Aggregation's pure parts: which headers reach a backend, the RBAC attributes of an
aggregated path, and a backend's APIResourceList as aggregated discovery."""

from __future__ import annotations

import pytest

from minikube_py.apiserver.aggregation import discovered_resources
from minikube_py.apiserver.aggregation_backend import forwarded_headers
from minikube_py.apiserver.aggregation_proxy import target_of
from minikube_py.apiserver.authn import User


def test_identity_replaces_credentials_and_forged_identity() -> None:
    headers = forwarded_headers({
        "Authorization": "Bearer secret", "Impersonate-User": "x", "X-Remote-User": "mallory",
        "X-Remote-Group": "system:masters", "Accept": "application/json",
        "Connection": "keep-alive", "User-Agent": "kubectl"},
        User("jane", ("dev", "system:authenticated"), {"scopes.example.com/a b": "1"}))
    assert headers.getall("X-Remote-User") == ["jane"]
    assert headers.getall("X-Remote-Group") == ["dev", "system:authenticated"]
    assert headers["X-Remote-Extra-scopes.example.com%2Fa%20b"] == "1"
    assert "Authorization" not in headers and "Impersonate-User" not in headers
    assert "Connection" not in headers
    assert headers["Accept"] == "application/json" and headers["User-Agent"] == "kubectl"


@pytest.mark.parametrize(("tail", "namespace", "plural", "name", "sub"), [
    ("nodes", None, "nodes", None, None),
    ("nodes/n1", None, "nodes", "n1", None),
    ("namespaces/web/pods", "web", "pods", None, None),
    ("namespaces/web/pods/p1", "web", "pods", "p1", None),
    ("namespaces/web/flunders/f/status", "web", "flunders", "f", "status"),
    ("namespaces/web", None, "namespaces", "web", None),
])
def test_target_of_aggregated_paths(tail: str, namespace: str | None, plural: str,
                                    name: str | None, sub: str | None) -> None:
    target = target_of("metrics.k8s.io", "v1beta1", tail.split("/"))
    assert (target.namespace, target.resource.plural, target.name, target.subresource) == (
        namespace, plural, name, sub)
    assert target.resource.group == "metrics.k8s.io"


def test_resource_list_becomes_aggregated_discovery() -> None:
    listed = {"resources": [
        {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics",
         "verbs": ["get", "list"]},
        {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics",
         "verbs": ["get", "list"], "shortNames": ["nm"]},
        {"name": "nodes/status", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get"]}]}
    assert discovered_resources(listed, "metrics.k8s.io", "v1beta1") == [
        {"resource": "nodes", "responseKind": {"group": "metrics.k8s.io", "version": "v1beta1",
                                               "kind": "NodeMetrics"},
         "scope": "Cluster", "singularResource": "", "verbs": ["get", "list"],
         "shortNames": ["nm"], "subresources": [{"subresource": "status", "responseKind": {
             "group": "metrics.k8s.io", "version": "v1beta1", "kind": "NodeMetrics"},
             "verbs": ["get"]}]},
        {"resource": "pods", "responseKind": {"group": "metrics.k8s.io", "version": "v1beta1",
                                              "kind": "PodMetrics"},
         "scope": "Namespaced", "singularResource": "", "verbs": ["get", "list"]}]
    assert discovered_resources(None, "g", "v") == []
