"""The kubelet API behind webhook authentication and authorization, end to end: a real
api-server, and a real agent running with its own node credential and the serving
certificate `join`'s exchange got it (the real exchange, made by the admin as `up` does).

- anonymous calls, and tokens the api-server does not know, are 401 on every path;
- the admin reaches /healthz and gets the kubelet's own 404 for an absent pod;
- another node's credential, or a service account allowed to exec into pods through the
  api-server, may not exec on this kubelet directly (403: it lacks nodes/proxy);
- through the api-server (its kubelet-client certificate, system:kubelet-api-admin) logs
  and exec work, and the kubelet's certificate verifies against the cluster CA for the
  node's name.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509

from minikube_py.api.resources import NODES
from minikube_py.client import ApiClient
from minikube_py.cluster import join
from tests.fixtures.apiserver import ApiServer, as_user
from tests.fixtures.docker import CniNet
from tests.fixtures.node_agent import (
    Agent,
    create,
    is_running,
    kubelet_port,
    make_pod,
    status_when,
)
from tests.helpers import eventually

pytestmark = [pytest.mark.docker, pytest.mark.root]


async def _credentials(apiserver: ApiServer, node: str, kubeconfig: Path) -> str:
    """The node's own token and serving certificate, written as `up` writes them."""
    ca_pem = apiserver.ca_file.read_bytes()
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as admin:
        creds = await join.exchange(admin, node, ["127.0.0.1"])
    join.write_credentials(kubeconfig, apiserver.url, ca_pem, node, creds)
    return creds.token


