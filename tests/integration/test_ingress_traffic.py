"""The ingress controller against a real api-server, with a real HAProxy on loopback
ports in front of real HTTP backends, running as its own ServiceAccount (so its RBAC is
the one checked): two hosts with path rules and TLS from a test CA driven by curl
--resolve, a missing Service reported while the rest serves, the certificate following
its Secret, status written, and 100 Ingress changes under steady load losing nothing."""

from __future__ import annotations

import base64
import contextlib
import functools
import shutil
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from minikube_py.api.resources import EVENTS, INGRESSES, SECRETS, SERVICEACCOUNTS
from minikube_py.client import ApiClient
from minikube_py.client.errors import AlreadyExists
from minikube_py.cluster import ingress_identity
from minikube_py.ingress.app import running
from minikube_py.ingress.controller import IngressController
from minikube_py.ingress.settings import IngressSettings
from tests.fixtures import builders
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.builders import ingress, ingress_backend, rule
from tests.fixtures.etcd import free_port
from tests.fixtures.ingress_traffic import Load, backends, curl, service
from tests.fixtures.tls import TestCA
from tests.helpers import eventually, scratch_namespace

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None or shutil.which("curl") is None,
                                reason="needs haproxy and curl (bin/bootstrap installs them)")


@dataclass
class Env:
    admin: ApiClient
    namespace: str
    controller: IngressController
    http: int
    https: int
    ports: dict[str, int]


async def _controller_client(admin: ApiClient, apiserver: ApiServer) -> ApiClient:
    """A client holding a token of kube-system/ingress-controller, as `up` gives it."""
    with contextlib.suppress(AlreadyExists):  # made by another test of this module
        await admin.create(SERVICEACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount",
                                             "metadata": {"name": ingress_identity.NAME}},
                           ingress_identity.NAMESPACE)
    review = await admin.create(SERVICEACCOUNTS, {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600}}, ingress_identity.NAMESPACE, subresource="token",
        name=ingress_identity.NAME)
    return ApiClient(apiserver.url, token=review["status"]["token"],
                     ca_file=apiserver.ca_file)


@pytest.fixture
async def env(apiserver: ApiServer, tmp_path: Path) -> AsyncIterator[Env]:
    http, https = free_port(), free_port()
    settings = IngressSettings(bind_address="127.0.0.1", http_port=http, https_port=https,
                               publish_addresses=("127.0.0.1",), state_dir=str(tmp_path / "ingress"),
                               threads=1, drain_seconds=5)
    with backends("web", "api", "other") as ports:
        async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as admin, \
                scratch_namespace(admin, "ing") as namespace:
            for name, port in ports.items():
                await service(admin, namespace, name, 80, port)
            async with await _controller_client(admin, apiserver) as client, \
                    running(settings, client) as controller:
                yield Env(admin, namespace, controller, http, https, ports)
            assert not controller.proxy.running  # HAProxy stopped with the controller


async def test_two_hosts_paths_and_tls(env: Env, tmp_path: Path) -> None:
    ca = TestCA()
    (tmp_path / "ca.pem").write_bytes(ca.ca_pem)
    await env.admin.create(SECRETS, builders.tls_secret("a-tls", *ca.issue("a.test"),
                                                        namespace=env.namespace))
    await env.admin.create(INGRESSES, ingress("shop", env.namespace, rules=[
        rule("a.test", ("/", "Prefix", ingress_backend("web")),
             ("/api", "Prefix", ingress_backend("api", "http")),
             ("/api/exact", "Exact", ingress_backend("other"))),
        rule("*.b.test", ("/", "Prefix", ingress_backend("api", 80)))],
        tls=[{"hosts": ["a.test"], "secretName": "a-tls"}]))
    http, https = env.http, env.https

    async def get(host: str, path: str) -> str:
        return (await curl(f"http://{host}:{http}{path}", host, http)).text

    await eventually(lambda: _is(get("a.test", "/"), "web / 200"), timeout=20,
                     what="the Ingress served")
    cases = {("a.test", "/api/v2"): "api /api/v2 200",
             ("a.test", "/apix"): "web /apix 200",  # Prefix is element-wise
             ("a.test", "/api/exact"): "other /api/exact 200",  # Exact beats Prefix
             ("a.test", "/api/exact/more"): "api /api/exact/more 200",
             ("x.b.test", "/y"): "api /y 200",
             ("A.test:80", "/"): "web / 200"}  # case and port do not matter
    for (host, path), answer in cases.items():
        assert await get(host.split(":")[0], path) == answer, (host, path)
    assert (await get("y.x.b.test", "/")).endswith(" 404")  # a wildcard is one label
    assert (await get("b.test", "/")).endswith(" 404")
    tls = await curl(f"https://a.test:{https}/api/x", "a.test", https,
                     cacert=tmp_path / "ca.pem")
    assert tls.text == "api /api/x 200"  # SNI picked the Secret's certificate
    other = await curl(f"https://x.b.test:{https}/", "x.b.test", https,
                       cacert=tmp_path / "ca.pem")
    assert other.code == 60  # the default certificate: not from our CA
    assert (await curl(f"https://x.b.test:{https}/", "x.b.test", https,
                       insecure=True)).text == "api / 200"
    stored = await eventually(lambda: _published(env), what="status.loadBalancer")
    assert stored == [{"ip": "127.0.0.1"}]
    state = Path(env.controller.paths.state_dir)
    assert (state / "certs").stat().st_mode & 0o777 == 0o700
    assert {p.stat().st_mode & 0o777 for p in (state / "certs").iterdir()} == {0o600}

    # The certificate follows its Secret: re-issued by another CA, served after a reload.
    ca2 = TestCA()
    (tmp_path / "ca2.pem").write_bytes(ca2.ca_pem)
    secret = await env.admin.get(SECRETS, "a-tls", env.namespace)
    crt, key = ca2.issue("a.test")
    secret["data"] = {"tls.crt": base64.b64encode(crt).decode(),
                      "tls.key": base64.b64encode(key).decode()}
    await env.admin.update(SECRETS, secret)
    async def new_certificate() -> bool:
        answer = await curl(f"https://a.test:{https}/", "a.test", https,
                            cacert=tmp_path / "ca2.pem")
        return answer.code == 0

    await eventually(new_certificate, timeout=20, what="the new certificate served")


