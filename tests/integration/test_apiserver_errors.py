"""Bad input gets a clear metav1.Status and changes nothing; never a 500."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid

import pytest

from tests.fixtures.apiserver import ApiServer

CM = "/api/v1/namespaces/default/configmaps"


@pytest.mark.parametrize("body,content_type", [
    pytest.param(b"{not json", "application/json", id="broken-json"),
    pytest.param(b"[1, 2]", "application/json", id="json-array"),
    pytest.param(b"\"text\"", "application/json", id="json-string"),
    pytest.param(b"a: [b", "application/yaml", id="broken-yaml"),
    pytest.param(b"", "application/json", id="empty"),
    pytest.param(b"\xff\xfe", "application/json", id="not-utf8"),
])
def test_malformed_body_is_400(apiserver: ApiServer, body: bytes, content_type: str) -> None:
    status, err = apiserver.request("POST", CM, body, content_type=content_type)
    assert status == 400 and isinstance(err, dict)
    assert err["kind"] == "Status" and err["reason"] == "BadRequest"


def test_yaml_body_is_accepted(apiserver: ApiServer) -> None:
    name = f"y-{uuid.uuid4().hex[:6]}"
    body = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n"
    status, created = apiserver.request("POST", CM, body.encode(),
                                        content_type="application/yaml")
    assert status == 201 and isinstance(created, dict) and created["data"] == {"k": "v"}


def test_body_over_3_mib_is_413(apiserver: ApiServer) -> None:
    big = b'{"metadata":{"name":"big"},"data":{"k":"' + b"x" * (3 * 1024 * 1024) + b'"}}'
    status, err = apiserver.request("POST", CM, big)
    assert status == 413 and isinstance(err, dict) and err["code"] == 413
    assert apiserver.request("GET", f"{CM}/big")[0] == 404


@pytest.mark.parametrize("path", ["/api/v1/frobs", "/apis/apps/v1/namespaces/default/pods",
                                  "/apis/nope/v1/things", "/api/v1/namespaces/default/pods/x/y/z",
                                  "/api/v1/nodes/n/nosuch", "/api/v2/pods"])
def test_unknown_resource_is_404(apiserver: ApiServer, path: str) -> None:
    status, err = apiserver.request("GET", path)
    assert status == 404 and isinstance(err, dict) and err["kind"] == "Status"


@pytest.mark.parametrize("method,path", [("PUT", CM), ("PATCH", CM), ("POST", f"{CM}/x")])
def test_wrong_method_is_405(apiserver: ApiServer, method: str, path: str) -> None:
    status, err = apiserver.request(method, path, {"metadata": {"name": "x"}})
    assert status == 405 and isinstance(err, dict) and err["reason"] == "MethodNotAllowed"


def test_invalid_object_lists_every_cause(apiserver: ApiServer) -> None:
    pod = {"metadata": {"name": "Bad_Name"}, "spec": {"containers": [
        {"name": "a", "image": "x", "ports": [{"containerPort": 70000}]}, {"name": "a"}]}}
    status, err = apiserver.request("POST", "/api/v1/namespaces/default/pods", pod)
    assert status == 422 and isinstance(err, dict) and err["reason"] == "Invalid"
    fields = {c["field"] for c in err["details"]["causes"]}
    assert "metadata.name" in fields
    assert any("containerPort" in f for f in fields)
    assert any(f.startswith("spec.containers[1]") for f in fields)


def test_namespace_missing_or_terminating_is_refused(apiserver: ApiServer) -> None:
    status, err = apiserver.request("POST", "/api/v1/namespaces/no-such-ns/configmaps",
                                    {"metadata": {"name": "x"}})
    assert status == 404 and isinstance(err, dict) and 'namespaces "no-such-ns"' in err["message"]
    ns = f"term-{uuid.uuid4().hex[:6]}"
    assert apiserver.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})[0] == 201
    assert apiserver.request("DELETE", f"/api/v1/namespaces/{ns}")[0] == 200
    status, err = apiserver.request("POST", f"/api/v1/namespaces/{ns}/configmaps",
                                    {"metadata": {"name": "x"}})
    assert status == 403 and isinstance(err, dict) and "being terminated" in err["message"]


@pytest.mark.parametrize("query", ["labelSelector=a%20in%20(", "fieldSelector=spec.bogus%3Dx",
                                   "limit=abc", "watch=maybe", "resourceVersion=-3&watch=1",
                                   "continue=garbage"])
def test_bad_query_is_400(apiserver: ApiServer, query: str) -> None:
    status, err = apiserver.request("GET", f"/api/v1/pods?{query}")
    assert status == 400 and isinstance(err, dict) and err["kind"] == "Status", err


def test_kind_mismatch_and_namespace_mismatch_are_400(apiserver: ApiServer) -> None:
    assert apiserver.request("POST", CM, {"kind": "Secret", "metadata": {"name": "k"}}
                             )[0] == 400
    assert apiserver.request("POST", CM, {"metadata": {"name": "k", "namespace": "other"}}
                             )[0] == 400


def _raw(apiserver: ApiServer, method: str, path: str, body: bytes,
         content_type: str) -> tuple[int, bytes]:
    """Status and exact body bytes of one request (errors included)."""
    req = urllib.request.Request(apiserver.url + path, data=body, method=method)
    req.add_header("Authorization", f"Bearer {apiserver.token}")
    req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, context=apiserver.ssl_context(), timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read()


def test_unsupported_patch_type_is_415_as_kube_apiserver_words_it(apiserver: ApiServer) -> None:
    name = f"p-{uuid.uuid4().hex[:6]}"
    apiserver.request("POST", CM, {"metadata": {"name": name}})
    status, raw = _raw(apiserver, "PATCH", f"{CM}/{name}", b'{"data": {}}', "text/csv")
    assert (status, raw) == (415, (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":'
        b'"the body of the request was in an unknown format - accepted media types include: '
        b'application/json-patch+json, application/merge-patch+json, '
        b'application/strategic-merge-patch+json, application/apply-patch+yaml",'
        b'"reason":"UnsupportedMediaType","code":415}\n'))


@pytest.mark.parametrize("subresource", ["", "/scale"], ids=["deployment", "scale"])
@pytest.mark.parametrize("content_type,body", [
    pytest.param("application/json-patch+json",
                 b'[{"op": "replace", "path": "/spec/replicas", "value": 3}]', id="json-patch"),
    pytest.param("application/merge-patch+json", b'{"spec": {"replicas": 3}}', id="merge"),
    pytest.param("application/strategic-merge-patch+json", b'{"spec": {"replicas": 3}}',
                 id="strategic"),
    pytest.param("application/apply-patch+yaml",
                 b'{"apiVersion": "KIND_VERSION", "kind": "KIND", "spec": {"replicas": 3}}',
                 id="apply"),
])
def test_every_patch_type_kube_accepts_is_accepted(apiserver: ApiServer, subresource: str,
                                                   content_type: str, body: bytes) -> None:
    """The four patch types on the main resource and on /scale, as kube-apiserver takes
    them (an apply of /scale names the Scale kind, autoscaling/v1)."""
    name = f"pt-{uuid.uuid4().hex[:6]}"
    path = f"/apis/apps/v1/namespaces/default/deployments/{name}"
    labels = {"app": name}
    assert apiserver.request("POST", "/apis/apps/v1/namespaces/default/deployments", {
        "metadata": {"name": name}, "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                                             "template": {"metadata": {"labels": labels}, "spec": {
                                                 "containers": [{"name": "c", "image": "x"}]}}}})[0] == 201
    try:
        kind, version = ("Scale", "autoscaling/v1") if subresource else ("Deployment", "apps/v1")
        body = body.replace(b"KIND_VERSION", version.encode()).replace(b'"KIND"', f'"{kind}"'.encode())
        force = "&force=true" if "apply" in content_type else ""  # the creator owns replicas
        status, raw = _raw(apiserver, "PATCH", f"{path}{subresource}?fieldManager=pt{force}",
                           body, content_type)
        assert status == 200, raw
        got = apiserver.request("GET", path)[1]
        assert isinstance(got, dict) and got["spec"]["replicas"] == 3
    finally:
        apiserver.request("DELETE", path)


def test_status_body_is_byte_compatible_with_kube_apiserver(apiserver: ApiServer) -> None:
    """Field order kind, apiVersion, metadata, status, message, reason, details, code and a
    final newline, as kube-apiserver's encoder writes them (clients compare bytes)."""
    req = urllib.request.Request(apiserver.url + f"{CM}/absent-{uuid.uuid4().hex[:6]}")
    req.add_header("Authorization", f"Bearer {apiserver.token}")
    with pytest.raises(urllib.error.HTTPError) as caught, \
            urllib.request.urlopen(req, context=apiserver.ssl_context(), timeout=10):
        pass
    with caught.value as response:
        raw = response.read()
    name = req.full_url.rsplit("/", 1)[-1]
    assert raw == (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                   b'"message":"configmaps \\"' + name.encode() + b'\\" not found",'
                   b'"reason":"NotFound","details":{"name":"' + name.encode()
                   + b'","kind":"configmaps"},"code":404}\n')


@pytest.mark.parametrize("path,kind", [("/version/", None), ("/api/", "APIVersions"),
                                       ("/apis/", "APIGroupList")])
def test_discovery_roots_with_a_trailing_slash(apiserver: ApiServer, path: str,
                                               kind: str | None) -> None:
    status, slashed = apiserver.request("GET", path)
    assert status == 200 and isinstance(slashed, dict)
    assert slashed == apiserver.request("GET", path.rstrip("/"))[1]
    assert slashed.get("kind") == kind
