"""The LoadBalancer address controller against a real api-server: addresses from the
pool written to status.loadBalancer.ingress, AllocationFailed when the pool is empty, the
address released on delete and given to the Service that waited for it."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from minikube_py.api.resources import EVENTS, SERVICES
from minikube_py.client import ApiClient
from minikube_py.client.tasks import background
from minikube_py.controllers.servicelb import ServiceLBController
from minikube_py.controllers.settings import ControllerManagerSettings
from tests.fixtures import builders
from tests.helpers import eventually, scratch_namespace

POOL = "10.123.45.1-10.123.45.2"


@pytest.fixture
async def env(apiserver: Any) -> AsyncIterator[tuple[ApiClient, str]]:
    settings = dataclasses.replace(ControllerManagerSettings(), lb_address_pools=(POOL,))
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client, \
            scratch_namespace(client, "lb") as namespace, \
            background(ServiceLBController(client, settings).run(), "service-lb"):
        yield client, namespace


async def ingress(client: ApiClient, ns: str, name: str) -> list[dict[str, Any]]:
    svc = await client.get(SERVICES, name, ns)
    return list(((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or [])


async def test_addresses_are_allocated_released_and_reused(
        env: tuple[ApiClient, str]) -> None:
    client, ns = env
    for name in ("a", "b"):
        await client.create(SERVICES, builders.service(name, ns, type="LoadBalancer"), ns)
    got = {name: await eventually(functools.partial(ingress, client, ns, name))
           for name in ("a", "b")}
    assert sorted(i[0]["ip"] for i in got.values()) == ["10.123.45.1", "10.123.45.2"]
    assert got["a"][0]["ipMode"] == "VIP"

    await client.create(SERVICES, builders.service("c", ns, type="LoadBalancer"), ns)

    async def failed() -> list[dict[str, Any]]:
        events = await client.list(EVENTS, ns, field_selector="involvedObject.name=c")
        return [e for e in events["items"] if e["reason"] == "AllocationFailed"]
    assert "no available IPs" in (await eventually(failed))[0]["message"]
    assert await ingress(client, ns, "c") == []

    await client.delete(SERVICES, "a", ns)
    freed = got["a"][0]["ip"]
    assert (await eventually(lambda: ingress(client, ns, "c")))[0]["ip"] == freed
