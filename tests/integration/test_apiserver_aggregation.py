"""API aggregation against a real api-server and a real aggregated server process.

The aggregated server (tests/fixtures/aggregated_server.py) trusts only the front-proxy
CA the api-server publishes in kube-system/extension-apiserver-authentication; it is
reached through a selectorless Service whose Endpoints point at it, its certificate
checked against the APIService's caBundle. Checked: the Available condition through
each failure reason, RBAC before proxying, the user in X-Remote-* headers (impersonation
included), a streamed watch, discovery (legacy, aggregated, kubectl), and that neither
forged headers nor a client certificate from another CA get past the backend.
"""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import aggregated_server
from tests.fixtures.aggregated_server import GROUP, VERSION
from tests.fixtures.apiserver import ApiServer, as_user
from tests.fixtures.etcd import free_port

NAME = f"{VERSION}.{GROUP}"
APISERVICE = f"/apis/apiregistration.k8s.io/v1/apiservices/{NAME}"
AGGREGATED_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                     "application/json")


def _until(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last={last!r})")


def _available(apiserver: ApiServer) -> dict[str, Any] | None:
    status, obj = apiserver.request("GET", APISERVICE)
    assert status == 200, obj
    return next((c for c in (obj.get("status") or {}).get("conditions") or []
                 if c["type"] == "Available"), None)


def _reason_is(apiserver: ApiServer, reason: str) -> Callable[[], Any]:
    return lambda: (c := _available(apiserver)) is not None and c["reason"] == reason and c


class Wardle:
    """The aggregated server, its Service, Endpoints and APIService in one namespace."""

    def __init__(self, apiserver: ApiServer, directory: Path) -> None:
        self.apiserver, self.directory = apiserver, directory
        self.namespace = f"wardle-{uuid.uuid4().hex[:6]}"
        self.port = free_port()
        self.ca, self.cert, self.key = aggregated_server.serving_pki(
            directory, f"api.{self.namespace}.svc")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        status, cm = self.apiserver.request(
            "GET", "/api/v1/namespaces/kube-system/configmaps/"
                   "extension-apiserver-authentication")
        assert status == 200, cm
        front_proxy_ca = self.directory / "front-proxy-ca.crt"
        front_proxy_ca.write_text(cm["data"]["requestheader-client-ca-file"])
        assert json.loads(cm["data"]["requestheader-allowed-names"]) == ["front-proxy-client"]
        self.proc = aggregated_server.start(port=self.port, cert=self.cert, key=self.key,
                                            front_proxy_ca=front_proxy_ca,
                                            log=self.directory / "wardle.log")

    def register(self, ca_bundle: bytes | None = None) -> None:
        ns = self.namespace
        for path, body in [
            ("/api/v1/namespaces", {"metadata": {"name": ns}}),
            (f"/api/v1/namespaces/{ns}/services", {"metadata": {"name": "api"}, "spec": {
                "ports": [{"name": "https", "port": 443, "targetPort": self.port}]}}),
            (f"/api/v1/namespaces/{ns}/endpoints", {"metadata": {"name": "api"}, "subsets": [{
                "addresses": [{"ip": "127.0.0.1"}],
                "ports": [{"name": "https", "port": self.port}]}]}),
        ]:
            status, got = self.apiserver.request("POST", path, body)
            assert status == 201, got
        self.apply_apiservice(ca_bundle or self.ca.read_bytes())

    def apply_apiservice(self, ca_bundle: bytes) -> None:
        body: dict[str, Any] = {
                "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                "metadata": {"name": NAME}, "spec": {
                    "group": GROUP, "version": VERSION, "groupPriorityMinimum": 1000,
                    "versionPriority": 15, "caBundle": base64.b64encode(ca_bundle).decode(),
                    "service": {"namespace": self.namespace, "name": "api"}}}
        status, current = self.apiserver.request("GET", APISERVICE)
        if status == 200:
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            status, got = self.apiserver.request("PUT", APISERVICE, body)
            assert status == 200, got
        else:
            status, got = self.apiserver.request(
                "POST", "/apis/apiregistration.k8s.io/v1/apiservices", body)
            assert status == 201, got

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.apiserver.request("DELETE", APISERVICE)
        self.apiserver.request("DELETE", f"/api/v1/namespaces/{self.namespace}")


@pytest.fixture
def wardle(apiserver: ApiServer, tmp_path: Path) -> Iterator[Wardle]:
    server = Wardle(apiserver, tmp_path)
    try:
        server.start()
        server.register()
        _until(_reason_is(apiserver, "Passed"), "the APIService to become available")
        yield server
    finally:
        server.stop()


