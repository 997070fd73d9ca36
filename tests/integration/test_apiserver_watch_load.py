"""A watch on one object while everything around it is written: no change lost or reordered.

The shape of `kubectl get deploy web -w` (a fieldSelector watch on the collection, from
resourceVersion 0 or from the object's own version, as a Table or as objects) while that
Deployment's status is written again and again and other Deployments in its namespace
change concurrently: every resourceVersion a status write returned must arrive, in order.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aiohttp
import pytest

from tests.fixtures.apiserver import ApiServer

DEPLOY = "/apis/apps/v1/namespaces/default/deployments"
MERGE = {"Content-Type": "application/merge-patch+json"}
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
STATUS_WRITES = 120
OTHERS, OTHER_WRITES = 4, 60


def deployment(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "i"}]}}}}


async def create(s: aiohttp.ClientSession, name: str) -> str:
    async with s.post(DEPLOY, json=deployment(name)) as r:
        assert r.status == 201, await r.text()
        return str((await r.json())["metadata"]["resourceVersion"])


async def patch(s: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> int:
    async with s.patch(path, data=json.dumps(body), headers=MERGE) as r:
        assert r.status == 200, await r.text()
        return int((await r.json())["metadata"]["resourceVersion"])


def event_version(event: dict[str, Any]) -> tuple[str, int]:
    """(name, resourceVersion) of an object or Table watch event."""
    obj = event["object"]
    if obj.get("kind") == "Table":
        obj = obj["rows"][0]["object"]
    return obj["metadata"]["name"], int(obj["metadata"]["resourceVersion"])


@pytest.mark.parametrize(("start", "accept"), [
    pytest.param("0", TABLE, id="from-0-as-table-like-kubectl-get-w"),
    pytest.param("object", "application/json", id="from-the-objects-version"),
])
async def test_a_field_selector_watch_gets_every_status_write_in_order(
        apiserver: ApiServer, start: str, accept: str) -> None:
    tag = uuid.uuid4().hex[:6]
    target = f"web-{tag}"
    others = [f"other{i}-{tag}" for i in range(OTHERS)]
    async with apiserver.session() as s:
        created = await create(s, target)
        for name in others:
            await create(s, name)
        seen: list[int] = []
        arrived = asyncio.Event()

        async def watch(r: aiohttp.ClientResponse) -> None:
            async for line in r.content:
                name, rv = event_version(json.loads(line))
                assert name == target, line
                seen.append(rv)
                arrived.set()

        async def status_writes() -> list[int]:
            return [await patch(s, f"{DEPLOY}/{target}/status",
                                {"status": {"observedGeneration": i, "replicas": i % 3}})
                    for i in range(1, STATUS_WRITES + 1)]

        async def other_writes(name: str) -> None:
            for i in range(OTHER_WRITES):
                await patch(s, f"{DEPLOY}/{name}/status" if i % 2 else f"{DEPLOY}/{name}",
                            {"status": {"observedGeneration": i}} if i % 2 else
                            {"metadata": {"annotations": {"n": str(i)}}})

        params = {"watch": "true", "fieldSelector": f"metadata.name={target}",
                  "resourceVersion": created if start == "object" else "0"}
        async with s.get(DEPLOY, params=params, headers={"Accept": accept},
                         timeout=aiohttp.ClientTimeout(total=120)) as r:
            assert r.status == 200, await r.text()
            reader = asyncio.create_task(watch(r))
            try:
                if start == "0":  # the current object first, as ADDED
                    await asyncio.wait_for(arrived.wait(), 10)
                    assert seen == [int(created)]
                    seen.clear()
                concurrent = asyncio.gather(*(other_writes(n) for n in others))
                written = await status_writes()
                await concurrent
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 10
                while (not seen or seen[-1] < written[-1]) and loop.time() < deadline \
                        and not reader.done():
                    await asyncio.sleep(0.05)
            finally:
                reader.cancel()
    missing = sorted(set(written) - set(seen))
    assert seen == written, f"missing {missing[:10]} of {len(written)}; got {len(seen)}"
