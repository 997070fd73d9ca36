"""Optimistic concurrency and compaction through a real api-server."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable

import aiohttp

from tests.fixtures.apiserver import ApiServer

CM = "/api/v1/namespaces/default/configmaps"


async def test_concurrent_read_modify_write_loses_no_update(apiserver: ApiServer) -> None:
    name = f"counter-{uuid.uuid4().hex[:6]}"
    loops, increments = 20, 10
    conflicts = 0
    async with apiserver.session() as s:
        async with s.post(CM, json={"metadata": {"name": name}, "data": {"n": "0"}}) as r:
            assert r.status == 201

        async def loop() -> None:
            nonlocal conflicts
            done = 0
            while done < increments:
                async with s.get(f"{CM}/{name}") as r:
                    obj = await r.json()
                obj["data"]["n"] = str(int(obj["data"]["n"]) + 1)
                async with s.put(f"{CM}/{name}", json=obj) as r:
                    if r.status == 409:
                        conflicts += 1
                        continue
                    assert r.status == 200, await r.text()
                done += 1
        await asyncio.gather(*(loop() for _ in range(loops)))
        async with s.get(f"{CM}/{name}") as r:
            final = await r.json()
    assert final["data"]["n"] == str(loops * increments)
    assert conflicts > 0, "20 writers on one object never conflicted: CAS is not exercised"


async def test_compacted_revision_is_410(apiserver_factory: Callable[..., ApiServer]) -> None:
    server = apiserver_factory(etcd_compaction_interval=0.5)
    name = f"old-{uuid.uuid4().hex[:6]}"
    async with server.session() as s:
        async with s.post(CM, json={"metadata": {"name": name}, "data": {"v": "0"}}) as r:
            old_rv = (await r.json())["metadata"]["resourceVersion"]
        async with s.post(CM, json={"metadata": {"name": name + "-b"}}) as r:
            assert r.status == 201
        async with s.get(CM, params={"limit": "1"}) as r:
            token = (await r.json())["metadata"]["continue"]
        for i in range(5):
            async with s.get(f"{CM}/{name}") as r:
                obj = await r.json()
            obj["data"]["v"] = str(i)
            async with s.put(f"{CM}/{name}", json=obj) as r:
                assert r.status == 200
        deadline = asyncio.get_running_loop().time() + 20
        while True:  # two compaction ticks (0.5 s each, later on a loaded machine)
            async with s.get(CM, params={"watch": "1", "resourceVersion": old_rv}) as r:
                assert r.status == 200
                first = json.loads(await r.content.readline())
                rest = await r.content.read() if first["type"] == "ERROR" else b""
            if first["type"] == "ERROR" or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.5)
        assert first["type"] == "ERROR"
        assert first["object"]["code"] == 410 and first["object"]["reason"] == "Expired"
        assert first["object"]["message"].startswith(f"too old resource version: {old_rv} (")
        assert rest == b""  # the watch ends there, its chunked body closed cleanly
        async with s.get(CM, params={"limit": "1", "continue": token}) as r:
            assert r.status == 410
            assert (await r.json())["reason"] == "Expired"
        # A fresh watch from "now" still works after compaction.
        async with s.get(CM, params={"watch": "1", "fieldSelector": f"metadata.name={name}"},
                         timeout=aiohttp.ClientTimeout(total=10)) as r:
            ev = json.loads(await r.content.readline())
        assert ev["type"] == "ADDED" and ev["object"]["data"]["v"] == "4"


async def test_paging_is_consistent_across_writes(apiserver: ApiServer) -> None:
    label = uuid.uuid4().hex[:8]
    async with apiserver.session() as s:
        for i in range(7):
            async with s.post(CM, json={"metadata": {"name": f"p{i}-{label}",
                                                     "labels": {"page": label}}}) as r:
                assert r.status == 201
        params = {"limit": "3", "labelSelector": f"page={label}"}
        async with s.get(CM, params=params) as r:
            first = await r.json()
        # Written after the first page: must not appear in later pages of the same list.
        async with s.post(CM, json={"metadata": {"name": f"p0a-{label}",
                                                 "labels": {"page": label}}}) as r:
            assert r.status == 201
        names = [i["metadata"]["name"] for i in first["items"]]
        token = first["metadata"]["continue"]
        while token:
            async with s.get(CM, params={**params, "continue": token}) as r:
                page = await r.json()
            assert page["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
            names += [i["metadata"]["name"] for i in page["items"]]
            token = page["metadata"].get("continue")
    assert names == sorted(f"p{i}-{label}" for i in range(7))