def _account_token(apiserver: ApiServer, namespace: str) -> str:
    accounts = f"/api/v1/namespaces/{namespace}/serviceaccounts"
    assert apiserver.request("POST", accounts, {"metadata": {"name": "robot"}})[0] == 201
    status, got = apiserver.request(
        "POST", f"{accounts}/robot/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})
    assert status == 201, got
    return str(got["status"]["token"])


def test_requests_reach_the_backend_as_the_user(apiserver: ApiServer, wardle: Wardle) -> None:
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{wardle.namespace}/flunders"
    status, listed = apiserver.request("GET", path)
    assert status == 200, listed
    spec = listed["items"][0]["spec"]
    assert spec["user"] == "admin" and "system:masters" in spec["groups"]

    token = _account_token(apiserver, wardle.namespace)
    status, denied = as_user(apiserver, token, "GET", path)
    assert status == 403 and "flunders" in denied["message"], denied  # RBAC before proxying
    role = {"metadata": {"name": "flunder-reader"}, "rules": [
        {"apiGroups": [GROUP], "resources": ["flunders"], "verbs": ["list", "create"]}]}
    binding = {"metadata": {"name": "flunder-reader"}, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "flunder-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "robot",
                      "namespace": wardle.namespace}]}
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{wardle.namespace}"
    assert apiserver.request("POST", f"{rbac}/roles", role)[0] == 201
    assert apiserver.request("POST", f"{rbac}/rolebindings", binding)[0] == 201
    status, listed = _until(lambda: (r := as_user(apiserver, token, "GET", path))[0] == 200
                            and r, "the binding to apply")
    spec = listed["items"][0]["spec"]
    assert spec["user"] == f"system:serviceaccount:{wardle.namespace}:robot"
    assert set(spec["groups"]) >= {"system:serviceaccounts", "system:authenticated",
                                   f"system:serviceaccounts:{wardle.namespace}"}
    status, created = as_user(apiserver, token, "POST", path, {"metadata": {"name": "x"}})
    assert status == 201 and created == {"metadata": {"name": "x"}}  # body relayed


def test_impersonated_user_is_what_the_backend_hears(apiserver: ApiServer,
                                                     wardle: Wardle) -> None:
    req = urllib.request.Request(
        f"{apiserver.url}/apis/{GROUP}/{VERSION}/namespaces/{wardle.namespace}/flunders",
        headers={"Authorization": f"Bearer {apiserver.token}", "Impersonate-User": "jane",
                 "Impersonate-Group": "system:masters",
                 "X-Remote-User": "mallory"})  # a client's own X-Remote-* never passes
    with urllib.request.urlopen(req, context=apiserver.ssl_context(), timeout=10) as r:
        spec = json.loads(r.read())["items"][0]["spec"]
    assert spec["user"] == "jane" and "system:masters" in spec["groups"]


def test_watch_streams_through(apiserver: ApiServer, wardle: Wardle) -> None:
    req = urllib.request.Request(
        f"{apiserver.url}/apis/{GROUP}/{VERSION}/namespaces/{wardle.namespace}/flunders"
        "?watch=1", headers={"Authorization": f"Bearer {apiserver.token}"})
    with urllib.request.urlopen(req, context=apiserver.ssl_context(), timeout=10) as r:
        events = [json.loads(line) for line in r.read().splitlines() if line]
    assert [e["object"]["metadata"]["resourceVersion"] for e in events] == ["1", "2", "3"]


