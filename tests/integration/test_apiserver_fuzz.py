"""Hypothesis against a real api-server: no input gets a 5xx, every error is a Status.

Junk bodies at every write endpoint of every kind (create, update, every patch type,
status, scale and binding); objects shaped like each kind's OpenAPI schema with random
values spliced in; strategic patches with directives against stored objects; malformed
query strings on list/get/watch/delete; raw bodies that are not JSON; paths that name
nothing. The strategies live in tests/fixtures/strategies.py (shared with the unit
property tests).
"""

from __future__ import annotations

import json
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minikube_py.api.resources import ALL, DEPLOYMENTS, PODS, ROLEBINDINGS, ROLES, Resource
from tests.fixtures.apiserver import ApiServer, as_user
from tests.fixtures.strategies import anything, junk_objects, objects

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
PATCH_TYPES = ("application/merge-patch+json", "application/json-patch+json",
               "application/strategic-merge-patch+json")
QUERY_KEYS = ("labelSelector", "fieldSelector", "limit", "continue", "resourceVersion",
              "resourceVersionMatch", "timeoutSeconds", "allowWatchBookmarks",
              "gracePeriodSeconds", "propagationPolicy", "orphanDependents", "dryRun",
              "fieldManager", "fieldValidation", "pretty", "includeObject", "sendInitialEvents")
query_values = st.one_of(
    st.sampled_from(["", "0", "1", "-1", "true", "True", "false", "x", "app=web",
                     "app in (a,b)", "!a", "a=(", "metadata.name=x", "spec.nodeName!=",
                     "spec.bogus=1", "Foreground", "Orphan", "Bogus", "All", "NotOlderThan",
                     "99999999999999999999", "1e3", "%zz", "a\\", "Strict"]),
    st.text(max_size=20))


def _check(status: int, body: Any) -> None:
    assert status < 500, body
    assert isinstance(body, dict), body
    if status >= 400:
        assert body.get("kind") == "Status" and body.get("apiVersion") == "v1", body
        assert body.get("status") == "Failure" and body.get("code") == status, body
        assert isinstance(body.get("message"), str) and isinstance(body.get("reason"), str), body


def _check_junk(status: int, body: Any) -> None:
    """A junk body gets an object or a Status back, never a 5xx."""
    assert status < 500, body
    assert isinstance(body, dict) and ("kind" in body or "metadata" in body), body


def _namespace(apiserver: ApiServer) -> str:
    name = f"fuzz-{uuid.uuid4().hex[:6]}"
    assert apiserver.request("POST", "/api/v1/namespaces", {"metadata": {"name": name}})[0] == 201
    return name


@pytest.fixture(scope="module")
def fuzz_ns(apiserver: ApiServer) -> str:
    return _namespace(apiserver)


@pytest.fixture
def own_server(apiserver_factory: Callable[..., ApiServer]) -> tuple[ApiServer, str]:
    """An api-server and namespace for a test whose DELETEs may hit whole collections
    (namespaces and nodes too): they must not remove what the other tests stored."""
    server = apiserver_factory()
    return server, _namespace(server)


@pytest.fixture(scope="module")
def stored(apiserver: ApiServer, fuzz_ns: str) -> dict[Resource, str]:
    """A valid pod and deployment to patch and replace."""
    template = {"metadata": {"labels": {"app": "fz"}}, "spec": {"containers": [
        {"name": "a", "image": "busybox:1", "env": [{"name": "X", "value": "1"}],
         "ports": [{"containerPort": 80}]}]}}
    bodies = {PODS: {"metadata": {"name": "fzpod", "finalizers": ["x.io/keep"]},
                     "spec": template["spec"]},
              DEPLOYMENTS: {"metadata": {"name": "fzdeploy"}, "spec": {
                  "selector": {"matchLabels": {"app": "fz"}}, "template": template}}}
    for resource, body in bodies.items():
        status, created = apiserver.request("POST", resource.path(fuzz_ns), body)
        assert status == 201, created
    return {PODS: "fzpod", DEPLOYMENTS: "fzdeploy"}


