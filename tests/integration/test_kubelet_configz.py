"""The kubelet's /configz through the api-server (nodes/x/proxy/configz): a real
api-server and a real agent started with --cluster-dns/--cluster-domain; an admin reads
the agent's settings, a pod's service account may read neither through the api-server
nor from the kubelet directly."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aiohttp
import pytest

from agent.kubelet import labels as L
from minikube_py.client import ApiClient
from tests.fixtures.apiserver import ApiServer, as_user
from tests.fixtures.docker import CniNet, remove_containers
from tests.fixtures.node_agent import Agent, kubelet_port
from tests.helpers import eventually

pytestmark = [pytest.mark.docker, pytest.mark.root]


def _sa_token(server: ApiServer, namespace: str) -> str:
    assert server.request("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})[
        0] == 201
    server.request("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts",
                   {"metadata": {"name": "app"}})
    status, got = server.request(
        "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/app/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})
    assert status == 201, got
    return str(got["status"]["token"])


async def test_configz_through_apiserver(apiserver: ApiServer, busybox_image: str,
                                         cni_net_module: CniNet, api: ApiClient,
                                         tmp_path: Path) -> None:
    a = Agent(apiserver, cni_net_module, tmp_path / "agent",
              "--cluster-dns", "10.96.0.53,10.96.0.54", "--cluster-domain", "corp.test")
    a.start()
    namespace = f"cz-{uuid.uuid4().hex[:6]}"
    try:
        port = await eventually(lambda: kubelet_port(api, a.node), timeout=30,
                                what="kubelet port registered")
        path = f"/api/v1/nodes/{a.node}/proxy/configz"
        code, body = await asyncio.to_thread(as_user, apiserver, apiserver.token, "GET", path)
        assert code == 200, (body, a.tail())
        config = body["kubeletconfig"]
        assert config["kind"] == "KubeletConfiguration"
        assert config["clusterDNS"] == ["10.96.0.53", "10.96.0.54"]
        assert config["clusterDomain"] == "corp.test"
        assert config["port"] == port

        token = await asyncio.to_thread(_sa_token, apiserver, namespace)
        code, body = await asyncio.to_thread(as_user, apiserver, token, "GET", path)
        assert code == 403 and body["reason"] == "Forbidden", body
        assert 'cannot get resource "nodes/proxy"' in body["message"]
        async with (  # straight to the kubelet: refused too
                aiohttp.ClientSession() as http,
                http.get(f"https://127.0.0.1:{port}/configz", ssl=False,
                         headers={"Authorization": f"Bearer {token}"}) as resp,
        ):
            assert resp.status == 403
        code, body = await asyncio.to_thread(
            as_user, apiserver, apiserver.token, "GET", f"/api/v1/nodes/{a.node}/proxy/pods")
        assert code == 404, body  # only /configz is proxied
    finally:
        a.stop()
        remove_containers(L.NODE, a.node)
        await asyncio.to_thread(apiserver.request, "DELETE", f"/api/v1/namespaces/{namespace}")
        await asyncio.to_thread(apiserver.request, "DELETE", f"/api/v1/nodes/{a.node}")
