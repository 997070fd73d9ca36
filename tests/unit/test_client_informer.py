"""Informer: cache diffing, watch events, 410 re-list, resync, indices and handler
isolation, driven through a fake at our own seam (the ListWatcher protocol)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncGenerator, Callable
from typing import Any

import pytest

from minikube_py.api.meta import key as object_key
from minikube_py.api.meta import split_key
from minikube_py.api.resources import PODS, Resource
from minikube_py.client.cache import Indexer
from minikube_py.client.errors import ConnectionFailed, Gone, ServerError
from minikube_py.client.informer import Informer, strip_managed_fields
from minikube_py.client.tasks import background
from tests.fixtures.paging import Pages

JsonDict = dict[str, Any]
END = object()


def pod(name: str, rv: int, node: str = "", ns: str = "default") -> JsonDict:
    """A list item: like Kubernetes, without apiVersion/kind."""
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": str(rv)},
            "spec": {"nodeName": node}}


class FakeApi:
    """Scripted list results (paged as the api-server pages them) and watch streams the
    test feeds event by event."""

    def __init__(self) -> None:
        self.objects: dict[str, JsonDict] = {}
        self.rv = 1
        self.list_errors: list[Exception] = []
        self.list_calls = 0
        self.list_requests: list[tuple[int | None, str | None]] = []
        self.before_list: list[Callable[[], None]] = []  # run one per list call, in order
        self.pages = Pages()
        self.watch_rvs: list[str | None] = []
        self.streams: asyncio.Queue[asyncio.Queue[Any]] = asyncio.Queue()

    def put(self, obj: JsonDict) -> None:
        self.rv = int(obj["metadata"]["resourceVersion"])
        self.objects[obj["metadata"]["name"]] = obj

    async def list(self, resource: Resource, namespace: str | None = None, *,
                   label_selector: str | None = None, field_selector: str | None = None,
                   limit: int | None = None, continue_token: str | None = None) -> JsonDict:
        self.list_calls += 1
        self.list_requests.append((limit, continue_token))
        if self.before_list:
            self.before_list.pop(0)()
        if self.list_errors:
            raise self.list_errors.pop(0)
        meta, items = self.pages.page(
            lambda: (str(self.rv), copy.deepcopy(list(self.objects.values()))),
            limit=limit, token=continue_token)
        return {"metadata": meta, "items": items}

    def watch(self, resource: Resource, namespace: str | None = None, *,
              resource_version: str | None = None, label_selector: str | None = None,
              field_selector: str | None = None, timeout_seconds: int | None = None,
              allow_bookmarks: bool = False) -> AsyncGenerator[tuple[str, JsonDict], None]:
        assert allow_bookmarks, "the informer asks for bookmarks"
        assert timeout_seconds, "the informer bounds each watch"
        self.watch_rvs.append(resource_version)
        stream: asyncio.Queue[Any] = asyncio.Queue()
        self.streams.put_nowait(stream)
        return self._events(stream)

    async def _events(self, stream: asyncio.Queue[Any]
                      ) -> AsyncGenerator[tuple[str, JsonDict], None]:
        while True:
            item = await stream.get()
            if item is END:
                return
            if isinstance(item, Exception):
                raise item
            yield item

    async def next_stream(self) -> asyncio.Queue[Any]:
        return await asyncio.wait_for(self.streams.get(), 5)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def on_add(self, obj: JsonDict) -> None:
        self.calls.append(("add", obj["metadata"]["name"], obj["metadata"]["resourceVersion"]))

    def on_update(self, old: JsonDict, new: JsonDict) -> None:
        self.calls.append(("update", new["metadata"]["name"], old["metadata"]["resourceVersion"],
                           new["metadata"]["resourceVersion"]))

    def on_delete(self, obj: JsonDict) -> None:
        self.calls.append(("delete", obj["metadata"]["name"]))


def running(informer: Informer) -> contextlib.AbstractAsyncContextManager[asyncio.Task[None]]:
    return background(informer.run(), "informer")


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def make(api: FakeApi, **kwargs: Any) -> tuple[Informer, Recorder]:
    informer = Informer(api, PODS, **kwargs)
    rec = Recorder()
    informer.add_handlers(rec.on_add, rec.on_update, rec.on_delete)
    return informer, rec


async def test_list_fills_cache_then_watch_starts_at_list_rv() -> None:
    api = FakeApi()
    api.put(pod("a", 5))
    api.put(pod("b", 7))
    informer, rec = make(api)
    async with running(informer):
        await asyncio.wait_for(informer.wait_synced(), 5)
        await api.next_stream()
        assert api.watch_rvs == ["7"]
        assert sorted(rec.calls) == [("add", "a", "5"), ("add", "b", "7")]
        got = informer.get("default/a")
        assert got is not None and got["kind"] == "Pod" and got["apiVersion"] == "v1"
        assert sorted(o["metadata"]["name"] for o in informer.list()) == ["a", "b"]


async def test_watch_events_update_cache_and_handlers() -> None:
    api = FakeApi()
    api.put(pod("a", 5))
    informer, rec = make(api)
    async with running(informer):
        stream = await api.next_stream()
        rec.calls.clear()
        for event in [("ADDED", pod("b", 8)), ("MODIFIED", pod("a", 9)),
                      ("MODIFIED", pod("a", 9)),  # same version again: not an update
                      ("DELETED", pod("b", 10)), ("DELETED", pod("ghost", 11))]:
            stream.put_nowait(event)
        await settle()
        assert rec.calls == [("add", "b", "8"), ("update", "a", "5", "9"), ("delete", "b")]
        assert informer.keys() == ["default/a"]
        assert informer.resource_version == "11"


async def test_bookmark_moves_resume_point_and_clean_end_rewatches_without_list() -> None:
    api = FakeApi()
    informer, rec = make(api)
    async with running(informer):
        stream = await api.next_stream()
        stream.put_nowait(("BOOKMARK", {"kind": "Pod", "metadata": {"resourceVersion": "42"}}))
        stream.put_nowait(END)  # server timeout: resume, don't re-list
        await api.next_stream()
        assert api.watch_rvs == ["1", "42"]
        assert api.list_calls == 1 and rec.calls == []


async def test_gone_relists_and_emits_the_difference() -> None:
    api = FakeApi()
    for name, rv in (("keep", 2), ("change", 3), ("remove", 4)):
        api.put(pod(name, rv))
    informer, rec = make(api)
    async with running(informer):
        stream = await api.next_stream()
        rec.calls.clear()
        # While our watch was away, history was compacted and things changed.
        del api.objects["remove"]
        api.put(pod("change", 20))
        api.put(pod("new", 21))
        stream.put_nowait(Gone({"code": 410, "reason": "Expired"}, 410))
        await api.next_stream()
        assert api.list_calls == 2
        assert api.watch_rvs == ["4", "21"]
        assert sorted(rec.calls) == [("add", "new", "21"), ("delete", "remove"),
                                     ("update", "change", "3", "20")]
        assert sorted(informer.keys()) == ["default/change", "default/keep", "default/new"]


def managed(obj: JsonDict) -> JsonDict:
    obj["metadata"]["managedFields"] = [{"manager": "kubectl", "operation": "Apply",
                                         "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]
    return obj


async def test_list_is_read_in_pages_of_one_snapshot_and_watched_from_its_rv() -> None:
    api = FakeApi()
    for i in range(5):
        api.put(pod(f"p{i}", 10 + i))
    # Between the pages the collection changes: the later pages still show the snapshot.
    api.before_list = [lambda: None, lambda: api.put(pod("late", 30))]
    informer, rec = make(api, page_size=2)
    async with running(informer):
        await asyncio.wait_for(informer.wait_synced(), 5)
        await api.next_stream()
        assert api.list_requests == [(2, None), (2, "s0/2"), (2, "s0/4")]
        assert sorted(informer.keys()) == [f"default/p{i}" for i in range(5)]
        assert len(rec.calls) == 5
        assert api.watch_rvs == ["14"], "from the first page's revision, not the newest"
        assert informer.list_count == 1


async def test_expired_continue_falls_back_to_one_whole_list() -> None:
    api = FakeApi()
    for i in range(5):
        api.put(pod(f"p{i}", 10 + i))

    def compacted_and_changed() -> None:
        api.pages.expire()
        api.put(pod("late", 30))
    api.before_list = [lambda: None, compacted_and_changed]
    informer, rec = make(api, page_size=2)
    async with running(informer):
        await asyncio.wait_for(informer.wait_synced(), 5)
        await api.next_stream()
        assert api.list_requests == [(2, None), (2, "s0/2"), (None, None)]
        assert sorted(informer.keys()) == sorted(f"default/{n}" for n in api.objects)
        assert ("add", "late", "30") in rec.calls and len(rec.calls) == 6
        assert api.watch_rvs == ["30"], "from the whole list's revision"


async def test_expired_first_page_relists_in_pages() -> None:
    api = FakeApi()
    api.put(pod("a", 3))
    api.list_errors = [Gone({"code": 410, "reason": "Expired"}, 410)]
    informer, _ = make(api, page_size=2)
    async with running(informer):
        await asyncio.wait_for(informer.wait_synced(), 5)
        assert api.list_requests == [(2, None), (2, None)]


async def test_transform_slims_each_page_before_the_next_and_every_watch_event() -> None:
    api = FakeApi()
    for i in range(5):
        api.put(managed(pod(f"p{i}", 10 + i)))
    slimmed: list[str] = []
    seen_at_request: list[int] = []
    api.before_list = [lambda: seen_at_request.append(len(slimmed)) for _ in range(3)]

    def transform(obj: JsonDict) -> JsonDict:
        slimmed.append(obj["metadata"]["name"])
        return strip_managed_fields(obj)

    informer, _ = make(api, page_size=2, transform=transform)
    handled: list[JsonDict] = []
    informer.add_handlers(handled.append, lambda _old, new: handled.append(new))
    async with running(informer):
        stream = await api.next_stream()
        assert seen_at_request == [0, 2, 4], "each page transformed as it arrived"
        stream.put_nowait(("ADDED", managed(pod("w", 20))))
        stream.put_nowait(("MODIFIED", managed(pod("p0", 21))))
        await settle()
        assert slimmed == ["p0", "p1", "p2", "p3", "p4", "w", "p0"], "once each"
        assert len(handled) == 7
        for obj in [*informer.list(), *handled]:
            assert "managedFields" not in obj["metadata"]
            assert obj["kind"] == "Pod" and obj["metadata"]["resourceVersion"]


@pytest.mark.parametrize("obj", [
    pytest.param(managed(pod("a", 1)), id="with-managed-fields"),
    pytest.param(pod("a", 1), id="without"),
    pytest.param({"kind": "Status"}, id="without-metadata"),
])
def test_strip_managed_fields_keeps_everything_else(obj: JsonDict) -> None:
    before = copy.deepcopy(obj)
    before.get("metadata", {}).pop("managedFields", None)
    assert strip_managed_fields(obj) == before


async def test_connection_failure_backs_off_and_resumes_from_last_rv() -> None:
    api = FakeApi()
    informer, _ = make(api)
    async with running(informer):
        stream = await api.next_stream()
        stream.put_nowait(("ADDED", pod("a", 30)))
        stream.put_nowait(ConnectionFailed("api-server restarted"))
        await api.next_stream()
        assert api.watch_rvs == ["1", "30"], "no re-list: the revision is still valid"
        assert api.list_calls == 1


async def test_list_failure_is_retried() -> None:
    api = FakeApi()
    api.list_errors = [ServerError({"message": "etcd down"}, 503)]
    api.put(pod("a", 3))
    informer, rec = make(api)
    assert not informer.has_synced
    async with running(informer):
        await asyncio.wait_for(informer.wait_synced(), 5)
        assert api.list_calls == 2 and rec.calls == [("add", "a", "3")]


async def test_handler_exception_is_logged_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    api = FakeApi()
    informer, rec = make(api)

    def broken(obj: JsonDict) -> None:
        raise KeyError("bug in a controller")

    informer.add_handlers(on_add=broken)
    informer.add_handlers(on_add=rec.on_add)  # registered after the broken one
    async with running(informer) as task:
        stream = await api.next_stream()
        stream.put_nowait(("ADDED", pod("a", 2)))
        await settle()
        assert not task.done()
        assert rec.calls.count(("add", "a", "2")) == 2, "every other handler still ran"
        assert "informer handler failed" in caplog.text and "default/a" in caplog.text


async def test_handlers_added_after_sync_get_the_cache_replayed() -> None:
    api = FakeApi()
    api.put(pod("a", 2))
    informer, _ = make(api)
    async with running(informer):
        await informer.wait_synced()
        late = Recorder()
        informer.add_handlers(on_add=late.on_add)
        assert late.calls == [("add", "a", "2")]


def test_coroutine_handlers_are_refused() -> None:
    informer = Informer(FakeApi(), PODS)

    async def handler(obj: JsonDict) -> None: ...

    with pytest.raises(TypeError, match="plain callables"):
        informer.add_handlers(on_add=handler)


async def test_resync_calls_update_with_same_object() -> None:
    api = FakeApi()
    api.put(pod("a", 2))
    informer, rec = make(api, resync_period=0.05)
    async with running(informer):
        await informer.wait_synced()
        await asyncio.sleep(0.13)
        resyncs = [c for c in rec.calls if c[0] == "update"]
        assert len(resyncs) >= 2 and set(resyncs) == {("update", "a", "2", "2")}


async def test_index_follows_adds_updates_and_deletes() -> None:
    api = FakeApi()
    api.put(pod("a", 2, node="n1"))
    api.put(pod("b", 3, node="n1"))
    informer, _ = make(api)
    informer.add_index("by_node", lambda o: [o["spec"].get("nodeName", "")])
    async with running(informer):
        stream = await api.next_stream()
        assert sorted(o["metadata"]["name"] for o in informer.by_index("by_node", "n1")) == \
            ["a", "b"]
        stream.put_nowait(("MODIFIED", pod("a", 4, node="n2")))
        stream.put_nowait(("DELETED", pod("b", 5, node="n1")))
        await settle()
        assert informer.by_index("by_node", "n1") == []
        assert [o["metadata"]["name"] for o in informer.by_index("by_node", "n2")] == ["a"]
        informer.add_index("by_ns", lambda o: [o["metadata"]["namespace"]])
        assert len(informer.by_index("by_ns", "default")) == 1, "new index covers the cache"


def test_failing_index_function_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    informer = Informer(FakeApi(), PODS)
    informer.add_index("by_node", lambda o: [o["spec"]["nodeName"]])
    informer.replace([pod("a", 1), {"metadata": {"name": "nospec", "namespace": "x"}}], "1")
    assert len(informer.list()) == 2
    assert informer.by_index("by_node", "") == [informer.get("default/a")]
    assert "index function failed" in caplog.text


@pytest.mark.parametrize(("obj", "key", "split"), [
    pytest.param(pod("a", 1, ns="team"), "team/a", ("team", "a"), id="namespaced"),
    pytest.param({"metadata": {"name": "node-1"}}, "node-1", (None, "node-1"), id="cluster"),
])
def test_keys(obj: JsonDict, key: str, split: tuple[str | None, str]) -> None:
    assert object_key(obj) == key
    assert split_key(key) == split


def test_index_removal_survives_in_place_mutation() -> None:
    """A handler that edits a cached object must not leave a stale index entry."""
    cache = Indexer()
    cache.add_index("by_node", lambda o: [o["spec"]["nodeName"]])
    obj = pod("a", 1, node="n1")
    cache.put("default/a", obj)
    obj["spec"]["nodeName"] = "n2"  # mutated behind the cache's back
    cache.remove("default/a")
    assert cache.index_keys("by_node", "n1") == [] and cache.index_keys("by_node", "n2") == []
    with pytest.raises(ValueError, match="already exists"):
        cache.add_index("by_node", lambda o: [])
