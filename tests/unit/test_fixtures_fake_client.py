"""The fake ApiClient answers as the api-server does where controllers depend on
it: generated names and uids, AlreadyExists, NotFound, stale-version Conflicts,
injected failures, lists paged through one snapshot (410 Expired once compacted);
and records each accepted write once."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from minikube_py.api.resources import CONFIGMAPS, PODS
from minikube_py.client import ApiClient
from minikube_py.client.errors import AlreadyExists, Conflict, Gone, NotFound, ServerError
from tests.fixtures.builders import configmap, pod
from tests.fixtures.fake_client import FakeClient


async def test_create_fills_server_fields_and_a_taken_name_already_exists() -> None:
    client = FakeClient()
    created = await client.create(PODS, pod(uid="", generate_name="web-", name=""), "ns")
    meta = created["metadata"]
    assert meta["name"].startswith("web-") and len(meta["name"]) == 9
    assert meta["uid"] and meta["resourceVersion"] and meta["namespace"] == "ns"
    assert await client.get(PODS, meta["name"], "ns") == created
    with pytest.raises(AlreadyExists, match=f'pods "{meta["name"]}" already exists'):
        await client.create(PODS, created)
    assert client.summary() == [("create", "pods", meta["name"])]


async def test_stale_writes_conflict_and_unknown_objects_are_accepted() -> None:
    client = FakeClient()
    client.put(CONFIGMAPS, configmap("cm", resource_version="5"))
    with pytest.raises(Conflict):
        await client.update(CONFIGMAPS, configmap("cm", resource_version="4"))
    with pytest.raises(Conflict):
        await client.patch(CONFIGMAPS, "cm", {"metadata": {"uid": "other"}}, "default")
    patched = await client.patch(CONFIGMAPS, "cm", {"data": {"k": "v"}}, "default")
    assert patched["data"] == {"k": "v"} and patched["metadata"]["resourceVersion"] != "5"
    await client.delete(PODS, "never-seen", "default")
    with pytest.raises(NotFound, match='pods "never-seen" not found'):
        await client.get(PODS, "never-seen", "default")
    assert client.summary() == [("patch", "configmaps", "cm"), ("delete", "pods", "never-seen")]


async def test_injected_failures_hit_the_matching_calls_only() -> None:
    client = FakeClient()
    client.fail("delete", PODS, "a", error=ServerError, times=2)
    for _ in range(2):
        with pytest.raises(ServerError) as caught:
            await client.delete(PODS, "a", "default")
        assert caught.value.code == 500
    await client.delete(PODS, "b", "default")
    await client.delete(PODS, "a", "default")
    assert client.summary() == [("delete", "pods", "b"), ("delete", "pods", "a")]


async def test_lists_page_through_one_snapshot_until_it_is_compacted() -> None:
    client = FakeClient()
    client.put(CONFIGMAPS, *(configmap(f"cm{i}") for i in range(5)))
    first = await client.list(CONFIGMAPS, "default", limit=2)
    await client.create(CONFIGMAPS, configmap("late"))
    second = await client.list(CONFIGMAPS, "default", limit=2,
                               continue_token=first["metadata"]["continue"])
    last = await client.list(CONFIGMAPS, "default", limit=2,
                             continue_token=second["metadata"]["continue"])
    pages = [first, second, last]
    assert [[o["metadata"]["name"] for o in p["items"]] for p in pages] == \
        [["cm0", "cm1"], ["cm2", "cm3"], ["cm4"]]
    assert {p["metadata"]["resourceVersion"] for p in pages} == \
        {first["metadata"]["resourceVersion"]}
    assert "continue" not in last["metadata"]
    again = await client.list(CONFIGMAPS, "default", limit=5)
    assert len(again["items"]) == 5 and again["metadata"]["continue"]
    client.pages.expire()
    with pytest.raises(Gone, match="410 Expired: The provided continue parameter is too old"):
        await client.list(CONFIGMAPS, "default", limit=5,
                          continue_token=again["metadata"]["continue"])
    assert len((await client.list(CONFIGMAPS, "default"))["items"]) == 6


@pytest.mark.parametrize("verb", ["get", "list", "create", "update", "patch", "delete"])
def test_the_fake_takes_what_the_client_takes(verb: str) -> None:
    """Parameter names, kinds and defaults as ApiClient's, so a controller calling
    the real client in a way the fake does not know fails here."""
    def shape(fn: Callable[..., Any]) -> list[tuple[str, object, object]]:
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]
    assert shape(getattr(FakeClient, verb)) == shape(getattr(ApiClient, verb))
