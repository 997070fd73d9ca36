"""Ingresses and IngressClasses through a real api-server and kubectl: the short name,
kubectl's columns and describe, 422s naming the field, the default class given to a
class-less Ingress, a watch seeing status writes, and the ingress controller's least
privilege."""

from __future__ import annotations

import json
import threading
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from tests.fixtures.apiserver import ApiServer

IC_PATH = "/apis/networking.k8s.io/v1/ingressclasses"
CONTROLLER_SA = "system:serviceaccount:kube-system:ingress-controller"


def _namespace(apiserver: ApiServer) -> str:
    name = f"ing-{uuid.uuid4().hex[:6]}"
    assert apiserver.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})[0] == 201
    return name


def _ingress(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name}, "spec": spec}


def _path(ns: str, name: str = "") -> str:
    return f"/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses" + (f"/{name}" if name else "")


RULE = {"host": "a.example.com", "http": {"paths": [
    {"path": "/", "pathType": "Prefix",
     "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}


def test_kubectl_prints_ingresses_by_short_name(apiserver: ApiServer, tmp_path: Path) -> None:
    ns = _namespace(apiserver)
    body = _ingress("web", ingressClassName="minikube-py", rules=[RULE],
                    tls=[{"hosts": ["a.example.com"], "secretName": "a-tls"}])
    assert apiserver.request("POST", _path(ns), body)[0] == 201
    got = apiserver.kubectl(tmp_path, "-n", ns, "get", "ing")
    assert got.returncode == 0, got.stderr
    header, row = got.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    assert row.split()[:5] == ["web", "minikube-py", "a.example.com", "80,", "443"]
    got = apiserver.kubectl(tmp_path, "get", "ingressclass", "minikube-py")
    assert got.stdout.split()[:8] == ["NAME", "CONTROLLER", "PARAMETERS", "AGE", "minikube-py",
                                       "minikube-py.io/ingress-controller", "<none>",
                                       got.stdout.split()[7]]


def test_invalid_ingress_is_a_422_naming_the_field(apiserver: ApiServer) -> None:
    ns = _namespace(apiserver)
    bad = json.loads(json.dumps(RULE))
    del bad["http"]["paths"][0]["pathType"]
    bad["http"]["paths"][0]["backend"]["service"]["port"] = {"name": "http", "number": 80}
    status, body = apiserver.request("POST", _path(ns), _ingress("bad", rules=[bad]))
    assert status == 422 and isinstance(body, dict)
    assert body["reason"] == "Invalid"
    assert {c["field"] for c in body["details"]["causes"]} == {
        "spec.rules[0].http.paths[0].pathType",
        "spec.rules[0].http.paths[0].backend.service.port"}
    assert apiserver.request("GET", _path(ns, "bad"))[0] == 404


def test_classless_ingress_gets_the_newest_default_class(apiserver: ApiServer) -> None:
    ns = _namespace(apiserver)
    name = f"zz-default-{uuid.uuid4().hex[:6]}"  # wins a same-second tie (by name)
    status, _ = apiserver.request("POST", IC_PATH, {
        "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
        "metadata": {"name": name, "annotations": {
            "ingressclass.kubernetes.io/is-default-class": "true"}},
        "spec": {"controller": "example.com/test"}})
    assert status == 201
    try:
        status, created = apiserver.request("POST", _path(ns), _ingress("plain", rules=[RULE]))
        assert status == 201 and isinstance(created, dict)
        assert created["spec"]["ingressClassName"] == name
        legacy = _ingress("legacy", rules=[RULE])
        legacy["metadata"]["annotations"] = {"kubernetes.io/ingress.class": "other"}
        status, created = apiserver.request("POST", _path(ns), legacy)
        assert status == 201 and isinstance(created, dict)
        assert "ingressClassName" not in created["spec"]
    finally:
        apiserver.request("DELETE", f"{IC_PATH}/{name}")


def test_watch_sees_the_status_write(apiserver: ApiServer) -> None:
    ns = _namespace(apiserver)
    status, created = apiserver.request("POST", _path(ns), _ingress("w", rules=[RULE]))
    assert status == 201 and isinstance(created, dict)
    rv = created["metadata"]["resourceVersion"]
    events: list[dict[str, Any]] = []

    def watch() -> None:
        req = urllib.request.Request(
            f"{apiserver.url}{_path(ns)}?watch=1&resourceVersion={rv}&timeoutSeconds=5")
        req.add_header("Authorization", f"Bearer {apiserver.token}")
        with urllib.request.urlopen(req, context=apiserver.ssl_context(), timeout=10) as r:
            for line in r:
                events.append(json.loads(line))
                return

    reader = threading.Thread(target=watch)
    reader.start()
    created["status"] = {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}
    status, _ = apiserver.request("PUT", _path(ns, "w") + "/status", created)
    assert status == 200
    reader.join(10)
    assert [e["type"] for e in events] == ["MODIFIED"]
    assert events[0]["object"]["status"]["loadBalancer"]["ingress"] == [{"ip": "192.0.2.10"}]


def test_ingress_controller_has_least_privilege(apiserver: ApiServer, tmp_path: Path) -> None:
    def can(*args: str) -> str:
        return apiserver.kubectl(tmp_path, "auth", "can-i", *args, "--as",
                                 CONTROLLER_SA).stdout.strip()

    for verb, what in (("list", "ingresses.networking.k8s.io"),
                       ("watch", "ingressclasses.networking.k8s.io"),
                       ("watch", "secrets"), ("list", "endpointslices.discovery.k8s.io"),
                       ("create", "events")):
        assert can(verb, what, "-A") == "yes", (verb, what)
    assert can("update", "ingresses.networking.k8s.io", "--subresource", "status", "-A") == "yes"
    for verb, what in (("create", "ingresses.networking.k8s.io"), ("update", "services"),
                       ("delete", "secrets"), ("list", "pods"),
                       ("update", "ingresses.networking.k8s.io")):
        assert can(verb, what, "-A") == "no", (verb, what)


def test_kubectl_describes_an_ingress_with_its_backends_and_events(
        apiserver: ApiServer, tmp_path: Path) -> None:
    """kubectl describe reads the Ingress, its Services' EndpointSlices and its Events."""
    ns = _namespace(apiserver)
    core = f"/api/v1/namespaces/{ns}"
    service = {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [
        {"name": "http", "port": 80, "targetPort": 8080}]}}
    endpoints = {"metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
                 "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
                 "endpoints": [{"addresses": ["10.244.1.5"], "conditions": {"ready": True}}]}
    assert apiserver.request("POST", f"{core}/services", service)[0] == 201
    assert apiserver.request(
        "POST", f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", endpoints)[0] == 201
    body = _ingress("web", ingressClassName="minikube-py", rules=[RULE],
                    tls=[{"hosts": ["a.example.com"], "secretName": "a-tls"}],
                    defaultBackend={"service": {"name": "web", "port": {"name": "http"}}})
    status, created = apiserver.request("POST", _path(ns), body)
    assert status == 201 and isinstance(created, dict)
    event = {"metadata": {"name": "web.1"}, "type": "Warning", "reason": "SecretNotFound",
             "message": f'secret "{ns}/a-tls" not found', "count": 1,
             "source": {"component": "ingress-controller"},
             "involvedObject": {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
                                "namespace": ns, "name": "web",
                                "uid": created["metadata"]["uid"]}}
    assert apiserver.request("POST", f"{core}/events", event)[0] == 201
    got = apiserver.kubectl(tmp_path, "-n", ns, "describe", "ingress", "web")
    assert got.returncode == 0, got.stderr
    lines = [line.split() for line in got.stdout.splitlines()]
    assert ["Ingress", "Class:", "minikube-py"] in lines
    assert ["Default", "backend:", "web:http", "(10.244.1.5:8080)"] in lines
    assert ["a-tls", "terminates", "a.example.com"] in lines
    assert ["a.example.com"] in lines and ["/", "web:80", "(10.244.1.5:8080)"] in lines
    assert ["Warning", "SecretNotFound"] == next(
        line[:2] for line in lines if "SecretNotFound" in line)