def test_discovery_lists_the_aggregated_group(apiserver: ApiServer, wardle: Wardle,
                                              tmp_path: Path) -> None:
    status, groups = apiserver.request("GET", "/apis")
    assert status == 200
    entry = next(g for g in groups["groups"] if g["name"] == GROUP)
    assert entry["preferredVersion"] == {"groupVersion": f"{GROUP}/{VERSION}",
                                         "version": VERSION}
    status, group = apiserver.request("GET", f"/apis/{GROUP}")
    assert status == 200 and group["kind"] == "APIGroup", group
    status, resources = apiserver.request("GET", f"/apis/{GROUP}/{VERSION}")
    assert status == 200 and resources["resources"][0]["name"] == "flunders", resources
    req = urllib.request.Request(f"{apiserver.url}/apis", headers={
        "Authorization": f"Bearer {apiserver.token}", "Accept": AGGREGATED_ACCEPT})
    with urllib.request.urlopen(req, context=apiserver.ssl_context(), timeout=10) as r:
        doc = json.loads(r.read())
    item = next(i for i in doc["items"] if i["metadata"]["name"] == GROUP)
    version = item["versions"][0]
    assert version["version"] == VERSION and version["freshness"] == "Current"
    flunders = version["resources"][0]
    assert flunders["resource"] == "flunders" and flunders["scope"] == "Namespaced"
    assert flunders["shortNames"] == ["fl"]
    assert flunders["subresources"][0]["subresource"] == "status"

    got = apiserver.kubectl(tmp_path, "get", "fl", "-n", wardle.namespace, "-o", "name")
    assert got.returncode == 0 and got.stdout.strip() == f"flunder.{GROUP}/whoami", got.stderr
    got = apiserver.kubectl(tmp_path, "get", "apiservices", NAME)
    assert got.returncode == 0, got.stderr
    header, row = got.stdout.splitlines()
    assert header.split() == ["NAME", "SERVICE", "AVAILABLE", "AGE"]
    assert row.split()[:3] == [NAME, f"{wardle.namespace}/api", "True"]


def test_availability_follows_what_breaks(apiserver: ApiServer, wardle: Wardle) -> None:
    ns, path = wardle.namespace, f"/apis/{GROUP}/{VERSION}/namespaces/{wardle.namespace}/flunders"
    # A caBundle that did not sign the server's certificate: TLS fails, nothing is proxied.
    other_ca, _, _ = aggregated_server.serving_pki(wardle.directory / "..", "other")
    wardle.apply_apiservice(other_ca.read_bytes())
    _until(_reason_is(apiserver, "FailedDiscoveryCheck"), "the TLS failure")
    status, body = apiserver.request("GET", path)
    assert status == 503 and body["reason"] == "ServiceUnavailable", body
    wardle.apply_apiservice(wardle.ca.read_bytes())
    _until(_reason_is(apiserver, "Passed"), "the right caBundle")

    assert apiserver.request("DELETE", f"/api/v1/namespaces/{ns}/endpoints/api")[0] == 200
    condition = _until(_reason_is(apiserver, "EndpointsNotFound"), "endpoints gone")
    assert condition["status"] == "False"
    assert condition["message"] == f'cannot find endpoints for service/api in "{ns}"'
    assert apiserver.request("GET", path)[0] == 503
    assert apiserver.request("DELETE", f"/api/v1/namespaces/{ns}/services/api")[0] == 200
    condition = _until(_reason_is(apiserver, "ServiceNotFound"), "service gone")
    assert condition["message"] == f'service/api in "{ns}" is not present'


def _direct(wardle: Wardle, context: ssl.SSLContext) -> int:
    req = urllib.request.Request(
        f"https://127.0.0.1:{wardle.port}/apis/{GROUP}/{VERSION}/namespaces/x/flunders",
        headers={"X-Remote-User": "system:admin", "X-Remote-Group": "system:masters"})
    try:
        with urllib.request.urlopen(req, context=context, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        with e:
            return e.code


def test_backend_believes_headers_only_from_the_front_proxy(apiserver: ApiServer,
                                                             wardle: Wardle) -> None:
    context = ssl.create_default_context(cafile=str(wardle.ca))
    context.check_hostname = False
    assert _direct(wardle, context) == 401  # no client certificate: headers are not believed
    rogue = ssl.create_default_context(cafile=str(wardle.ca))
    rogue.check_hostname = False
    rogue.load_cert_chain(*aggregated_server.client_pki(wardle.directory,
                                                        "front-proxy-client"))
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        _direct(wardle, rogue)  # a certificate from another CA: no handshake


@pytest.mark.parametrize(("spec", "field"), [
    pytest.param({"group": GROUP, "version": VERSION, "groupPriorityMinimum": 0,
                  "versionPriority": 1}, "spec.groupPriorityMinimum", id="priority"),
    pytest.param({"group": GROUP, "version": "v2", "groupPriorityMinimum": 1,
                  "versionPriority": 1}, "metadata.name", id="name"),
])
def test_invalid_apiservice_is_422(apiserver: ApiServer, spec: dict[str, Any],
                                   field: str) -> None:
    status, body = apiserver.request("POST", "/apis/apiregistration.k8s.io/v1/apiservices", {
        "metadata": {"name": f"{VERSION}.{GROUP}"}, "spec": spec})
    assert status == 422, body
    assert field in [c["field"] for c in body["details"]["causes"]], body