@FUZZ
@given(data=st.data())
def test_schema_shaped_writes(apiserver: ApiServer, fuzz_ns: str, data: st.DataObject) -> None:
    resource = data.draw(st.sampled_from(ALL))
    body = data.draw(objects(resource))
    meta = body.get("metadata")
    if isinstance(meta, dict):
        meta.update(name="fzshape", namespace=fuzz_ns)
    raw = json.dumps(body).encode()
    _check(*apiserver.request("POST", resource.path(fuzz_ns), raw))
    _check(*apiserver.request("PUT", resource.path(fuzz_ns, "fzshape"), raw))
    if "status" in resource.subresources:
        _check(*apiserver.request("PUT", resource.path(fuzz_ns, "fzshape", "status"), raw))
    apiserver.request("DELETE", resource.path(fuzz_ns, "fzshape") + "?gracePeriodSeconds=0")


@FUZZ
@given(data=st.data())
def test_patches_on_stored_objects(apiserver: ApiServer, fuzz_ns: str,
                                   stored: dict[Resource, str], data: st.DataObject) -> None:
    resource = data.draw(st.sampled_from(sorted(stored, key=lambda r: r.plural)))
    content_type = data.draw(st.sampled_from(PATCH_TYPES))
    directives = st.fixed_dictionaries({}, optional={
        "$patch": st.sampled_from(["replace", "delete", "merge", "bogus"]) | anything,
        "$retainKeys": st.lists(st.sampled_from(["spec", "metadata", "x"])) | anything,
        "$setElementOrder/containers": st.lists(st.fixed_dictionaries({"name": st.text(
            max_size=3)})) | anything,
        "$deleteFromPrimitiveList/finalizers": st.lists(st.text(max_size=5)) | anything,
        "containers": st.lists(st.fixed_dictionaries({}, optional={
            "name": st.sampled_from(["a", "b"]), "$patch": st.sampled_from(["delete", "x"]),
            "image": anything, "env": anything}))})
    spec = st.fixed_dictionaries({"spec": directives | st.fixed_dictionaries(
        {"template": st.fixed_dictionaries({"spec": directives})})})
    ops = st.lists(st.fixed_dictionaries({
        "op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test"]),
        "path": st.sampled_from(["/spec/containers/0/image", "/metadata/labels/x", "/spec",
                                 "/spec/template/spec/containers/-", "/metadata/name", "/x/y"])},
        optional={"value": anything, "from": st.sampled_from(["/spec", "/metadata/labels"])}),
        max_size=3)
    patch = data.draw(ops if content_type.startswith("application/json-patch") else
                      spec | objects(resource) | anything)
    path = resource.path(fuzz_ns, stored[resource])
    _check(*apiserver.request("PATCH", path, json.dumps(patch).encode(),
                              content_type=content_type))
    status, current = apiserver.request("GET", path)
    assert status == 200 and "$patch" not in json.dumps(current)


@FUZZ
@given(resource=st.sampled_from(ALL), params=st.lists(st.tuples(st.sampled_from(QUERY_KEYS),
                                                                 query_values), max_size=4),
       verb=st.sampled_from(["list", "list-all", "get", "delete", "deletecollection", "watch"]))
def test_query_strings(own_server: tuple[ApiServer, str], resource: Resource,
                       params: list[tuple[str, str]], verb: str) -> None:
    if verb == "watch":  # bounded, whatever else the query says
        params = [p for p in params if p[0] != "timeoutSeconds"] + [
            ("watch", "true"), ("timeoutSeconds", "1")]
    query = "?" + urllib.parse.urlencode(params) if params else ""
    apiserver, own_ns = own_server
    namespace = None if verb == "list-all" else own_ns
    name = "fz-missing" if verb in ("get", "delete") else None
    method = {"delete": "DELETE", "deletecollection": "DELETE"}.get(verb, "GET")
    status, body = apiserver.request(method, resource.path(namespace, name) + query)
    if verb == "watch" and status == 200 and isinstance(body, str):
        for line in body.splitlines():  # a stream of events, an ERROR event carries a Status
            event = json.loads(line)
            assert event["type"] in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"), event
            if event["type"] == "ERROR":
                assert event["object"]["kind"] == "Status"
        return
    _check(status, body)


