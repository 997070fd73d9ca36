"""Informer against a real api-server: live events, a list read in pages with
managedFields stripped, recovery from compaction (410 -> re-list -> the right
add/update/delete calls) and from an api-server restart."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import pytest

from minikube_py.api.resources import CONFIGMAPS, Resource
from minikube_py.client import ApiClient, Informer
from minikube_py.client.errors import Gone
from minikube_py.client.informer import strip_managed_fields
from minikube_py.client.tasks import background
from tests.helpers import eventually

JsonDict = dict[str, Any]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def configmap(name: str, label: str, value: str = "0") -> JsonDict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default", "labels": {"suite": label}},
            "data": {"v": value}}


class GatedClient(ApiClient):
    """A real client whose new watches wait for `gate`: lets a test keep an informer
    away from the server while history is changed and compacted under it (`held` counts
    the watches waiting there). It notes the (limit, continue) of every list, and the
    resourceVersion of each answer; a list's continues wait for `continue_gate`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = asyncio.Event()
        self.gate.set()
        self.held = 0
        self.watch_rvs: list[str | None] = []
        self.list_requests: list[tuple[int | None, str | None]] = []
        self.list_rvs: list[str] = []
        self.continue_gate = asyncio.Event()
        self.continue_gate.set()

    async def list(self, resource: Resource, namespace: str | None = None, **kwargs: Any
                   ) -> JsonDict:
        self.list_requests.append((kwargs.get("limit"), kwargs.get("continue_token")))
        if kwargs.get("continue_token"):
            await self.continue_gate.wait()
        listed = await super().list(resource, namespace, **kwargs)
        self.list_rvs.append(listed["metadata"]["resourceVersion"])
        return listed

    def watch(self, resource: Resource, namespace: str | None = None, **kwargs: Any
              ) -> AsyncGenerator[tuple[str, JsonDict], None]:
        return self._gated(resource, namespace, **kwargs)

    async def _gated(self, resource: Resource, namespace: str | None, **kwargs: Any
                     ) -> AsyncGenerator[tuple[str, JsonDict], None]:
        self.held += 1
        try:
            await self.gate.wait()
        finally:
            self.held -= 1
        self.watch_rvs.append(kwargs.get("resource_version"))
        async with contextlib.aclosing(super().watch(resource, namespace, **kwargs)) as events:
            async for event in events:
                yield event


class Seen:
    """Handler calls as (verb, name, value) tuples."""

    def __init__(self, informer: Informer) -> None:
        self.calls: list[tuple[str, str, str]] = []
        informer.add_handlers(
            on_add=lambda o: self.calls.append(("add", o["metadata"]["name"], o["data"]["v"])),
            on_update=lambda old, new: self.calls.append(
                ("update", new["metadata"]["name"], f"{old['data']['v']}->{new['data']['v']}")),
            on_delete=lambda o: self.calls.append(("delete", o["metadata"]["name"], "")))


@contextlib.asynccontextmanager
async def running(informer: Informer) -> AsyncIterator[None]:
    async with background(informer.run(), f"informer-{informer.resource.plural}"):
        await asyncio.wait_for(informer.wait_synced(), 10)
        yield


