"""EventRecorder against a real api-server: repeats are counted on one Event,
different messages are separate Events, failures never reach the caller."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from minikube_py.api.resources import CONFIGMAPS, EVENTS
from minikube_py.client import ApiClient, EventRecorder

JsonDict = dict[str, Any]


@pytest.fixture
async def client(apiserver: Any) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as c:
        yield c


@pytest.fixture
async def subject(client: ApiClient) -> AsyncIterator[JsonDict]:
    name = f"evt-{uuid.uuid4().hex[:8]}"
    obj = await client.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                           "metadata": {"name": name, "namespace": "default"}})
    obj.setdefault("apiVersion", "v1")
    obj.setdefault("kind", "ConfigMap")
    yield obj
    await client.delete(CONFIGMAPS, name, "default")


async def events_for(client: ApiClient, obj: JsonDict) -> list[JsonDict]:
    listed = await client.list(EVENTS, "default",
                               field_selector=f"involvedObject.name={obj['metadata']['name']}")
    return sorted(listed["items"], key=lambda e: e["message"])


async def test_repeats_are_counted_on_one_event(client: ApiClient, subject: JsonDict) -> None:
    rec = EventRecorder(client, "test-controller", host="node-1")
    for _ in range(3):
        await rec.event(subject, "Normal", "Synced", "all good")
    await rec.event(subject, "Warning", "Failed", "something broke")

    counted, other = await events_for(client, subject)
    assert (counted["message"], counted["count"], counted["type"]) == ("all good", 3, "Normal")
    assert counted["reason"] == "Synced"
    assert counted["source"] == {"component": "test-controller", "host": "node-1"}
    assert counted["involvedObject"]["uid"] == subject["metadata"]["uid"]
    assert counted["involvedObject"]["kind"] == "ConfigMap"
    assert counted["firstTimestamp"] <= counted["lastTimestamp"]
    assert (other["message"], other["count"], other["type"]) == ("something broke", 1, "Warning")


async def test_concurrent_identical_events_make_one(client: ApiClient, subject: JsonDict) -> None:
    rec = EventRecorder(client, "test-controller")
    await asyncio.gather(*(rec.event(subject, "Normal", "Burst", "same") for _ in range(10)))
    (event,) = await events_for(client, subject)
    assert event["count"] == 10


async def test_deleted_event_is_recreated(client: ApiClient, subject: JsonDict) -> None:
    rec = EventRecorder(client, "test-controller")
    await rec.event(subject, "Normal", "Again", "msg")
    (first,) = await events_for(client, subject)
    await client.delete(EVENTS, first["metadata"]["name"], "default")
    await rec.event(subject, "Normal", "Again", "msg")
    (second,) = await events_for(client, subject)
    assert second["count"] == 1 and second["metadata"]["name"] != first["metadata"]["name"]


async def test_failures_are_logged_never_raised(client: ApiClient,
                                                caplog: pytest.LogCaptureFixture) -> None:
    rec = EventRecorder(client, "test-controller")
    orphan = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "x", "namespace": f"missing-{uuid.uuid4().hex[:8]}"}}
    await rec.event(orphan, "Warning", "Nowhere", "namespace does not exist")
    assert "cannot record event" in caplog.text
