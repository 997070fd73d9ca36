"""ApiClient against a real api-server (real etcd): verbs, errors, watch, TLS and auth."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from minikube_py.api.resources import CONFIGMAPS, NAMESPACES, PODS
from minikube_py.client import ApiClient
from minikube_py.client.errors import (
    AlreadyExists,
    Conflict,
    ConnectionFailed,
    Invalid,
    NotFound,
    Unauthorized,
)
from minikube_py.client.kubeconfig import ClientConfig
from tests.fixtures.builders import configmap, pod

JsonDict = dict[str, Any]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def client(apiserver: Any) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as c:
        yield c


async def test_crud_round_trip(client: ApiClient) -> None:
    name = unique("cm")
    created = await client.create(CONFIGMAPS,
                                  configmap(name, data={"a": "1"}, labels={"app": name}))
    assert created["metadata"]["uid"] and created["metadata"]["resourceVersion"]

    got = await client.get(CONFIGMAPS, name, "default")
    assert got["data"] == {"a": "1"}

    listed = await client.list(CONFIGMAPS, "default", label_selector=f"app={name}")
    assert [o["metadata"]["name"] for o in listed["items"]] == [name]
    assert listed["metadata"]["resourceVersion"]

    got["data"]["b"] = "2"
    updated = await client.update(CONFIGMAPS, got)
    assert updated["data"] == {"a": "1", "b": "2"}
    assert int(updated["metadata"]["resourceVersion"]) > int(got["metadata"]["resourceVersion"])

    merged = await client.patch(CONFIGMAPS, name, {"data": {"c": "3", "a": None}}, "default")
    assert merged["data"] == {"b": "2", "c": "3"}
    jsoned = await client.patch(CONFIGMAPS, name, [{"op": "replace", "path": "/data/b",
                                                    "value": "json"}], "default",
                                patch_type="json")
    assert jsoned["data"]["b"] == "json"

    await client.delete(CONFIGMAPS, name, "default")
    with pytest.raises(NotFound):
        await client.get(CONFIGMAPS, name, "default")
    with pytest.raises(NotFound):
        await client.delete(CONFIGMAPS, name, "default")


async def test_strategic_patch_merges_containers_by_name(client: ApiClient) -> None:
    name = unique("pod")
    await client.create(PODS, pod(name, image="busybox:1", ports=[{"containerPort": 80}]),
                        "default")
    patched = await client.patch(
        PODS, name, {"metadata": {"labels": {"patched": "yes"}},
                     "spec": {"containers": [{"name": "c", "image": "busybox:2"}]}},
        "default", patch_type="strategic")
    containers = patched["spec"]["containers"]
    assert len(containers) == 1 and containers[0]["image"] == "busybox:2"
    assert containers[0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}], \
        "strategic merge keeps the fields it was not given"
    assert patched["metadata"]["labels"] == {"patched": "yes"}
    await client.delete(PODS, name, "default", grace_period_seconds=0)


async def test_errors_are_narrow(client: ApiClient) -> None:
    name = unique("cm")
    first = await client.create(CONFIGMAPS, configmap(name))
    with pytest.raises(AlreadyExists) as exists:
        await client.create(CONFIGMAPS, configmap(name))
    assert exists.value.code == 409 and name in exists.value.message

    stale = dict(first, data={"x": "1"})
    await client.update(CONFIGMAPS, dict(first, data={"y": "1"}))
    with pytest.raises(Conflict) as conflict:
        await client.update(CONFIGMAPS, stale)
    assert conflict.value.code == 409

    with pytest.raises(Invalid) as invalid:
        await client.create(CONFIGMAPS, configmap("Not_A_Valid_Name"))
    assert invalid.value.code == 422
    assert any(c.get("field") == "metadata.name" for c in invalid.value.causes)

    with pytest.raises(ValueError, match="patch_type"):
        await client.patch(CONFIGMAPS, name, {}, "default", patch_type="yaml")
    await client.delete(CONFIGMAPS, name, "default")


async def test_create_takes_namespace_from_object_and_cluster_scope(client: ApiClient) -> None:
    nodes = await client.list(NAMESPACES)
    assert "default" in {o["metadata"]["name"] for o in nodes["items"]}
    name = unique("cm")
    obj = configmap(name)
    obj["metadata"]["namespace"] = "kube-system"
    created = await client.create(CONFIGMAPS, obj)
    assert created["metadata"]["namespace"] == "kube-system"
    await client.delete(CONFIGMAPS, name, "kube-system")


async def watch_one(client: ApiClient, name: str, rv: str, count: int,
                    until: str = "") -> list[tuple[str, JsonDict]]:
    """Events for one ConfigMap from `rv`: `count` of them, or up to an `until` event."""
    seen: list[tuple[str, JsonDict]] = []
    events = client.watch(CONFIGMAPS, "default", resource_version=rv,
                          field_selector=f"metadata.name={name}")
    async with contextlib.aclosing(events):
        async for event_type, obj in events:
            seen.append((event_type, obj))
            if len(seen) == count or event_type == until:
                break
    return seen


async def test_watch_delivers_changes_in_order_from_a_list(client: ApiClient) -> None:
    name = unique("cm")
    listed = await client.list(CONFIGMAPS, "default")
    watcher = asyncio.create_task(watch_one(client, name, listed["metadata"]["resourceVersion"],
                                            count=100, until="DELETED"))
    await client.create(CONFIGMAPS, configmap(name, data={"v": "0"}))
    for i in range(1, 4):
        await client.patch(CONFIGMAPS, name, {"data": {"v": str(i)}}, "default")
    await client.delete(CONFIGMAPS, name, "default")
    seen = await asyncio.wait_for(watcher, 10)
    assert [(t, o["data"]["v"]) for t, o in seen] == [
        ("ADDED", "0"), ("MODIFIED", "1"), ("MODIFIED", "2"), ("MODIFIED", "3"), ("DELETED", "3")]


async def test_watch_ends_on_server_timeout(client: ApiClient) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    events = [e async for e in client.watch(CONFIGMAPS, "default", timeout_seconds=1,
                                            field_selector=f"metadata.name={unique('none')}")]
    assert events == []
    assert 0.5 <= loop.time() - start < 10


async def test_watch_carries_objects_bigger_than_a_read_buffer(client: ApiClient) -> None:
    name = unique("big")
    big = "x" * (1024 * 1024)
    listed = await client.list(CONFIGMAPS, "default")
    watcher = asyncio.create_task(watch_one(client, name, listed["metadata"]["resourceVersion"],
                                            count=1))
    await client.create(CONFIGMAPS, configmap(name, data={"big": big}))
    [(_, obj)] = await asyncio.wait_for(watcher, 10)
    assert obj["data"]["big"] == big
    await client.delete(CONFIGMAPS, name, "default")


async def test_concurrent_requests_share_the_pool(client: ApiClient) -> None:
    names = [unique("many") for _ in range(50)]
    await asyncio.gather(*(client.create(CONFIGMAPS, configmap(n)) for n in names))
    got = await asyncio.gather(*(client.get(CONFIGMAPS, n, "default") for n in names))
    assert [g["metadata"]["name"] for g in got] == names
    await asyncio.gather(*(client.delete(CONFIGMAPS, n, "default") for n in names))


async def test_bad_token_is_unauthorized(apiserver: Any) -> None:
    async with ApiClient(apiserver.url, token="wrong", ca_file=apiserver.ca_file) as c:
        with pytest.raises(Unauthorized) as err:
            await c.list(CONFIGMAPS, "default")
    assert err.value.code == 401


async def test_untrusted_server_certificate_fails_fast(apiserver: Any) -> None:
    async with ApiClient(config=ClientConfig(server=apiserver.url, token=apiserver.token)) as c:
        with pytest.raises(ConnectionFailed, match="(?i)certificate"):
            await asyncio.wait_for(c.list(CONFIGMAPS, "default"), 5)


@pytest.mark.parametrize("retries", [0, 2])
async def test_nothing_listening_is_connection_failed(retries: int) -> None:
    """`retries` counts the attempts after the first; 0 means exactly one."""
    async with ApiClient("https://127.0.0.1:1", token="t", retries=retries) as c:
        with pytest.raises(ConnectionFailed):
            await asyncio.wait_for(c.get(CONFIGMAPS, "x", "default"), 10)


async def test_raw_request_returns_json_or_text(client: ApiClient) -> None:
    assert await client.request("GET", "/readyz") == "ok"
    version = await client.request("GET", "/version")
    assert isinstance(version, dict) and "gitVersion" in version


@pytest.mark.parametrize("delay_ms", range(12))
async def test_cancelled_requests_leak_no_sockets(apiserver: Any, delay_ms: int) -> None:
    """Callers are cancelled mid-request all the time (leadership lost, shutdown), and
    the loop may close right after the client. A leaked socket shows up as a
    ResourceWarning (an error here) when it is collected: see the next test."""
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as c:
        await c.list(CONFIGMAPS, "default")
        tasks = [asyncio.create_task(c.list(CONFIGMAPS, "default")) for _ in range(5)]
        await asyncio.sleep(delay_ms % 8 / 1000)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def test_zz_collect_leaked_sockets() -> None:
    """Collect now, so sockets leaked by the tests above fail this module, not a later one."""
    gc.collect()


async def test_writes_are_retried_while_the_server_cannot_be_reached(
        apiserver_factory: Callable[..., Any]) -> None:
    """Nothing was sent when a connect fails, so even a POST is safely retried."""
    server = apiserver_factory()
    await asyncio.to_thread(server.stop)
    async with ApiClient.from_kubeconfig(server.kubeconfig, retries=60) as c:
        name = unique("late")
        create = asyncio.create_task(c.create(CONFIGMAPS, configmap(name)))
        await asyncio.sleep(0.3)
        assert not create.done(), "still retrying while the server is down"
        await asyncio.to_thread(server.start)
        created = await asyncio.wait_for(create, 30)
        assert created["metadata"]["name"] == name
        assert (await c.get(CONFIGMAPS, name, "default"))["metadata"]["uid"] == \
            created["metadata"]["uid"]
