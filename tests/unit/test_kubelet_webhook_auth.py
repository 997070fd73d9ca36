"""The kubelet API's webhook authentication and authorization: kubelet's path-to-
subresource mapping, the TokenReview/SubjectAccessReview it sends, the TTL caches, and the
server's 401/403 answers. The api-server is faked at our own seam (the POST of a review);
tests/integration/test_kubelet_webhook_auth.py runs it against a real one."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from agent.kubelet import webhook_auth
from agent.kubelet.configz import configz
from agent.kubelet.server import KubeletServer
from agent.kubelet.webhook_auth import (
    Attributes,
    Caller,
    WebhookAuth,
    certificate_caller,
    request_attributes,
)
from agent.settings import AgentSettings
from minikube_py.api.types import Object
from minikube_py.client.errors import ConnectionFailed


@pytest.mark.parametrize(("method", "path", "expected"), [
    pytest.param("GET", "/containerLogs/d/p/c", [("get", "proxy")], id="logs-are-proxy"),
    pytest.param("POST", "/exec/d/p/c", [("create", "proxy")], id="spdy-exec"),
    pytest.param("GET", "/exec/d/p/c", [("get", "proxy")], id="websocket-exec"),
    pytest.param("POST", "/attach/d/p/c", [("create", "proxy")], id="attach"),
    pytest.param("POST", "/portForward/d/p", [("create", "proxy")], id="portforward"),
    pytest.param("POST", "/run/d/p/c", [("create", "proxy")], id="run"),
    pytest.param("GET", "/stats/summary", [("get", "stats")], id="stats"),
    pytest.param("GET", "/metrics/resource", [("get", "metrics")], id="metrics"),
    pytest.param("GET", "/metrics", [("get", "metrics")], id="metrics-root"),
    pytest.param("GET", "/logs/syslog", [("get", "log")], id="node-logs"),
    pytest.param("GET", "/spec/", [("get", "spec")], id="spec"),
    pytest.param("GET", "/configz", [("get", "configz"), ("get", "proxy")], id="configz"),
    pytest.param("GET", "/healthz", [("get", "healthz"), ("get", "proxy")], id="healthz"),
    pytest.param("GET", "/statsx", [("get", "proxy")], id="prefix-is-a-path-segment"),
    pytest.param("DELETE", "/pods", [("delete", "proxy")], id="delete"),
])
def test_kubelet_maps_paths_to_node_subresources(method: str, path: str,
                                                 expected: list[tuple[str, str]]) -> None:
    assert request_attributes(method, path) == [Attributes(v, s) for v, s in expected]


def test_certificate_subject_is_user_and_groups() -> None:
    peer = {"subject": ((("commonName", "system:kube-apiserver-kubelet-client"),),
                        (("organizationName", "a"),), (("organizationName", "b"),))}
    assert certificate_caller(peer) == Caller("system:kube-apiserver-kubelet-client",
                                              ("a", "b"))
    assert certificate_caller(None) is None
    assert certificate_caller({"subject": ((("organizationName", "a"),),)}) is None


class FakeApi:
    """Answers reviews as the api-server would, from two tables; counts the calls."""

    def __init__(self, tokens: dict[str, str], allowed: set[tuple[str, str]]) -> None:
        self.tokens, self.allowed = tokens, allowed
        self.posts: list[tuple[str, Object]] = []

    async def post(self, path: str, body: Object) -> Any:
        self.posts.append((path, body))
        spec = body["spec"]
        if path.endswith("/tokenreviews"):
            user = self.tokens.get(spec["token"])
            return {"status": {"authenticated": True, "user": {
                "username": user, "groups": ["system:authenticated"]}}
                if user else {"authenticated": False}}
        attrs = spec["resourceAttributes"]
        return {"status": {"allowed": (spec["user"], attrs["subresource"]) in self.allowed}}


def _server(api: FakeApi) -> KubeletServer:
    async def resolve(ns: str, pod: str, container: str, previous: bool) -> str | None:
        return None
    # no Docker runtime: these requests are answered before one would be used
    return KubeletServer(None, resolve, WebhookAuth(api.post, "n1"),  # type: ignore[arg-type]
                         lambda: configz(AgentSettings(node_name="n1"), 10250))


async def _get(server: KubeletServer, path: str, token: str = "") -> tuple[int, str]:
    async with TestClient(TestServer(server.app)) as client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        resp = await client.get(path, headers=headers)
        return resp.status, await resp.text()


async def test_anonymous_is_401_on_every_path_and_nothing_is_asked() -> None:
    api = FakeApi({}, set())
    for path in ("/healthz", "/configz", "/containerLogs/d/p/c"):
        assert (await _get(_server(api), path))[0] == 401
    assert (await _get(_server(api), "/configz", "not-a-token"))[0] == 401
    assert [p for p, _ in api.posts] == ["/apis/authentication.k8s.io/v1/tokenreviews"]


async def test_logs_need_nodes_proxy_on_this_node() -> None:
    api = FakeApi({"t-admin": "admin", "t-sa": "system:serviceaccount:d:app"},
                  {("admin", "proxy")})
    server = _server(api)
    status, text = await _get(server, "/containerLogs/d/p/c", "t-sa")
    assert status == 403
    assert text == ("Forbidden (user=system:serviceaccount:d:app, verb=get, resource=nodes, "
                    "subresource(s)=[proxy])")
    status, text = await _get(server, "/containerLogs/d/p/c", "t-admin")
    assert status == 404, text  # allowed through: the container is not here
    review = next(b for p, b in api.posts if p.endswith("/subjectaccessreviews"))
    assert review["spec"] == {
        "user": "system:serviceaccount:d:app", "groups": ["system:authenticated"],
        "resourceAttributes": {"verb": "get", "group": "", "version": "v1",
                               "resource": "nodes", "subresource": "proxy", "name": "n1"}}


async def test_configz_is_allowed_by_its_own_subresource_or_by_proxy() -> None:
    api = FakeApi({"t-c": "reader", "t-p": "proxier", "t-x": "other"},
                  {("reader", "configz"), ("proxier", "proxy")})
    server = _server(api)
    assert (await _get(server, "/configz", "t-c"))[0] == 200
    assert (await _get(server, "/configz", "t-p"))[0] == 200
    status, text = await _get(server, "/configz", "t-x")
    assert status == 403 and "subresource(s)=[configz]" in text


async def test_answers_are_cached_for_their_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    api = FakeApi({"t": "u"}, {("u", "proxy")})
    auth = WebhookAuth(api.post, "n1")
    caller = await auth.authenticate_token("t")
    assert caller is not None and await auth.authenticate_token("t") == caller
    assert await auth.authenticate_token("bad") is None
    for _ in range(3):
        assert await auth.allowed(caller, "GET", "/exec/d/p/c") is None
        assert await auth.allowed(caller, "GET", "/stats/summary") == Attributes("get", "stats")
    assert len(api.posts) == 4  # two tokens, two decisions
    now[0] += webhook_auth.DENIED_TTL + 1  # refusals expire first
    await auth.authenticate_token("bad")
    await auth.allowed(caller, "GET", "/exec/d/p/c")
    await auth.allowed(caller, "GET", "/stats/summary")
    assert len(api.posts) == 6
    now[0] += webhook_auth.ALLOWED_TTL
    await auth.authenticate_token("t")
    await auth.allowed(caller, "GET", "/exec/d/p/c")
    assert len(api.posts) == 8


async def test_an_unreachable_api_server_is_500_not_a_decision() -> None:
    async def down(path: str, body: Object) -> Any:
        raise ConnectionFailed("POST: refused")

    async def resolve(ns: str, pod: str, container: str, previous: bool) -> str | None:
        return None
    server = KubeletServer(None, resolve, WebhookAuth(down, "n1"))  # type: ignore[arg-type]  # ditto
    assert (await _get(server, "/configz", "t"))[0] == 500
