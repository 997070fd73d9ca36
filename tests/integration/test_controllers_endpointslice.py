"""EndpointSlice controller against a real api-server, fed by the real endpoints
controller: ready and not-ready pods become slice endpoints with conditions,
nodeName and targetRef; a readiness flip and a deleted slice are put right;
deleting the Service deletes its slices."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from minikube_py.api.resources import ENDPOINTSLICES, SERVICES
from minikube_py.client import ApiClient
from tests.fixtures import builders
from tests.fixtures.controlplane import endpoint_controllers
from tests.helpers import create_pod, eventually, scratch_namespace, set_pod_ready


@pytest.fixture
async def env(apiserver: Any) -> AsyncIterator[tuple[ApiClient, str]]:
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client, \
            scratch_namespace(client, "eps") as namespace, endpoint_controllers(client):
        yield client, namespace


async def slices_of(client: ApiClient, ns: str) -> list[dict[str, Any]]:
    listed = await client.list(ENDPOINTSLICES, namespace=ns,
                               label_selector="kubernetes.io/service-name=web")
    slices: list[dict[str, Any]] = listed["items"]
    return slices


def readiness(slices: list[dict[str, Any]]) -> dict[str, bool]:
    return {e["addresses"][0]: e["conditions"]["ready"] for s in slices
            for e in s.get("endpoints") or []}


async def test_slice_mirrors_endpoints_and_follows_readiness(env: tuple[ApiClient, str]
                                                            ) -> None:
    client, ns = env
    service = await client.create(SERVICES, builders.service("web", ns), ns)
    a = await create_pod(client, ns, "a", "10.244.0.5", ready=True)
    await create_pod(client, ns, "b", "10.244.0.6", ready=False)

    async def both_listed() -> list[dict[str, Any]] | None:
        slices = await slices_of(client, ns)
        return slices if len(readiness(slices)) == 2 else None

    [eps] = await eventually(both_listed, what="slice with both pods")
    assert eps["metadata"]["name"] == "web-mkp"
    assert eps["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == (
        "endpointslice-controller.k8s.io")
    [owner] = eps["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == (
        "Service", service["metadata"]["uid"], True)
    assert eps["addressType"] == "IPv4"
    assert eps["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    ready = next(e for e in eps["endpoints"] if e["addresses"] == ["10.244.0.5"])
    assert ready["conditions"] == {"ready": True, "serving": True, "terminating": False}
    assert ready["nodeName"] == "node-a"
    assert ready["targetRef"] == {"kind": "Pod", "namespace": ns, "name": "a",
                                  "uid": a["metadata"]["uid"]}
    assert readiness([eps])["10.244.0.6"] is False

    await set_pod_ready(client, ns, "b", "10.244.0.6", True)
    await set_pod_ready(client, ns, "a", "10.244.0.5", False)

    async def flipped() -> bool:
        return readiness(await slices_of(client, ns)) == {"10.244.0.5": False,
                                                          "10.244.0.6": True}

    await eventually(flipped, timeout=5.0, interval=0.05, what="readiness flip in slice")

    await client.delete(ENDPOINTSLICES, "web-mkp", ns)

    async def restored() -> bool:
        return len(readiness(await slices_of(client, ns))) == 2

    await eventually(restored, what="deleted slice recreated")

    await client.delete(SERVICES, "web", ns)

    async def gone() -> bool:
        return await slices_of(client, ns) == []

    await eventually(gone, what="slices deleted with the service")
