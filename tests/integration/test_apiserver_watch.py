"""Watch through a real api-server: order, resume without gaps, selectors, fan-out."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import uuid
from typing import Any

import aiohttp
import pytest
import yaml

from minikube_py.apiserver import etcd_pki
from tests.fixtures.apiserver import ApiServer

CM = "/api/v1/namespaces/default/configmaps"


async def collect(session: aiohttp.ClientSession, path: str, count: int | None = None,
                  **params: str) -> list[dict[str, Any]]:
    """The first `count` events of a watch (None: until the server ends it)."""
    got: list[dict[str, Any]] = []
    async with session.get(path, params={"watch": "true", **params},
                           timeout=aiohttp.ClientTimeout(total=60)) as r:
        assert r.status == 200, await r.text()
        async for line in r.content:
            if line.strip():
                got.append(json.loads(line))
                if len(got) == count:
                    break
    return got


async def create_cm(session: aiohttp.ClientSession, name: str, labels: dict[str, str] | None
                    = None, value: str = "0") -> dict[str, Any]:
    body = {"metadata": {"name": name, "labels": labels or {}}, "data": {"v": value}}
    async with session.post(CM, json=body) as r:
        assert r.status == 201, await r.text()
        created: dict[str, Any] = await r.json()
        return created


async def put_value(session: aiohttp.ClientSession, obj: dict[str, Any], value: str
                    ) -> dict[str, Any]:
    obj = {**obj, "data": {"v": value}}
    async with session.put(f"{CM}/{obj['metadata']['name']}", json=obj) as r:
        assert r.status == 200, await r.text()
        updated: dict[str, Any] = await r.json()
        return updated


async def test_every_change_in_order_then_resume_without_gap(apiserver: ApiServer) -> None:
    name = f"w-{uuid.uuid4().hex[:6]}"
    async with apiserver.session() as s:
        obj = await create_cm(s, name)
        start = obj["metadata"]["resourceVersion"]
        for i in range(1, 41):
            obj = await put_value(s, obj, str(i))
        seen = await collect(s, CM, 15, resourceVersion=start,
                             fieldSelector=f"metadata.name={name}")
        assert [e["type"] for e in seen] == ["MODIFIED"] * 15
        assert [e["object"]["data"]["v"] for e in seen] == [str(i) for i in range(1, 16)]
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in seen]
        assert rvs == sorted(rvs) and len(set(rvs)) == 15
        # Resume from the last version seen: the rest arrives, nothing skipped or repeated.
        rest = await collect(s, CM, 25, resourceVersion=str(rvs[-1]),
                             fieldSelector=f"metadata.name={name}")
        assert [e["object"]["data"]["v"] for e in rest] == [str(i) for i in range(16, 41)]


async def test_unset_version_sends_current_objects_as_added(apiserver: ApiServer) -> None:
    label = uuid.uuid4().hex[:8]
    async with apiserver.session() as s:
        for i in range(3):
            await create_cm(s, f"a{i}-{label}", {"batch": label})
        got: list[dict[str, Any]] = []
        async with s.get(CM, params={"watch": "1", "labelSelector": f"batch={label}"}) as r:
            async for line in r.content:
                got.append(json.loads(line))
                if len(got) == 3:
                    await create_cm(s, f"a3-{label}", {"batch": label})
                if len(got) == 4:
                    break
    assert [e["type"] for e in got] == ["ADDED"] * 4
    assert sorted(e["object"]["metadata"]["name"] for e in got) == \
        sorted(f"a{i}-{label}" for i in range(4))


async def test_a_watch_of_one_object_starts_with_that_object_only(apiserver: ApiServer) -> None:
    label = uuid.uuid4().hex[:8]
    async with apiserver.session() as s:
        for name in ("one", "other"):
            await create_cm(s, f"{name}-{label}")
        got = await collect(s, f"{CM}/one-{label}", timeoutSeconds="1")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in got] == [
        ("ADDED", f"one-{label}")]


async def test_selector_transitions_are_added_and_deleted(apiserver: ApiServer) -> None:
    label = uuid.uuid4().hex[:8]
    async with apiserver.session() as s:
        obj = await create_cm(s, f"sel-{label}", {"k": label})
        rv = obj["metadata"]["resourceVersion"]
        async with s.put(f"{CM}/{obj['metadata']['name']}",
                         json={**obj, "metadata": {**obj["metadata"], "labels": {}}}) as r:
            moved_out = await r.json()
        async with s.put(f"{CM}/{obj['metadata']['name']}",
                         json={**moved_out, "metadata": {**moved_out["metadata"],
                                                         "labels": {"k": label}}}) as r:
            assert r.status == 200
        async with s.delete(f"{CM}/{obj['metadata']['name']}") as r:
            assert r.status == 200
        got = await collect(s, CM, 3, resourceVersion=rv, labelSelector=f"k={label}")
    assert [e["type"] for e in got] == ["DELETED", "ADDED", "DELETED"]


async def test_timeout_ends_with_bookmark(apiserver: ApiServer) -> None:
    async with apiserver.session() as s:
        got = await collect(s, CM, resourceVersion="1", timeoutSeconds="1",
                            allowWatchBookmarks="true", labelSelector="nothing=matches")
    assert got and got[-1]["type"] == "BOOKMARK"
    assert int(got[-1]["object"]["metadata"]["resourceVersion"]) >= 1


async def test_watch_list_sends_state_then_the_initial_events_end_bookmark(
        apiserver: ApiServer) -> None:
    """client-go >= 1.35's reflector (Helm 4's --wait): sendInitialEvents=true gives the
    current objects whatever resourceVersion says, then the annotated BOOKMARK at the
    state's revision, then changes after it."""
    label = uuid.uuid4().hex[:8]
    async with apiserver.session() as s:
        first = await create_cm(s, f"wl0-{label}", {"wl": label})
        second = await create_cm(s, f"wl1-{label}", {"wl": label})
        got: list[dict[str, Any]] = []
        async with s.get(CM, params={
                "watch": "1", "sendInitialEvents": "true", "allowWatchBookmarks": "true",
                "resourceVersionMatch": "NotOlderThan", "labelSelector": f"wl={label}",
                "resourceVersion": first["metadata"]["resourceVersion"]}) as r:
            assert r.status == 200, await r.text()
            async for line in r.content:
                got.append(json.loads(line))
                if len(got) == 3:
                    await put_value(s, second, "changed")
                if len(got) == 4:
                    break
    assert [e["type"] for e in got] == ["ADDED", "ADDED", "BOOKMARK", "MODIFIED"]
    assert {e["object"]["metadata"]["name"] for e in got[:2]} == {f"wl0-{label}",
                                                                 f"wl1-{label}"}
    end = got[2]["object"]["metadata"]
    assert end["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(end["resourceVersion"]) >= int(second["metadata"]["resourceVersion"])
    assert got[3]["object"]["data"] == {"v": "changed"}


async def test_watch_from_now_without_initial_events(apiserver: ApiServer) -> None:
    label = uuid.uuid4().hex[:8]
    async with apiserver.session() as s:
        await create_cm(s, f"old-{label}", {"now": label})
        got = await collect(s, CM, sendInitialEvents="false", allowWatchBookmarks="true",
                            resourceVersionMatch="NotOlderThan", timeoutSeconds="1",
                            labelSelector=f"now={label}")
    assert [e["type"] for e in got] == ["BOOKMARK"]


@pytest.mark.parametrize("params,message", [
    pytest.param({"watch": "1", "sendInitialEvents": "true"},
                 "resourceVersionMatch: Forbidden: sendInitialEvents requires setting "
                 "resourceVersionMatch to NotOlderThan", id="watch-list-without-match"),
    pytest.param({"watch": "1", "resourceVersionMatch": "NotOlderThan"},
                 "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch "
                 "unless sendInitialEvents is provided", id="watch-match-alone"),
    pytest.param({"sendInitialEvents": "true"},
                 "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list",
                 id="list-with-initial-events"),
    pytest.param({"resourceVersionMatch": "Exact"},
                 "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless "
                 "resourceVersion is provided", id="list-match-without-version"),
])
def test_bad_list_options_are_invalid(apiserver: ApiServer, params: dict[str, str],
                                      message: str) -> None:
    status, body = apiserver.request("GET", f"{CM}?{urllib.parse.urlencode(params)}")
    assert status == 422, body
    assert isinstance(body, dict) and body["reason"] == "Invalid"
    assert body["message"] == f'ListOptions.meta.k8s.io "" is invalid: {message}'
    assert body["details"]["kind"] == "ListOptions"


def _etcd_watchers(apiserver: ApiServer) -> int:
    """etcd's own count of open watchers (from its /metrics)."""
    import urllib.request
    conf = yaml.safe_load((apiserver.data_dir / "etcd" / "etcd.conf.yaml").read_text())
    tls = etcd_pki.paths(apiserver.data_dir / "pki").client  # etcd wants our client cert
    with urllib.request.urlopen(conf["listen-client-urls"] + "/metrics", timeout=5,
                                context=tls.ssl_context()) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("etcd_debugging_mvcc_watcher_total "):
                return int(float(line.split()[1]))
    raise AssertionError("etcd reported no watcher gauge")


async def test_many_watchers_share_one_etcd_watch(apiserver: ApiServer) -> None:
    name = f"fan-{uuid.uuid4().hex[:6]}"
    async with apiserver.session() as s:
        obj = await create_cm(s, name)
        rv = obj["metadata"]["resourceVersion"]
        before = _etcd_watchers(apiserver)

        async def one() -> str:
            [ev] = await collect(s, CM, 1, resourceVersion=rv,
                                 fieldSelector=f"metadata.name={name}")
            return str(ev["object"]["data"]["v"])
        watchers = [asyncio.create_task(one()) for _ in range(60)]
        await asyncio.sleep(1.0)
        during = _etcd_watchers(apiserver)
        await put_value(s, obj, "fan")
        results = await asyncio.wait_for(asyncio.gather(*watchers), 30)
    assert results == ["fan"] * 60
    assert during - before <= 2, (before, during)


async def test_bookmarks_advance_on_a_quiet_kind(apiserver_factory: Any) -> None:
    server = apiserver_factory(watch_progress_interval=0.3)
    async with server.session() as s, s.get(CM, params={"watch": "1", "resourceVersion": "0",
                                 "allowWatchBookmarks": "true", "timeoutSeconds": "3",
                                 "labelSelector": "nothing=here"}) as r:
        # Only Secrets change while the configmaps watch is open.
        await asyncio.sleep(0.5)
        async with s.post("/api/v1/namespaces/default/secrets",
                          json={"metadata": {"name": "elsewhere"}}) as w:
            written = int((await w.json())["metadata"]["resourceVersion"])
        events = [json.loads(line) async for line in r.content]
    assert events[-1]["type"] == "BOOKMARK"
    assert int(events[-1]["object"]["metadata"]["resourceVersion"]) >= written
