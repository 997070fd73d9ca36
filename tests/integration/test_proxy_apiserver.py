"""The whole Service path against a real api-server: pods and a Service written
through the API (its NodePort allocated there), the endpoints controller and the
proxy's informers, real iptables in a node namespace, real traffic from a pod
namespace."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from agent.proxy import iptables
from agent.proxy.proxier import Proxier
from agent.proxy.settings import ProxySettings
from minikube_py.api.resources import EVENTS, NAMESPACES, PODS, SERVICES
from minikube_py.client import ApiClient
from minikube_py.client.errors import ClientError
from minikube_py.controllers.endpoints import EndpointsController
from minikube_py.controllers.settings import ControllerManagerSettings
from tests.fixtures import service_traffic as traffic
from tests.fixtures.netns import Netns

pytestmark = pytest.mark.root


@pytest.fixture
async def wired(apiserver: Any, netns: Callable[..., Netns], tmp_path: Any
                ) -> AsyncIterator[tuple[ApiClient, str, traffic.Cluster]]:
    """API client + namespace, a netns cluster, and the controller and proxy running."""
    client = ApiClient.from_kubeconfig(apiserver.kubeconfig)
    namespace = f"px-{uuid.uuid4().hex[:6]}"
    await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": namespace}})
    cluster = traffic.Cluster(netns, str(tmp_path))
    cluster.proxy = Proxier(client, ProxySettings(netns=cluster.node.name, backend="legacy",
                                                  min_sync_interval=0.02))
    tasks = [asyncio.create_task(EndpointsController(client, ControllerManagerSettings()).run()),
             asyncio.create_task(cluster.proxy.run())]
    try:
        yield client, namespace, cluster
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await cluster.proxy.cleanup()
        # No namespace controller runs beside this api-server: the Services go now, so
        # their fixed cluster IP is free for the next test whatever the order.
        for svc in (await client.list(SERVICES, namespace))["items"]:
            with contextlib.suppress(ClientError):
                await client.delete(SERVICES, svc["metadata"]["name"], namespace)
        with contextlib.suppress(ClientError):
            await client.delete(NAMESPACES, namespace)
        await client.close()
        assert cluster.our_chains() == []
        for r in results:  # a crashed task would otherwise pass unnoticed
            assert isinstance(r, asyncio.CancelledError), r


async def add_pod(client: ApiClient, ns: str, name: str, ip: str, ready: bool = True) -> None:
    await client.create(PODS, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "web"}},
        "spec": {"nodeName": "node-a", "containers": [
            {"name": "c", "image": "busybox",
             "ports": [{"name": "http", "containerPort": 8080}]}]}}, ns)
    await set_ready(client, ns, name, ip, ready)


async def set_ready(client: ApiClient, ns: str, name: str, ip: str, ready: bool) -> None:
    await client.patch(PODS, name, {"status": {
        "phase": "Running", "podIP": ip,
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}},
        namespace=ns, subresource="status")


async def test_service_reaches_ready_pods_and_follows_readiness(wired: Any) -> None:
    client, ns, cluster = wired
    ips = {name: cluster.pod(name) for name in ("a", "b")}
    cluster.pod("client", serve=False)
    cluster.wait_serving()
    created = await client.create(SERVICES, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"type": "NodePort", "clusterIP": traffic.VIP, "selector": {"app": "web"},
                 "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}, ns)
    node_port = created["spec"]["ports"][0]["nodePort"]  # allocated by the api-server
    for name, ip in ips.items():
        await add_pod(client, ns, name, ip)

    deadline = time.monotonic() + 10
    while set(await asyncio.to_thread(cluster.try_get, "client", traffic.VIP, 80, 20)) != {"a", "b"}:
        assert time.monotonic() < deadline, "service never balanced over both pods"
        await asyncio.sleep(0.1)

    got = await asyncio.to_thread(cluster.get, "client", traffic.NODE_IP, node_port, 20)
    assert sum(got.values()) == 20 and set(got) <= {"a", "b"}

    with traffic.Stream(cluster.ns("client"), traffic.VIP, 80) as stream:
        await stream.wait_for({"a", "b"})
        changed = time.monotonic()
        await set_ready(client, ns, "a", ips["a"], False)
        await asyncio.sleep(3)
    assert stream.last_from("a") - changed < 2.0, "not-ready pod still got traffic after 2 s"
    assert stream.last_from("b") > changed + 2.0

    web_chain = iptables.chain_name("KUBE-SVC-", f"{ns}/web:http", "tcp")
    assert web_chain in cluster.our_chains()
    await client.delete(SERVICES, "web", ns)
    deadline = time.monotonic() + 5
    while web_chain in cluster.our_chains():
        assert time.monotonic() < deadline, "deleted service kept its chains"
        await asyncio.sleep(0.1)


async def test_a_service_the_proxy_cannot_render_is_skipped_with_an_event(wired: Any) -> None:
    client, ns, cluster = wired

    def service(name: str, **spec: Any) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                "spec": {"ports": [{"port": 80}], **spec}}

    # Valid for the API (an IPv6 external address), not for this IPv4 proxy: before, its
    # rule failed every iptables-restore and no Service was programmed.
    await client.create(SERVICES, service("v6", externalIPs=["2001:db8::5"],
                                          sessionAffinity="ClientIP"), ns)
    await client.create(SERVICES, service("web", clusterIP=traffic.VIP), ns)
    deadline = time.monotonic() + 10
    while traffic.VIP not in "".join(cluster.node.run("iptables-legacy-save", "-t", table)
                                     .stdout for table in ("nat", "filter")):
        assert time.monotonic() < deadline, "the valid service was never programmed"
        await asyncio.sleep(0.1)
    while not (events := [e for e in (await client.list(EVENTS, ns))["items"]
                          if e["involvedObject"]["name"] == "v6"]):
        assert time.monotonic() < deadline, "no event on the skipped service"
        await asyncio.sleep(0.1)
    assert events[0]["type"] == "Warning" and events[0]["reason"] == "FailedToProgramService"
    assert events[0]["message"].endswith("left out by kube-proxy: 2001:db8::5")