@FUZZ
@given(raw=st.one_of(st.binary(max_size=64), st.text(max_size=64).map(str.encode),
                     st.sampled_from([b"", b"{", b"[]", b"null", b'"x"', b"\xff\xfe",
                                      b"{" * 5000 + b"}" * 5000, b'{"metadata": {"name": 1}}',
                                      b"apiVersion: v1\nkind: Pod\n", b'{"a": 1, "a": 2}'])),
       content_type=st.sampled_from(["application/json", "application/yaml", "text/plain",
                                     "application/json; charset=latin1", *PATCH_TYPES]),
       resource=st.sampled_from(ALL), method=st.sampled_from(["POST", "PUT", "PATCH"]))
def test_raw_bodies(apiserver: ApiServer, fuzz_ns: str, raw: bytes, content_type: str,
                    resource: Resource, method: str) -> None:
    name = None if method == "POST" else "fzraw"
    _check(*apiserver.request(method, resource.path(fuzz_ns, name), raw,
                              content_type=content_type))


@FUZZ
@given(segments=st.lists(st.sampled_from(["api", "apis", "v1", "v2", "apps", "namespaces",
                                          "pods", "status", "scale", "log", "x", "..", "%2F",
                                          "default", "deployments", "nodes", "finalize"])
                         | st.text(alphabet="abcxyz-.%", min_size=1, max_size=6), max_size=7),
       method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]))
def test_paths(own_server: tuple[ApiServer, str], segments: list[str], method: str) -> None:
    apiserver = own_server[0]
    path = "/" + "/".join(urllib.parse.quote(s, safe="%") for s in segments)
    status, body = apiserver.request(method, path, b"{}" if method != "GET" else None)
    assert status < 500, body
    if status >= 400 and isinstance(body, dict):
        assert body.get("kind") == "Status", body


@pytest.mark.parametrize("resource", ALL, ids=lambda r: r.plural)
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_input_causes_a_server_error(apiserver: ApiServer, fuzz_ns: str, resource: Resource,
                                        data: st.DataObject) -> None:
    body = data.draw(junk_objects(resource))
    patch_type = data.draw(st.sampled_from(PATCH_TYPES))
    raw = json.dumps(body).encode()
    _check_junk(*apiserver.request("POST", resource.path(fuzz_ns), raw))
    _check_junk(*apiserver.request("PUT", resource.path(fuzz_ns, "fz"), raw))
    _check_junk(*apiserver.request("PATCH", resource.path(fuzz_ns, "fz"), raw,
                              content_type=patch_type))
    for sub in resource.subresources:
        if sub in ("status", "scale"):
            _check_junk(*apiserver.request("PUT", resource.path(fuzz_ns, "fz", sub), raw))
            _check_junk(*apiserver.request("PATCH", resource.path(fuzz_ns, "fz", sub), raw,
                                      content_type=patch_type))
        elif sub == "binding":
            _check_junk(*apiserver.request("POST", resource.path(fuzz_ns, "fz", sub), raw))
    apiserver.request("DELETE", resource.path(fuzz_ns, "fz") + "?gracePeriodSeconds=0")