@pytest.fixture(scope="module")
def node_agent(apiserver: ApiServer, busybox_image: str, cni_net_module: CniNet,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    a = Agent(apiserver, cni_net_module, tmp_path_factory.mktemp("agent"))
    a.kubeconfig = a.state / "kubelet.conf"
    asyncio.run(_credentials(apiserver, a.node, a.kubeconfig))
    a.start()
    try:
        yield a
    finally:
        a.stop_and_clean()


@pytest.fixture
async def api(apiserver: ApiServer) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client:
        yield client


async def _with_pod_cidr(api: ApiClient, node: str, cidr: str) -> bool:
    """The node IPAM's part (no controller-manager here): NodeRestriction accepts pod
    addresses from the node only inside its podCIDR."""
    try:
        got = await api.get(NODES, node)
    except Exception:  # noqa: BLE001 - not registered yet
        return False
    if (got.get("spec") or {}).get("podCIDR") != cidr:
        await api.patch(NODES, node, {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})
    return True


@pytest.fixture
async def running(node_agent: Agent, api: ApiClient, cni_net_module: CniNet
                  ) -> tuple[int, str]:
    """(kubelet port, a running pod's name) on the agent's node."""
    await eventually(lambda: _with_pod_cidr(api, node_agent.node, cni_net_module.subnet),
                     timeout=30, what="node registered")
    pod = await create(api, make_pod(node_agent.node, [
        {"name": "c", "command": ["sh", "-c", "echo hello-from-c; exec sleep 3600"]}]))
    await status_when(api, pod, is_running, what="Running")
    port = await eventually(lambda: kubelet_port(api, node_agent.node), timeout=30,
                            what="kubelet port registered")
    return port, pod["metadata"]["name"]


async def _direct(port: int, path: str, token: str | None, method: str = "GET"
                  ) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.request(
            method, f"https://127.0.0.1:{port}{path}", ssl=False, headers=headers) as resp:
        text = await resp.text()
    await asyncio.sleep(0.1)  # let TLS close on this loop
    return resp.status, text


async def test_anonymous_calls_are_401(running: tuple[int, str]) -> None:
    port, pod = running
    for path in ("/healthz", "/configz", f"/containerLogs/default/{pod}/c",
                 f"/exec/default/{pod}/c?command=id&stdout=1"):
        assert (await _direct(port, path, None))[0] == 401, path
        assert (await _direct(port, path, "not-a-token"))[0] == 401, path


async def test_an_allowed_caller_gets_the_kubelets_own_answers(
        apiserver: ApiServer, node_agent: Agent, api: ApiClient) -> None:
    """The admin (system:masters, so nodes/healthz and nodes/proxy): /healthz answers, an
    absent pod is the kubelet's 404, not a refusal."""
    port = await eventually(lambda: kubelet_port(api, node_agent.node), timeout=30,
                            what="kubelet port registered")
    assert await _direct(port, "/healthz", apiserver.token) == (200, "ok")
    assert await _direct(port, "/containerLogs/default/nosuchpod/c", apiserver.token) == (
        404, 'container "c" in pod "nosuchpod" not found')


async def test_another_nodes_credential_may_not_exec_here(
        apiserver: ApiServer, node_agent: Agent, running: tuple[int, str],
        tmp_path: Path) -> None:
    port, pod = running
    other = f"kt-other-{uuid.uuid4().hex[:6]}"
    token = await _credentials(apiserver, other, tmp_path / "other.conf")
    status, text = await _direct(port, f"/exec/default/{pod}/c?command=id&stdout=1", token,
                                 "POST")
    assert status == 403, text
    assert text == (f"Forbidden (user=system:node:{other}, verb=create, resource=nodes, "
                    "subresource(s)=[proxy])")
    status, text = await _direct(port, f"/containerLogs/default/{pod}/c", token)
    assert status == 403, text
    code, body = await asyncio.to_thread(
        as_user, apiserver, token, "GET", f"/api/v1/namespaces/default/pods/{pod}/log")
    assert code == 403, body  # nor through the api-server


async def test_may_exec_through_the_api_server_is_not_may_exec_on_the_kubelet(
        apiserver: ApiServer, running: tuple[int, str]) -> None:
    """A service account that may read pods' logs and exec into them in the namespace:
    allowed through the api-server, refused by the kubelet (it has no nodes/proxy)."""
    port, pod = running
    sa = f"ex-{uuid.uuid4().hex[:6]}"
    ns = "/api/v1/namespaces/default"
    assert apiserver.request("POST", f"{ns}/serviceaccounts", {"metadata": {"name": sa}})[
        0] == 201
    rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/default"
    assert apiserver.request("POST", f"{rbac}/roles", {"metadata": {"name": sa}, "rules": [
        {"apiGroups": [""], "resources": ["pods", "pods/log", "pods/exec"],
         "verbs": ["get", "create"]}]})[0] == 201
    assert apiserver.request(
        "POST", f"{rbac}/rolebindings",
        {"metadata": {"name": sa}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                               "kind": "Role", "name": sa},
         "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": "default"}]})[
        0] == 201
    status, got = apiserver.request("POST", f"{ns}/serviceaccounts/{sa}/token", {
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})
    assert status == 201 and isinstance(got, dict), got
    token = got["status"]["token"]

    async def through_apiserver() -> str | None:
        async with apiserver.session() as s, s.get(
                f"{ns}/pods/{pod}/log", headers={"Authorization": f"Bearer {token}"}) as r:
            return await r.text() if r.status == 200 else None
    assert "hello-from-c" in await eventually(through_apiserver, timeout=20,
                                              what="log through the api-server")
    status, text = await _direct(port, f"/containerLogs/default/{pod}/c", token)
    assert status == 403 and f"user=system:serviceaccount:default:{sa}" in text, text


async def test_api_server_reaches_the_kubelet_with_its_certificates(
        apiserver: ApiServer, node_agent: Agent, running: tuple[int, str]) -> None:
    port, pod = running
    async with apiserver.session() as s:
        async with s.get(f"/api/v1/namespaces/default/pods/{pod}/log") as r:
            assert r.status == 200 and "hello-from-c" in await r.text()
        async with s.ws_connect(f"/api/v1/namespaces/default/pods/{pod}/exec",
                                params=[("command", "echo"), ("command", "in-pod"),
                                        ("stdout", "true")],
                                protocols=["v4.channel.k8s.io"]) as ws:
            out = b""
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.BINARY:
                    break
                if msg.data[:1] == b"\x01":
                    out += msg.data[1:]
    assert out == b"in-pod\n"
    ctx = ssl.create_default_context(cafile=apiserver.ca_file)  # verified, by node name
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                              server_hostname=node_agent.node)
    peer = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.close()
    await writer.wait_closed()
    cert = x509.load_der_x509_certificate(peer)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [node_agent.node]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