async def _is(answer: Awaitable[str], expected: str) -> bool:
    return await answer == expected


async def _served(http: int, host: str, path: str, expected: str) -> bool:
    return (await curl(f"http://{host}:{http}{path}", host, http)).text == expected


async def _published(env: Env) -> Any:
    got = await env.admin.get(INGRESSES, "shop", env.namespace)
    return got.get("status", {}).get("loadBalancer", {}).get("ingress")


async def test_missing_service_is_an_event_and_the_rest_keeps_serving(env: Env) -> None:
    await env.admin.create(INGRESSES, ingress("good", env.namespace, rules=[
        rule("good.test", ("/", "Prefix", ingress_backend("web")))]))
    await env.admin.create(INGRESSES, ingress("broken", env.namespace, rules=[
        rule("broken.test", ("/", "Prefix", ingress_backend("nowhere")))],
        tls=[{"hosts": ["broken.test"], "secretName": "no-such-secret"}]))
    http = env.http

    async def both_reported() -> set[str]:
        """The broken Ingress's Warning reasons, once both are there: the controller
        writes its Events one after another (`eventually` returns the first truthy)."""
        events = await env.admin.list(EVENTS, env.namespace)
        reasons = {e["reason"] for e in events["items"]
                   if e["involvedObject"]["name"] == "broken" and e["type"] == "Warning"}
        return reasons if reasons >= {"ServiceNotFound", "SecretNotFound"} else set()

    await eventually(both_reported, timeout=20, what="ServiceNotFound and SecretNotFound")
    await eventually(lambda: _served(http, "good.test", "/", "web / 200"), timeout=20)
    assert (await curl(f"http://broken.test:{http}/", "broken.test", http)).text.endswith(
        " 503")


async def test_100_ingress_changes_under_load_lose_no_request(env: Env) -> None:
    await env.admin.create(INGRESSES, ingress("steady", env.namespace, rules=[
        rule("steady.test", ("/", "Prefix", ingress_backend("web")))]))
    await env.admin.create(INGRESSES, ingress("churn", env.namespace, rules=[
        rule("churn.test", ("/", "Prefix", ingress_backend("api")))]))
    http = env.http
    await eventually(lambda: _served(http, "steady.test", "/", "web / 200"), timeout=20)
    reloads_before, _ = await env.controller.proxy.reloads()
    with Load(http, "steady.test") as load:
        for i in range(100):  # each change served before the next: 100 reloads
            backend = "other" if i % 2 else "api"
            # A merge patch, as `kubectl patch` sends: the controller writing status
            # meanwhile cannot make it conflict (a GET + PUT could).
            await env.admin.patch(INGRESSES, "churn", {"spec": {"rules": [
                rule("churn.test", (f"/v{i}", "Prefix", ingress_backend(backend)))]}},
                env.namespace)
            await eventually(functools.partial(_served, http, "churn.test", f"/v{i}",
                                               f"{backend} /v{i} 200"), timeout=20)
    reloads, failed = await env.controller.proxy.reloads()
    assert failed == 0
    assert reloads - reloads_before >= 100, "each change must really have reloaded HAProxy"
    assert load.failures == [], f"{len(load.failures)} of {load.ok} requests lost"
    assert load.ok > 100