@pytest.fixture(scope="module")
def rbac_writer(apiserver: ApiServer, fuzz_ns: str) -> str:
    """A service account's token that may write RBAC objects in fuzz_ns (not escalate),
    so every write goes through the escalation checks."""
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    role = {"metadata": {"name": "fz-writer"}, "rules": [
        {"apiGroups": ["rbac.authorization.k8s.io"], "verbs": ["*"],
         "resources": ["roles", "rolebindings"]}]}
    binding = {"metadata": {"name": "fz-writer"}, "subjects": [
        {"kind": "ServiceAccount", "name": "fz-writer"}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                    "name": "fz-writer"}}
    for path, body in ((f"/api/v1/namespaces/{fuzz_ns}/serviceaccounts",
                        {"metadata": {"name": "fz-writer"}}),
                       (f"{rbac}/namespaces/{fuzz_ns}/roles", role),
                       (f"{rbac}/namespaces/{fuzz_ns}/rolebindings", binding)):
        assert apiserver.request("POST", path, body)[0] == 201
    status, got = apiserver.request(
        "POST", f"/api/v1/namespaces/{fuzz_ns}/serviceaccounts/fz-writer/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})
    assert status == 201
    return str(got["status"]["token"])


@FUZZ
@given(data=st.data())
def test_rbac_writes_and_reviews_by_a_limited_user(apiserver: ApiServer, fuzz_ns: str,
                                                   rbac_writer: str, data: st.DataObject
                                                   ) -> None:
    """Escalation checks, impersonation and access reviews on arbitrary input: a Status
    (403, 422, ...) or an object, never a 5xx."""
    resource = data.draw(st.sampled_from([ROLES, ROLEBINDINGS]))
    body = data.draw(objects(resource) | junk_objects(resource))
    if isinstance(body, dict) and isinstance(body.get("metadata"), dict):
        body["metadata"].update(name="fzrbac", namespace=fuzz_ns)
    _check_junk(*as_user(apiserver, rbac_writer, "POST", resource.path(fuzz_ns), body))
    _check_junk(*as_user(apiserver, rbac_writer, "PUT", resource.path(fuzz_ns, "fzrbac"),
                         body))
    review = data.draw(st.sampled_from(["selfsubjectaccessreviews", "selfsubjectrulesreviews",
                                        "subjectaccessreviews"]))
    spec = data.draw(st.fixed_dictionaries({}, optional={
        "resourceAttributes": anything | st.fixed_dictionaries({}, optional={
            k: anything | st.text(max_size=8) for k in (
                "namespace", "verb", "group", "version", "resource", "subresource", "name")}),
        "nonResourceAttributes": anything | st.fixed_dictionaries(
            {}, optional={"path": anything, "verb": anything}),
        "user": anything, "groups": anything, "namespace": anything}) | anything)
    _check_junk(*apiserver.request("POST", f"/apis/authorization.k8s.io/v1/{review}",
                                   json.dumps({"spec": spec}).encode()))
    apiserver.request("DELETE", resource.path(fuzz_ns, "fzrbac"))


@FUZZ
@given(data=st.data())
def test_token_reviews_and_node_credential_requests(apiserver: ApiServer,
                                                    data: st.DataObject) -> None:
    """TokenReview specs and node-credentials Secrets carrying arbitrary certificate
    requests: a review, a 201 or a Status (422 naming the request), never a 5xx."""
    spec = data.draw(st.fixed_dictionaries({}, optional={
        "token": anything | st.text(max_size=40) | st.sampled_from(
            [apiserver.token, "mkpnode:n:00", "abcdef.0123456789abcdef", "a.b.c"]),
        "audiences": anything | st.lists(st.text(max_size=8), max_size=3)}) | anything)
    _check_junk(*apiserver.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                                   json.dumps({"spec": spec}).encode()))
    node = f"fz-{uuid.uuid4().hex[:6]}"
    csr = data.draw(st.one_of(
        st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
        st.text(max_size=64).map(lambda t: f"-----BEGIN CERTIFICATE REQUEST-----\n{t}\n"
                                           "-----END CERTIFICATE REQUEST-----\n")))
    secret = {"metadata": {"name": f"node-credentials-{node}", "namespace": "kube-system"},
              "type": "minikube-py.io/node-credentials", "stringData": {
                  "node-name": node, "token-sha256": "0" * 64, "kubelet-serving.csr": csr}}
    status, body = apiserver.request("POST", "/api/v1/namespaces/kube-system/secrets",
                                     json.dumps(secret).encode())
    _check_junk(status, body)
    assert status == 422 or (status == 201 and isinstance(body, dict)
                             and "kubelet-serving.crt" in body["data"]), body
    apiserver.request("DELETE", f"/api/v1/namespaces/kube-system/secrets/node-credentials-{node}")
