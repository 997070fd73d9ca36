"""Endpoints controller against a real api-server: ready and not-ready pods,
named targetPorts per pod, nodeName and targetRef, a readiness flip reflected
within a second, user-written Endpoints of selector-less Services kept."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest

from minikube_py.api.resources import ENDPOINTS, PODS, SERVICES
from minikube_py.client import ApiClient
from minikube_py.client.errors import NotFound
from minikube_py.client.tasks import background
from minikube_py.controllers.endpoints import EndpointsController
from minikube_py.controllers.settings import ControllerManagerSettings
from tests.fixtures import builders
from tests.helpers import create_pod, eventually, scratch_namespace, set_pod_ready


@pytest.fixture
async def env(apiserver: Any) -> AsyncIterator[tuple[ApiClient, str]]:
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client, \
            scratch_namespace(client, "ep") as namespace, \
            background(EndpointsController(client, ControllerManagerSettings()).run(),
                       "endpoints-controller"):
        yield client, namespace


async def endpoints_of(client: ApiClient, ns: str, name: str) -> dict[str, Any] | None:
    try:
        return await client.get(ENDPOINTS, name, namespace=ns)
    except NotFound:
        return None


def addresses(ep: dict[str, Any] | None, field: str = "addresses") -> list[tuple[str, int]]:
    return sorted((a["ip"], p["port"]) for s in (ep or {}).get("subsets") or []
                  for a in s.get(field) or [] for p in s["ports"])


async def test_endpoints_follow_pods_and_readiness(env: tuple[ApiClient, str]) -> None:
    client, ns = env
    await client.create(SERVICES, builders.service("web", ns), ns)
    a = await create_pod(client, ns, "a", "10.244.0.5", ready=True)
    await create_pod(client, ns, "b", "10.244.0.6", ready=False, port=9090)
    await create_pod(client, ns, "other", "10.244.0.7", ready=True, app="other")

    async def both_listed() -> dict[str, Any] | None:
        ep = await endpoints_of(client, ns, "web")
        return ep if addresses(ep) and addresses(ep, "notReadyAddresses") else None

    ep = await eventually(both_listed)
    assert addresses(ep) == [("10.244.0.5", 8080)]
    assert addresses(ep, "notReadyAddresses") == [("10.244.0.6", 9090)]  # its own "http"
    address = next(s["addresses"][0] for s in ep["subsets"] if s.get("addresses"))
    assert address["nodeName"] == "node-a"
    assert address["targetRef"] == {"kind": "Pod", "namespace": ns, "name": "a",
                                    "uid": a["metadata"]["uid"]}

    started = time.monotonic()
    await set_pod_ready(client, ns, "b", "10.244.0.6", True)
    await set_pod_ready(client, ns, "a", "10.244.0.5", False)

    async def flipped() -> bool:
        ep = await endpoints_of(client, ns, "web")
        return addresses(ep) == [("10.244.0.6", 9090)] and addresses(
            ep, "notReadyAddresses") == [("10.244.0.5", 8080)]

    await eventually(flipped, timeout=1.0, interval=0.02, what="readiness flip in Endpoints")
    assert time.monotonic() - started < 1.0

    await client.delete(PODS, "b", ns, grace_period_seconds=0)
    await eventually(lambda: _equals(endpoints_of(client, ns, "web"), []))


async def _equals(ep: Awaitable[dict[str, Any] | None], expected: list[Any]) -> bool:
    return addresses(await ep) == expected


async def test_deleting_the_service_deletes_its_endpoints(env: tuple[ApiClient, str]) -> None:
    client, ns = env
    await client.create(SERVICES, builders.service("web", ns), ns)
    await create_pod(client, ns, "a", "10.244.0.5", ready=True)
    await eventually(lambda: _equals(endpoints_of(client, ns, "web"), [("10.244.0.5", 8080)]))
    await client.delete(SERVICES, "web", ns)

    async def gone() -> bool:
        return await endpoints_of(client, ns, "web") is None

    await eventually(gone)


async def test_services_without_selector_keep_user_endpoints(
        env: tuple[ApiClient, str]) -> None:
    client, ns = env
    user = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "ext"},
            "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 5432}]}]}
    await client.create(ENDPOINTS, user, ns)
    await client.create(SERVICES, {"apiVersion": "v1", "kind": "Service",
                                   "metadata": {"name": "ext"},
                                   "spec": {"ports": [{"port": 5432}]}}, ns)
    # A selecting Service created afterwards proves the controller is running meanwhile.
    await client.create(SERVICES, builders.service("web", ns), ns)
    await create_pod(client, ns, "a", "10.244.0.5", ready=True)
    await eventually(lambda: _equals(endpoints_of(client, ns, "web"), [("10.244.0.5", 8080)]))
    assert addresses(await endpoints_of(client, ns, "ext")) == [("192.0.2.10", 5432)]
