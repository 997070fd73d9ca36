"""Ingresses and IngressClasses: one case per cause path Kubernetes' networking
validation reports, the default class pick, what may change on update, kubectl's cells."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from minikube_py.api import resources
from minikube_py.api.ingress import class_of, host_problems
from minikube_py.api.ingressclass import DEFAULT_ANNOTATION, default_class
from minikube_py.api.registry import strategy_for
from minikube_py.api.resources import Resource
from minikube_py.apiserver import discovery
from tests.fixtures.api_strategies import DELETE, created_causes, set_path, table_meta, table_row

Obj = dict[str, Any]
ING, IC = resources.INGRESSES, resources.INGRESSCLASSES


def _backend(name: str = "web", port: Any = None) -> Obj:
    return {"service": {"name": name, "port": port or {"number": 80}}}


VALID: dict[Resource, Obj] = {
    ING: {"metadata": {"name": "web", "namespace": "default"}, "spec": {
        "ingressClassName": "minikube-py",
        "defaultBackend": _backend("fallback", {"name": "http"}),
        "tls": [{"hosts": ["a.example.com", "*.example.org"], "secretName": "tls-a"}],
        "rules": [
            {"host": "a.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": _backend()},
                {"path": "/api/v1", "pathType": "Exact", "backend": _backend("api")},
                {"pathType": "ImplementationSpecific", "backend": {"resource": {
                    "apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "b"}}}]}},
            {"host": "*.example.org", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": _backend()}]}}]}},
    IC: {"metadata": {"name": "minikube-py"}, "spec": {
        "controller": "minikube-py.io/ingress-controller",
        "parameters": {"kind": "Config", "name": "c", "apiGroup": "example.com"}}},
}


@pytest.mark.parametrize("resource", [pytest.param(r, id=r.plural) for r in VALID])
def test_valid_objects_have_no_causes(resource: Resource) -> None:
    assert created_causes(resource, VALID[resource]) == []


PATH0 = "spec.rules.0.http.paths.0"
CASES = [
    pytest.param(ING, set_path("spec", {}), "spec.rules", "FieldValueInvalid",
                 id="neither rules nor defaultBackend"),
    pytest.param(ING, set_path(f"{PATH0}.pathType", DELETE),
                 "spec.rules[0].http.paths[0].pathType", "FieldValueRequired", id="pathType"),
    pytest.param(ING, set_path(f"{PATH0}.pathType", "Regex"),
                 "spec.rules[0].http.paths[0].pathType", "FieldValueNotSupported",
                 id="unknown pathType"),
    pytest.param(ING, set_path(f"{PATH0}.path", "api"), "spec.rules[0].http.paths[0].path",
                 "FieldValueInvalid", id="Prefix path not absolute"),
    pytest.param(ING, set_path(f"{PATH0}.path", "/a//b"), "spec.rules[0].http.paths[0].path",
                 "FieldValueInvalid", id="Prefix path with //"),
    pytest.param(ING, set_path(f"{PATH0}.path", "/a/%2Fb"), "spec.rules[0].http.paths[0].path",
                 "FieldValueInvalid", id="encoded slash"),
    pytest.param(ING, set_path(f"{PATH0}.path", "/a/.."), "spec.rules[0].http.paths[0].path",
                 "FieldValueInvalid", id="ends with /.."),
    pytest.param(ING, set_path("spec.rules.0.http.paths.2.path", "x"),
                 "spec.rules[0].http.paths[2].path", "FieldValueInvalid",
                 id="ImplementationSpecific path not absolute"),
    pytest.param(ING, set_path("spec.rules.0.http.paths", []), "spec.rules[0].http.paths",
                 "FieldValueRequired", id="no paths"),
    pytest.param(ING, set_path("spec.rules.0.host", "10.0.0.1"), "spec.rules[0].host",
                 "FieldValueInvalid", id="IP host"),
    pytest.param(ING, set_path("spec.rules.0.host", "a.*.com"), "spec.rules[0].host",
                 "FieldValueInvalid", id="wildcard not first label"),
    pytest.param(ING, set_path("spec.rules.0.host", "Upper.com"), "spec.rules[0].host",
                 "FieldValueInvalid", id="host not DNS"),
    pytest.param(ING, set_path(f"{PATH0}.backend", {}), "spec.rules[0].http.paths[0].backend",
                 "FieldValueInvalid", id="backend neither service nor resource"),
    pytest.param(ING, set_path(f"{PATH0}.backend.resource", {"kind": "K", "name": "n"}),
                 "spec.rules[0].http.paths[0].backend", "FieldValueInvalid",
                 id="backend both service and resource"),
    pytest.param(ING, set_path(f"{PATH0}.backend.service.port", {"name": "http", "number": 80}),
                 "spec.rules[0].http.paths[0].backend.service.port", "FieldValueInvalid",
                 id="port name and number"),
    pytest.param(ING, set_path(f"{PATH0}.backend.service.port", {}),
                 "spec.rules[0].http.paths[0].backend.service.port", "FieldValueRequired",
                 id="port neither"),
    pytest.param(ING, set_path(f"{PATH0}.backend.service.port", {"number": 70000}),
                 "spec.rules[0].http.paths[0].backend.service.port.number",
                 "FieldValueInvalid", id="port number range"),
    pytest.param(ING, set_path(f"{PATH0}.backend.service.port", {"name": "HTTP"}),
                 "spec.rules[0].http.paths[0].backend.service.port.name",
                 "FieldValueInvalid", id="port name"),
    pytest.param(ING, set_path(f"{PATH0}.backend.service.name", "1web"),
                 "spec.rules[0].http.paths[0].backend.service.name", "FieldValueInvalid",
                 id="service name"),
    pytest.param(ING, set_path("spec.rules.0.http.paths.2.backend.resource.kind", DELETE),
                 "spec.rules[0].http.paths[2].backend.resource.kind", "FieldValueRequired",
                 id="resource kind"),
    pytest.param(ING, set_path("spec.tls.0.hosts.1", "*"), "spec.tls[0].hosts[1]",
                 "FieldValueInvalid", id="tls bare wildcard"),
    pytest.param(ING, set_path("spec.tls.0.secretName", "Bad_Name"), "spec.tls[0].secretName",
                 "FieldValueInvalid", id="tls secretName"),
    pytest.param(ING, set_path("spec.ingressClassName", "Bad_Name"), "spec.ingressClassName",
                 "FieldValueInvalid", id="class name"),
    pytest.param(ING, set_path("spec.defaultBackend.service.port", {}),
                 "spec.defaultBackend.service.port", "FieldValueRequired", id="defaultBackend"),
    pytest.param(IC, set_path("spec.controller", DELETE), "spec.controller",
                 "FieldValueRequired", id="controller"),
    pytest.param(IC, set_path("spec.controller", "nginx"), "spec.controller",
                 "FieldValueInvalid", id="controller not domain-prefixed"),
    pytest.param(IC, set_path("spec.controller", "a.io/" + "x" * 250), "spec.controller",
                 "FieldValueTooLong", id="controller too long"),
    pytest.param(IC, set_path("spec.parameters.kind", DELETE), "spec.parameters.kind",
                 "FieldValueRequired", id="parameters kind"),
    pytest.param(IC, set_path("spec.parameters.scope", "Namespace"),
                 "spec.parameters.namespace", "FieldValueRequired",
                 id="Namespace scope needs a namespace"),
    pytest.param(IC, set_path("spec.parameters.namespace", "ns"),
                 "spec.parameters.namespace", "FieldValueForbidden",
                 id="Cluster scope with a namespace"),
    pytest.param(IC, set_path("spec.parameters.scope", "World"), "spec.parameters.scope",
                 "FieldValueNotSupported", id="scope"),
]


@pytest.mark.parametrize(("resource", "mutate", "path", "reason"), CASES)
def test_cause(resource: Resource, mutate: Callable[[Obj], None], path: str,
               reason: str) -> None:
    obj = copy.deepcopy(VALID[resource])
    mutate(obj)
    causes = created_causes(resource, obj)
    assert [(c.field, c.reason) for c in causes] == [(path, reason)], causes


def test_messages_read_like_kubernetes() -> None:
    obj = copy.deepcopy(VALID[ING])
    set_path(f"{PATH0}.pathType", DELETE)(obj)
    set_path("spec.rules.0.host", "1.2.3.4")(obj)
    messages = {str(c) for c in created_causes(ING, obj)}
    assert messages == {
        'spec.rules[0].host: Invalid value: "1.2.3.4": must be a DNS name, not an IP address',
        "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"}


def test_ingressclass_controller_is_immutable_and_scope_defaults() -> None:
    strategy = strategy_for(IC)
    old = copy.deepcopy(VALID[IC])
    strategy.default(old)
    assert old["spec"]["parameters"]["scope"] == "Cluster"
    new = copy.deepcopy(old)
    new["spec"]["controller"] = "example.com/other"
    assert [c.field for c in strategy.validate_update(new, old)] == ["spec.controller"]


def test_status_write_checks_load_balancer_addresses() -> None:
    strategy = strategy_for(ING)
    old = copy.deepcopy(VALID[ING])
    strategy.prepare_create(old)
    new = copy.deepcopy(old)
    new["status"] = {"loadBalancer": {"ingress": [{"ip": "x"}, {"hostname": "1.2.3.4"}]}}
    strategy.prepare_update(new, old, "status")
    assert [c.field for c in strategy.validate_update(new, old)] == [
        "status.loadBalancer.ingress[0].ip", "status.loadBalancer.ingress[1].hostname"]


def test_new_ingress_starts_with_an_empty_load_balancer_status() -> None:
    obj = copy.deepcopy(VALID[ING])
    obj["status"] = {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}
    strategy_for(ING).prepare_create(obj)
    assert obj["status"] == {"loadBalancer": {}}


@pytest.mark.parametrize(("host", "ok"), [
    ("foo.com", True), ("*.foo.com", True), ("*", False), ("*.*.foo.com", False),
    ("foo.*.com", False), ("*foo.com", False)])
def test_wildcard_hosts(host: str, ok: bool) -> None:
    assert (host_problems(host) == []) is ok


def _cls(name: str, created: str, default: bool) -> Obj:
    annotations = {DEFAULT_ANNOTATION: "true"} if default else {}
    return {"metadata": {"name": name, "creationTimestamp": created,
                         "annotations": annotations}}


def test_default_class_is_the_newest_marked() -> None:
    classes = [_cls("a", "2024-01-01T00:00:00Z", True), _cls("b", "2025-01-01T00:00:00Z", True),
               _cls("c", "2026-01-01T00:00:00Z", False)]
    chosen = default_class(classes)
    assert chosen is not None and chosen["metadata"]["name"] == "b"
    assert default_class([classes[2]]) is None


def test_class_of_reads_the_legacy_annotation() -> None:
    legacy = {"metadata": {"annotations": {"kubernetes.io/ingress.class": "nginx"}}, "spec": {}}
    assert class_of(legacy) == "nginx"
    assert class_of({"spec": {"ingressClassName": "x"}}) == "x"
    assert class_of({"spec": {}}) is None


def test_ingress_row() -> None:
    ing = {"metadata": table_meta("web"), "spec": {
        "rules": [{"host": "a.com"}, {}, {"host": "c.com"}, {"host": "d.com"}],
        "tls": [{"hosts": ["a.com"]}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.168.77.10"},
                                                {"hostname": "lb.example.com"}]}}}
    row = table_row(ING, ing)
    assert [row[k] for k in ("Class", "Hosts", "Address", "Ports", "Age")] == [
        "<none>", "a.com,c.com + 1 more...", "192.168.77.10,lb.example.com", "80, 443", "5m"]
    plain = {"metadata": table_meta("x"), "spec": {"ingressClassName": "minikube-py",
                                                   "defaultBackend": _backend()}}
    row = table_row(ING, plain)
    assert [row[k] for k in ("Class", "Hosts", "Address", "Ports")] == [
        "minikube-py", "*", "", "80"]


def test_ingressclass_row() -> None:
    row = table_row(IC, {"metadata": table_meta("minikube-py"), "spec": VALID[IC]["spec"]})
    assert [row[k] for k in ("Controller", "Parameters")] == [
        "minikube-py.io/ingress-controller", "Config.example.com/c"]


def test_discovery_lists_the_networking_group() -> None:
    doc = discovery.api_resource_list("networking.k8s.io", "v1")
    assert doc is not None
    by_name = {r["name"]: r for r in doc["resources"]}
    assert by_name["ingresses"]["shortNames"] == ["ing"]
    assert by_name["ingresses"]["namespaced"] is True
    assert "ingresses/status" in by_name
    assert by_name["ingressclasses"]["namespaced"] is False