async def wait_compacted(client: ApiClient, resource_version: str) -> None:
    """Probe until a watch from `resource_version` answers 410 (the api-server's own
    compactor, run every second in these tests, has moved past it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while loop.time() < deadline:
        try:
            probe = ApiClient.watch(client, CONFIGMAPS, "default", timeout_seconds=1,  # ungated
                                    resource_version=resource_version)
            async with contextlib.aclosing(probe) as events:
                async for _ in events:
                    break
        except Gone:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"resourceVersion {resource_version} was never compacted")


@pytest.fixture
async def client(apiserver: Any) -> AsyncIterator[GatedClient]:
    async with GatedClient.from_kubeconfig(apiserver.kubeconfig) as c:
        yield c


async def test_informer_follows_live_changes(client: GatedClient) -> None:
    label = unique("live")
    await client.create(CONFIGMAPS, configmap(unique("pre"), label))
    informer = Informer(client, CONFIGMAPS, "default", label_selector=f"suite={label}")
    informer.add_index("value", lambda o: [o["data"]["v"]])
    seen = Seen(informer)
    async with running(informer):
        assert len(informer.list()) == 1 and seen.calls[0][0] == "add"
        name = unique("cm")
        await client.create(CONFIGMAPS, configmap(name, label))
        await client.patch(CONFIGMAPS, name, {"data": {"v": "1"}}, "default")
        await eventually(lambda: len(informer.by_index("value", "1")) == 1)
        await client.delete(CONFIGMAPS, name, "default")
        await eventually(lambda: informer.get(f"default/{name}") is None)
    assert seen.calls[1:] == [("add", name, "0"), ("update", name, "0->1"), ("delete", name, "")]


async def test_informer_lists_in_pages_and_keeps_no_managed_fields(
        client: GatedClient) -> None:
    label = unique("paged")
    names = sorted(unique("cm") for _ in range(7))
    for name in names:
        await client.create(CONFIGMAPS, configmap(name, label))
    stored = await client.get(CONFIGMAPS, names[0], "default")
    assert stored["metadata"]["managedFields"], "the server records them on every write"
    informer = Informer(client, CONFIGMAPS, "default", label_selector=f"suite={label}",
                        page_size=3, transform=strip_managed_fields)
    seen = Seen(informer)
    async with running(informer):
        limits, tokens = zip(*client.list_requests, strict=True)
        assert limits == (3, 3, 3) and tokens[0] is None and all(tokens[1:])
        assert sorted(o["metadata"]["name"] for o in informer.list()) == names
        assert informer.resource_version
        await client.patch(CONFIGMAPS, names[0], {"data": {"v": "1"}}, "default")
        await eventually(lambda: ("update", names[0], "0->1") in seen.calls)
        for obj in informer.list():
            assert "managedFields" not in obj["metadata"], obj["metadata"]["name"]
            assert obj["kind"] == "ConfigMap" and obj["metadata"]["uid"]
        cached = informer.get(f"default/{names[1]}")
        assert cached is not None
        await client.update(CONFIGMAPS, {**cached, "data": {"v": "2"}})  # written back
    live = await client.get(CONFIGMAPS, names[1], "default")
    assert live["data"] == {"v": "2"} and live["metadata"]["managedFields"], \
        "the server's copy keeps them"


async def test_informer_relists_after_compaction(
        apiserver_factory: Callable[..., Any]) -> None:
    server = apiserver_factory(etcd_compaction_interval=1)
    async with GatedClient.from_kubeconfig(server.kubeconfig) as client:
        label = unique("gone")
        keep, change, remove = unique("keep"), unique("change"), unique("remove")
        for name in (keep, change, remove):
            await client.create(CONFIGMAPS, configmap(name, label))
        # Watches end every second, so the next one waits at the gate once it is closed.
        informer = Informer(client, CONFIGMAPS, "default", label_selector=f"suite={label}",
                            watch_timeout=(1, 1))
        seen = Seen(informer)
        async with running(informer):
            seen.calls.clear()
            client.gate.clear()
            # The open watch times out (1 s, later under load); the next one is held.
            await eventually(lambda: client.held == 1, what="the informer's watch held")
            stale_rv = informer.resource_version
            assert stale_rv
            added = unique("added")
            await client.create(CONFIGMAPS, configmap(added, label))
            await client.patch(CONFIGMAPS, change, {"data": {"v": "1"}}, "default")
            await client.delete(CONFIGMAPS, remove, "default")
            await wait_compacted(client, stale_rv)
            lists_before = informer.list_count
            client.gate.set()
            await eventually(lambda: informer.list_count > lists_before)
            await eventually(lambda: len(seen.calls) == 3)
            assert stale_rv in client.watch_rvs[-2:], "it first tried to resume, got 410"
            assert sorted(seen.calls) == [("add", added, "0"), ("delete", remove, ""),
                                          ("update", change, "0->1")]
            assert sorted(informer.keys()) == sorted(f"default/{n}" for n in (keep, change, added))
            # And it keeps watching after the re-list.
            await client.patch(CONFIGMAPS, keep, {"data": {"v": "2"}}, "default")
            await eventually(lambda: ("update", keep, "0->2") in seen.calls)


async def test_a_list_whose_snapshot_is_compacted_mid_way_is_read_whole(
        apiserver_factory: Callable[..., Any]) -> None:
    server = apiserver_factory(etcd_compaction_interval=1)
    async with GatedClient.from_kubeconfig(server.kubeconfig) as client:
        label = unique("expired")
        names = [unique("cm") for _ in range(5)]
        for name in names:
            await client.create(CONFIGMAPS, configmap(name, label))
        informer = Informer(client, CONFIGMAPS, "default", label_selector=f"suite={label}",
                            page_size=2)
        client.continue_gate.clear()
        async with background(informer.run(), "informer-configmaps"):
            await eventually(lambda: len(client.list_requests) == 2, what="second page held")
            late = await client.create(CONFIGMAPS, configmap(unique("late"), label))
            await wait_compacted(client, client.list_rvs[0])
            client.continue_gate.set()
            await asyncio.wait_for(informer.wait_synced(), 10)
        (_, first), (_, held), *rest = client.list_requests
        assert first is None and held and rest == [(None, None)], "410, then one whole list"
        assert len(informer.keys()) == 6 and informer.get(f"default/{late['metadata']['name']}")
        assert informer.resource_version == client.list_rvs[-1]


async def test_informer_survives_apiserver_restart(
        apiserver_factory: Callable[..., Any]) -> None:
    server = apiserver_factory()
    label = unique("restart")
    async with ApiClient.from_kubeconfig(server.kubeconfig) as client:
        first = unique("before")
        await client.create(CONFIGMAPS, configmap(first, label))
        informer = Informer(client, CONFIGMAPS, "default", label_selector=f"suite={label}")
        seen = Seen(informer)
        async with running(informer):
            await asyncio.to_thread(server.stop)
            await asyncio.sleep(0.5)  # the informer sees the broken watch and backs off
            await asyncio.to_thread(server.start)
            second = unique("after")
            await client.create(CONFIGMAPS, configmap(second, label))
            await client.patch(CONFIGMAPS, first, {"data": {"v": "9"}}, "default")
            await eventually(lambda: ("update", first, "0->9") in seen.calls, timeout=30)
            assert ("add", second, "0") in seen.calls
            assert sorted(informer.keys()) == sorted([f"default/{first}", f"default/{second}"])
