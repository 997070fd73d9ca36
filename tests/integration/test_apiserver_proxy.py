"""pods/log and pods/exec reach the node's kubelet API through the api-server.

The kubelet side here is a small HTTPS server speaking the kubelet's API (our own
seam: agent/kubelet/server.py serves the same paths) with a serving certificate the
cluster CA issued to its node; it requires the api-server's kubelet-client certificate
and records what it was asked. A kubelet showing any other certificate gets nothing.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from agent.kubelet.serving_tls import self_signed
from minikube_py.apiserver import pki
from tests.fixtures.apiserver import ApiServer
from tests.fixtures.etcd import free_port
from tests.fixtures.kubelet_certs import issue_serving_cert

NS = "/api/v1/namespaces/default"


class FakeKubelet:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.app = web.Application()
        self.app.router.add_get("/containerLogs/{ns}/{pod}/{container}", self.logs)
        self.app.router.add_get("/exec/{ns}/{pod}/{container}", self.exec)

    def _authorized(self, request: web.Request) -> None:
        assert request.transport is not None
        peer = request.transport.get_extra_info("peercert") or {}
        if ((("commonName", pki.KUBELET_CLIENT_USER),),) != peer.get("subject") \
                or "Authorization" in request.headers:
            raise web.HTTPUnauthorized()

    async def logs(self, request: web.Request) -> web.StreamResponse:
        self._authorized(request)
        self.calls.append((request.path, dict(request.query)))
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        for i in range(3):
            await response.write(f"line {i}\n".encode())
        return response

    async def exec(self, request: web.Request) -> web.StreamResponse:
        self._authorized(request)
        self.calls.append((request.path, {"command": request.query.getall("command")}))
        ws = web.WebSocketResponse(protocols=["v4.channel.k8s.io"])
        await ws.prepare(request)
        msg = await ws.receive()  # stdin on channel 0, echoed on stdout (channel 1)
        await ws.send_bytes(b"\x01" + msg.data[1:])
        await ws.send_bytes(b'\x03{"metadata":{},"status":"Success"}')
        await ws.close()
        return ws


@pytest.fixture
async def serve_kubelet(apiserver: ApiServer
                        ) -> AsyncIterator[Callable[[tuple[Path, Path], str], Any]]:
    """make(cert, key) -> (fake kubelet, its node's name), serving that certificate and
    registered as a Node at 127.0.0.1."""
    runners: list[web.AppRunner] = []

    async def make(cert: tuple[Path, Path], node: str) -> FakeKubelet:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH,
                                         cafile=apiserver.data_dir / "pki" / "ca.crt")
        ctx.verify_mode = ssl.CERT_REQUIRED  # the api-server's kubelet-client certificate
        ctx.load_cert_chain(*cert)
        fake = FakeKubelet()
        runner = web.AppRunner(fake.app)
        await runner.setup()
        runners.append(runner)
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx).start()
        body = {"metadata": {"name": node}, "status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}
        assert apiserver.request("POST", "/api/v1/nodes", body)[0] == 201
        apiserver.request("PUT", f"/api/v1/nodes/{node}/status", body)
        return fake
    try:
        yield make
    finally:
        for runner in runners:
            await runner.cleanup()
        await asyncio.sleep(0.25)  # TLS transports finish closing


@pytest.fixture
async def kubelet(apiserver: ApiServer, serve_kubelet: Any, tmp_path: Path
                  ) -> tuple[FakeKubelet, str]:
    node = f"kn-{uuid.uuid4().hex[:6]}"
    fake = await serve_kubelet(issue_serving_cert(apiserver.data_dir, tmp_path, node), node)
    return fake, node


def _pod(apiserver: ApiServer, node: str) -> str:
    name = f"px-{uuid.uuid4().hex[:6]}"
    status, _ = apiserver.request("POST", f"{NS}/pods", {"metadata": {"name": name}, "spec": {
        "nodeName": node, "containers": [{"name": "main", "image": "busybox"}]}})
    assert status == 201
    return name


async def test_log_is_streamed_from_the_kubelet(apiserver: ApiServer,
                                                kubelet: tuple[FakeKubelet, str]) -> None:
    fake, node = kubelet
    pod = _pod(apiserver, node)
    async with apiserver.session() as s, s.get(f"{NS}/pods/{pod}/log", params={"tailLines": "5",
                                                     "follow": "true"}) as r:
        assert r.status == 200, await r.text()
        text = await r.text()
    assert text == "line 0\nline 1\nline 2\n"
    assert fake.calls == [(f"/containerLogs/default/{pod}/main",
                           {"tailLines": "5", "follow": "true"})]


async def test_exec_websocket_is_relayed(apiserver: ApiServer,
                                         kubelet: tuple[FakeKubelet, str]) -> None:
    fake, node = kubelet
    pod = _pod(apiserver, node)
    async with apiserver.session() as s, s.ws_connect(f"{NS}/pods/{pod}/exec",
                            params=[("command", "cat"), ("stdin", "true"),
                                    ("stdout", "true")],
                            protocols=["v4.channel.k8s.io"]) as ws:
        assert ws.protocol == "v4.channel.k8s.io"
        await ws.send_bytes(b"\x00hello")
        out = await ws.receive()
        status = await ws.receive()
    assert out.type == aiohttp.WSMsgType.BINARY and out.data == b"\x01hello"
    assert status.data.startswith(b"\x03") and b"Success" in status.data
    assert fake.calls == [(f"/exec/default/{pod}/main", {"command": ["cat"]})]


def test_log_of_unscheduled_pod_is_400(apiserver: ApiServer) -> None:
    name = f"un-{uuid.uuid4().hex[:6]}"
    apiserver.request("POST", f"{NS}/pods", {"metadata": {"name": name}, "spec": {
        "containers": [{"name": "main", "image": "busybox"}]}})
    status, err = apiserver.request("GET", f"{NS}/pods/{name}/log")
    assert status == 400 and isinstance(err, dict) and "does not have a host" in err["message"]


@pytest.mark.parametrize("which", ["another-nodes", "self-signed"])
async def test_a_kubelet_without_its_own_certificate_gets_nothing(
        apiserver: ApiServer, serve_kubelet: Any, tmp_path: Path, which: str) -> None:
    """A node answering with another node's certificate (or none from the cluster CA) is
    not the node the api-server meant to reach: 502, and nothing was sent to it."""
    node = f"kn-{uuid.uuid4().hex[:6]}"
    cert = issue_serving_cert(apiserver.data_dir, tmp_path, f"other-{node}") \
        if which == "another-nodes" else self_signed(tmp_path, node, ["127.0.0.1"])
    fake = await serve_kubelet(cert, node)
    pod = _pod(apiserver, node)
    async with apiserver.session() as s, s.get(f"{NS}/pods/{pod}/log") as r:
        assert r.status == 502, await r.text()
        assert "certificate" in (await r.json())["message"]
    assert fake.calls == []
